//! The GGUF block formats, byte for byte as llama.cpp writes them, with
//! quantize / dequantize for each. Weights stay in these formats in memory;
//! the matrix kernels in `backend::cpu` read them directly.

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
        _ => {
            return Err(Error::DType {
                op: "dequantize".into(),
                dtype: dtype.to_string(),
            })
        }
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
        _ => {
            return Err(Error::DType {
                op: "quantize".into(),
                dtype: dtype.to_string(),
            })
        }
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
