//! Weight matrices on the GPU, kept in their quantized formats.
//!
//! The file's blocks interleave scales and quants at byte offsets that are
//! not multiples of four; shaders read words, so on upload each block is
//! split into its quants (one buffer) and its scales (another). Nothing is
//! converted: the GPU holds exactly the bytes of the file, rearranged.

use super::device::Gpu;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

/// A `[rows, cols]` weight matrix on the GPU. Clones share its buffers.
#[derive(Clone)]
pub struct GpuWeight {
    pub dtype: DType,
    pub rows: usize,
    pub cols: usize,
    pub quants: wgpu::Buffer,
    /// The per-block scales (and minimums); none for f32 and f16.
    pub scales: Option<wgpu::Buffer>,
}

/// The formats the GPU kernels read.
pub const GPU_FORMATS: [DType; 14] = [
    DType::F32,
    DType::F16,
    DType::Q8_0,
    DType::Q4_0,
    DType::Q4_1,
    DType::Q5_0,
    DType::Q5_1,
    DType::Q2_K,
    DType::Q3_K,
    DType::Q4_K,
    DType::Q5_K,
    DType::Q6_K,
    DType::IQ4_NL,
    DType::IQ4_XS,
];

impl GpuWeight {
    pub fn upload(gpu: &Gpu, name: &str, t: &Tensor) -> Result<GpuWeight> {
        let (rows, cols) = match t.dims() {
            [rows, cols] => (*rows, *cols),
            [cols] => (1, *cols),
            dims => {
                return Err(Error::Invalid(format!(
                    "{name}: a GPU weight must be a matrix, not {dims:?}"
                )))
            }
        };
        let dtype = t.dtype();
        if !GPU_FORMATS.contains(&dtype) {
            let names: Vec<&str> = GPU_FORMATS.iter().map(|d| d.name()).collect();
            return Err(Error::Invalid(format!(
                "{name}: the GPU backend reads {} weights, not {}",
                names.join(", "),
                dtype.name()
            )));
        }
        if !cols.is_multiple_of(32) {
            return Err(Error::Invalid(format!(
                "{name}: the GPU kernels read rows in blocks of 32; {cols} columns is not a multiple"
            )));
        }
        let t = t.contiguous()?;
        let bytes = t.as_bytes()?;
        let (quants, scales) = split_blocks(dtype, bytes);
        Ok(GpuWeight {
            dtype,
            rows,
            cols,
            quants: gpu.upload(name, &quants)?,
            scales: match scales {
                Some(s) => Some(gpu.upload(&format!("{name} scales"), &s)?),
                None => None,
            },
        })
    }

    /// The shader file of this weight's format.
    pub fn format(&self) -> &'static str {
        match self.dtype {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::Q8_0 => "q8_0",
            DType::Q4_0 => "q4_0",
            DType::Q4_1 => "q4_1",
            DType::Q5_0 => "q5_0",
            DType::Q5_1 => "q5_1",
            DType::Q2_K => "q2_k",
            DType::Q3_K => "q3_k",
            DType::Q4_K => "q4_k",
            DType::Q5_K => "q5_k",
            DType::Q6_K => "q6_k",
            DType::IQ4_NL => "iq4_nl",
            DType::IQ4_XS => "iq4_xs",
            // upload() admits only GPU_FORMATS.
            other => unreachable!("{} is not a GPU format", other.name()),
        }
    }

    /// Bytes the GPU reads for one pass over the matrix.
    pub fn bytes(&self) -> u64 {
        self.dtype.bytes_for(self.rows * self.cols).unwrap_or(0) as u64
    }
}

/// Splits a quantized tensor's blocks into (quants, scales); plain floats
/// and the formats whose blocks are word-aligned (Q5_1, Q2_K, Q4_K, Q5_K,
/// IQ4_XS) pass through whole.
fn split_blocks(dtype: DType, bytes: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    // (bytes of scales at the start of a block) for the simple formats.
    let head = match dtype {
        DType::Q8_0 | DType::Q4_0 | DType::Q5_0 | DType::IQ4_NL => 2,
        DType::Q4_1 => 4,
        DType::Q6_K => return split_tail(dtype, bytes, 192),
        DType::Q3_K => return split_tail(dtype, bytes, 96),
        _ => return (bytes.to_vec(), None),
    };
    let block = dtype.block_bytes();
    let n = bytes.len() / block;
    let mut quants = Vec::with_capacity(n * (block - head));
    let mut scales = Vec::with_capacity(n * head + 2);
    for b in bytes.chunks_exact(block) {
        scales.extend_from_slice(&b[..head]);
        quants.extend_from_slice(&b[head..]);
    }
    (quants, Some(scales))
}

/// K-quants with their scales at the end of a block: the first `quant`
/// bytes to the quants (Q6_K: ql and qh, 192; Q3_K: hmask and qs, 96), the
/// rest (sub-scales and f16 d: 18 and 14 bytes) padded to a whole word to
/// the scales.
fn split_tail(dtype: DType, bytes: &[u8], quant: usize) -> (Vec<u8>, Option<Vec<u8>>) {
    let block = dtype.block_bytes();
    let tail = (block - quant).next_multiple_of(4);
    let n = bytes.len() / block;
    let mut quants = Vec::with_capacity(n * quant);
    let mut scales = Vec::with_capacity(n * tail);
    for b in bytes.chunks_exact(block) {
        quants.extend_from_slice(&b[..quant]);
        scales.extend_from_slice(&b[quant..]);
        scales.resize(scales.len() + tail - (block - quant), 0);
    }
    (quants, Some(scales))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_split_into_scales_and_quants_in_order() {
        // Two Q4_1 blocks: scale and minimum first, then 16 bytes.
        let mut bytes = Vec::new();
        for b in 0..2u8 {
            bytes.extend_from_slice(&[b, 10 + b, 20 + b, 30 + b]);
            bytes.extend((0..16).map(|i| 100 + 16 * b + i));
        }
        let (quants, scales) = split_blocks(DType::Q4_1, &bytes);
        assert_eq!(scales.unwrap(), [0, 10, 20, 30, 1, 11, 21, 31]);
        assert_eq!(quants, (100..132).collect::<Vec<u8>>());
    }
}
