//! The GGUF block formats, byte for byte as llama.cpp writes them, with
//! quantize / dequantize for each. Weights stay in these formats in memory;
//! the matrix kernels in `backend::cpu` read them directly.

pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8a;

pub use q4_0::BlockQ4_0;
pub use q4_1::BlockQ4_1;
pub use q4_k::BlockQ4K;
pub use q6_k::BlockQ6K;
pub use q8_0::BlockQ8_0;
pub use q8a::BlockQ8A;

use crate::error::{Error, Result};
use crate::tensor::DType;
use half::{bf16, f16};

/// Convert `src` (bytes of `dtype`) into f32 values in `dst`.
pub fn dequantize(dtype: DType, src: &[u8], dst: &mut [f32]) -> Result<()> {
    check_sizes(dtype, src.len(), dst.len(), "dequantize")?;
    match dtype {
        DType::F32 => dst.copy_from_slice(cast(src)?),
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
        DType::Q8_0 => q8_0::dequantize_row(cast(src)?, dst),
        DType::Q4_0 => q4_0::dequantize_row(cast(src)?, dst),
        DType::Q4_1 => q4_1::dequantize_row(cast(src)?, dst),
        DType::Q4_K => q4_k::dequantize_row(cast(src)?, dst),
        DType::Q6_K => q6_k::dequantize_row(cast(src)?, dst),
    }
    Ok(())
}

/// Convert f32 values in `src` into `dtype`'s bytes in `dst`.
pub fn quantize(dtype: DType, src: &[f32], dst: &mut [u8]) -> Result<()> {
    check_sizes(dtype, dst.len(), src.len(), "quantize")?;
    match dtype {
        DType::F32 => dst.copy_from_slice(bytemuck::cast_slice(src)),
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
        DType::Q8_0 => q8_0::quantize_row(src, cast_mut(dst)?),
        DType::Q4_0 => q4_0::quantize_row(src, cast_mut(dst)?),
        DType::Q4_1 => q4_1::quantize_row(src, cast_mut(dst)?),
        DType::Q4_K => q4_k::quantize_row(src, cast_mut(dst)?),
        DType::Q6_K => q6_k::quantize_row(src, cast_mut(dst)?),
    }
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
        assert_eq!(size_of::<BlockQ8_0>(), DType::Q8_0.block_bytes());
        assert_eq!(size_of::<BlockQ4_0>(), DType::Q4_0.block_bytes());
        assert_eq!(size_of::<BlockQ4_1>(), DType::Q4_1.block_bytes());
        assert_eq!(size_of::<BlockQ4K>(), DType::Q4_K.block_bytes());
        assert_eq!(size_of::<BlockQ6K>(), DType::Q6_K.block_bytes());
        assert_eq!(size_of::<BlockQ8A>(), 40);
    }
}
