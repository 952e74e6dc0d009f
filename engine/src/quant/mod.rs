//! The GGUF block formats, byte for byte as llama.cpp writes them, with
//! quantize / dequantize for each. Weights stay in these formats in memory;
//! the matrix kernels in `backend::cpu` read them directly.

pub mod fit;
pub mod iq4_nl;
pub mod iq4_xs;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8a;
pub mod q8k;
pub mod superblock;

pub use iq4_nl::BlockIQ4NL;
pub use iq4_xs::BlockIQ4XS;
pub use q2_k::BlockQ2K;
pub use q3_k::BlockQ3K;
pub use q4_0::BlockQ4_0;
pub use q4_1::BlockQ4_1;
pub use q4_k::BlockQ4K;
pub use q5_0::BlockQ5_0;
pub use q5_1::BlockQ5_1;
pub use q5_k::BlockQ5K;
pub use q6_k::BlockQ6K;
pub use q8_0::BlockQ8_0;
pub use q8a::BlockQ8A;
pub use q8k::BlockQ8K;
pub use superblock::{SuperBlock, Unpacked};

use crate::error::{Error, Result};
use crate::tensor::DType;
use half::{bf16, f16};

/// One GGUF block format: its type and its conversions to and from f32,
/// as an entry of ggml's per-type table holds them. The matrix kernels for
/// each format hang off the same types (`backend::cpu::quant_dot`).
pub trait Block: bytemuck::Pod + Send + Sync {
    const DTYPE: DType;
    fn dequantize_row(blocks: &[Self], out: &mut [f32]);
    fn quantize_row(x: &[f32], out: &mut [Self]);
}

macro_rules! blocks {
    ($($block:ty => $dtype:ident, $module:ident;)*) => {
        $(impl Block for $block {
            const DTYPE: DType = DType::$dtype;
            fn dequantize_row(blocks: &[Self], out: &mut [f32]) {
                $module::dequantize_row(blocks, out)
            }
            fn quantize_row(x: &[f32], out: &mut [Self]) {
                $module::quantize_row(x, out)
            }
        })*
    };
}

blocks! {
    BlockQ8_0 => Q8_0, q8_0;
    BlockQ4_0 => Q4_0, q4_0;
    BlockQ4_1 => Q4_1, q4_1;
    BlockQ5_0 => Q5_0, q5_0;
    BlockQ5_1 => Q5_1, q5_1;
    BlockQ2K => Q2_K, q2_k;
    BlockQ3K => Q3_K, q3_k;
    BlockQ4K => Q4_K, q4_k;
    BlockQ5K => Q5_K, q5_k;
    BlockQ6K => Q6_K, q6_k;
    BlockIQ4NL => IQ4_NL, iq4_nl;
    BlockIQ4XS => IQ4_XS, iq4_xs;
}

/// `$body` with the type alias `$B` naming the block type of the quantized
/// `$dtype`; `$plain` for the plain float types. The one place that maps a
/// runtime type to its block type: every per-format dispatch goes through it.
macro_rules! with_block {
    ($dtype:expr, $B:ident => $body:expr, plain => $plain:expr) => {{
        match $dtype {
            $crate::tensor::DType::F32
            | $crate::tensor::DType::F16
            | $crate::tensor::DType::BF16 => $plain,
            $crate::tensor::DType::Q8_0 => {
                type $B = $crate::quant::BlockQ8_0;
                $body
            }
            $crate::tensor::DType::Q4_0 => {
                type $B = $crate::quant::BlockQ4_0;
                $body
            }
            $crate::tensor::DType::Q4_1 => {
                type $B = $crate::quant::BlockQ4_1;
                $body
            }
            $crate::tensor::DType::Q5_0 => {
                type $B = $crate::quant::BlockQ5_0;
                $body
            }
            $crate::tensor::DType::Q5_1 => {
                type $B = $crate::quant::BlockQ5_1;
                $body
            }
            $crate::tensor::DType::Q2_K => {
                type $B = $crate::quant::BlockQ2K;
                $body
            }
            $crate::tensor::DType::Q3_K => {
                type $B = $crate::quant::BlockQ3K;
                $body
            }
            $crate::tensor::DType::Q4_K => {
                type $B = $crate::quant::BlockQ4K;
                $body
            }
            $crate::tensor::DType::Q5_K => {
                type $B = $crate::quant::BlockQ5K;
                $body
            }
            $crate::tensor::DType::Q6_K => {
                type $B = $crate::quant::BlockQ6K;
                $body
            }
            $crate::tensor::DType::IQ4_NL => {
                type $B = $crate::quant::BlockIQ4NL;
                $body
            }
            $crate::tensor::DType::IQ4_XS => {
                type $B = $crate::quant::BlockIQ4XS;
                $body
            }
        }
    }};
}
pub(crate) use with_block;

/// Convert `src` (bytes of `dtype`) into f32 values in `dst`.
pub fn dequantize(dtype: DType, src: &[u8], dst: &mut [f32]) -> Result<()> {
    check_sizes(dtype, src.len(), dst.len(), "dequantize")?;
    with_block!(dtype, B => B::dequantize_row(cast(src)?, dst), plain => match dtype {
        DType::F16 => {
            for (d, s) in dst.iter_mut().zip(cast::<f16>(src)?) {
                *d = s.to_f32();
            }
        }
        DType::BF16 => {
            for (d, s) in dst.iter_mut().zip(cast::<bf16>(src)?) {
                *d = s.to_f32();
            }
        }
        _ => dst.copy_from_slice(cast(src)?),
    });
    Ok(())
}

/// Convert f32 values in `src` into `dtype`'s bytes in `dst`.
pub fn quantize(dtype: DType, src: &[f32], dst: &mut [u8]) -> Result<()> {
    check_sizes(dtype, dst.len(), src.len(), "quantize")?;
    with_block!(dtype, B => B::quantize_row(src, cast_mut(dst)?), plain => match dtype {
        DType::F16 => {
            for (d, s) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&f16::from_f32(*s).to_le_bytes());
            }
        }
        DType::BF16 => {
            for (d, s) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&bf16::from_f32(*s).to_le_bytes());
            }
        }
        _ => dst.copy_from_slice(bytemuck::cast_slice(src)),
    });
    Ok(())
}

fn check_sizes(dtype: DType, bytes: usize, elems: usize, op: &str) -> Result<()> {
    match dtype.bytes_for(elems) {
        Some(n) if n == bytes => Ok(()),
        _ => Err(Error::Invalid(format!(
            "{op} {dtype}: {elems} elements need {} bytes, buffer has {bytes}",
            dtype
                .bytes_for(elems)
                .map_or("a whole number of blocks and".to_string(), |n| n
                    .to_string())
        ))),
    }
}

/// View bytes as a slice of `T` (plain floats or blocks), refusing misaligned
/// or ragged input instead of panicking.
pub fn cast<T: bytemuck::Pod>(bytes: &[u8]) -> Result<&[T]> {
    bytemuck::try_cast_slice(bytes).map_err(|e| {
        Error::Invalid(format!(
            "{} bytes cannot be read as {}: {e}",
            bytes.len(),
            std::any::type_name::<T>()
        ))
    })
}

/// Mutable form of [`cast`].
pub fn cast_mut<T: bytemuck::Pod>(bytes: &mut [u8]) -> Result<&mut [T]> {
    let len = bytes.len();
    bytemuck::try_cast_slice_mut(bytes).map_err(|e| {
        Error::Invalid(format!(
            "{len} bytes cannot be written as {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// f16 to f32 in a few integer instructions. Kernels use this rather than
/// `half`'s conversion, which checks the CPU's features on every call.
/// Exact for every f16, subnormals, infinities and NaNs included.
#[inline(always)]
pub fn f16_to_f32(h: f16) -> f32 {
    let bits = h.to_bits() as u32;
    let sign = (bits & 0x8000) << 16;
    let magnitude = (bits & 0x7FFF) << 13;
    // Moving exponent and mantissa into f32 position and multiplying by
    // 2^112 re-biases the exponent (15 -> 127); subnormals come out right.
    let value = if bits & 0x7C00 == 0x7C00 {
        f32::from_bits(magnitude | 0x7F80_0000) // inf or NaN
    } else {
        f32::from_bits(magnitude) * f32::from_bits(0x7780_0000)
    };
    f32::from_bits(value.to_bits() | sign)
}

/// Round half away from zero, as C's `roundf` and llama.cpp do.
#[inline(always)]
pub(crate) fn round_away(v: f32) -> f32 {
    v.round()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_is_exact_for_every_value() {
        for bits in 0..=u16::MAX {
            let h = f16::from_bits(bits);
            let (ours, theirs) = (f16_to_f32(h), h.to_f32());
            assert!(
                ours.to_bits() == theirs.to_bits() || (ours.is_nan() && theirs.is_nan()),
                "{bits:#06x}: {ours} vs {theirs}"
            );
        }
    }

    #[test]
    fn k_quant_scales_pack_and_unpack() {
        let sc: [u8; 8] = [0, 63, 17, 42, 5, 63, 33, 1];
        let mn: [u8; 8] = [63, 0, 9, 48, 60, 2, 31, 32];
        let packed = q4_k::pack_scales(&sc, &mn);
        for j in 0..8 {
            assert_eq!(q4_k::scale_min(&packed, j), (sc[j], mn[j]));
        }
    }

    #[test]
    fn block_sizes_match_gguf() {
        fn size<B: Block>() {
            assert_eq!(size_of::<B>(), B::DTYPE.block_bytes(), "{}", B::DTYPE);
        }
        size::<BlockQ5_0>();
        size::<BlockQ5_1>();
        size::<BlockQ2K>();
        size::<BlockQ3K>();
        size::<BlockQ5K>();
        size::<BlockIQ4NL>();
        size::<BlockIQ4XS>();
        assert_eq!(size_of::<BlockQ8_0>(), DType::Q8_0.block_bytes());
        assert_eq!(size_of::<BlockQ4_0>(), DType::Q4_0.block_bytes());
        assert_eq!(size_of::<BlockQ4_1>(), DType::Q4_1.block_bytes());
        assert_eq!(size_of::<BlockQ4K>(), DType::Q4_K.block_bytes());
        assert_eq!(size_of::<BlockQ6K>(), DType::Q6_K.block_bytes());
        assert_eq!(size_of::<BlockQ8A>(), 44);
    }
}
