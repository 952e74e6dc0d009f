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
    /// The rows in order, in one shard, or in several when the matrix is
    /// larger than the device's largest storage binding (Gemma 3's 262,144
    /// × 640 embedding is 168 MB in Q8_0; WebGPU and lavapipe bind 128 MiB).
    pub shards: Vec<Shard>,
}

/// Rows `first_row .. first_row + rows` of a weight, in the buffers one
/// dispatch binds.
#[derive(Clone)]
pub struct Shard {
    pub first_row: usize,
    pub rows: usize,
    pub quants: wgpu::Buffer,
    /// The per-block scales (and minimums); none for the float formats.
    pub scales: Option<wgpu::Buffer>,
}

/// The formats the GPU kernels read.
pub const GPU_FORMATS: [DType; 15] = [
    DType::F32,
    DType::F16,
    DType::BF16,
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
        let (rows, cols) = matrix_dims(name, t)?;
        let row_bytes = t.dtype().bytes_for(cols).unwrap_or(0);
        let rows_per_shard = Self::rows_per_shard(gpu, t.dtype(), row_bytes, rows);
        Self::upload_in_shards(gpu, name, t, rows_per_shard)
    }

    /// [`upload`](Self::upload), cut into shards of at most
    /// `rows_per_shard` rows (`upload` makes them as large as the device
    /// binds; tests make them small).
    pub fn upload_in_shards(
        gpu: &Gpu,
        name: &str,
        t: &Tensor,
        rows_per_shard: usize,
    ) -> Result<GpuWeight> {
        let (rows, cols) = matrix_dims(name, t)?;
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
        let rows_per_shard = rows_per_shard.max(1);
        let t = t.contiguous()?;
        let bytes = t.as_bytes()?;
        let row_bytes = bytes.len() / rows.max(1);
        let mut shards = Vec::new();
        for first_row in (0..rows).step_by(rows_per_shard) {
            let n = rows_per_shard.min(rows - first_row);
            let (quants, scales) = split_blocks(
                dtype,
                &bytes[first_row * row_bytes..(first_row + n) * row_bytes],
            );
            let label = match rows_per_shard < rows {
                true => format!("{name} rows {first_row}.."),
                false => name.to_string(),
            };
            shards.push(Shard {
                first_row,
                rows: n,
                quants: gpu.upload(&label, &quants)?,
                scales: match scales {
                    Some(s) => Some(gpu.upload(&format!("{label} scales"), &s)?),
                    None => None,
                },
            });
        }
        Ok(GpuWeight {
            dtype,
            rows,
            cols,
            shards,
        })
    }

    /// The most rows whose quants and scales each fit one storage binding:
    /// all of them when the matrix fits.
    fn rows_per_shard(gpu: &Gpu, dtype: DType, row_bytes: usize, rows: usize) -> usize {
        let (quants, scales) = split_blocks(dtype, &vec![0u8; row_bytes]);
        let scales = scales.map_or(0, |s| s.len());
        let widest = quants.len().max(scales).max(1) as u64;
        let most = gpu.limits.max_storage_buffer_binding_size / widest;
        (most as usize).clamp(1, rows.max(1))
    }

    /// The shader file of this weight's format.
    pub fn format(&self) -> &'static str {
        match self.dtype {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
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
        }
    }

    /// Bytes the GPU reads for one pass over the matrix.
    pub fn bytes(&self) -> u64 {
        self.dtype.bytes_for(self.rows * self.cols).unwrap_or(0) as u64
    }
}

/// (rows, columns) of a weight: a matrix, or a vector as one row.
fn matrix_dims(name: &str, t: &Tensor) -> Result<(usize, usize)> {
    match t.dims() {
        [rows, cols] => Ok((*rows, *cols)),
        [cols] => Ok((1, *cols)),
        dims => Err(Error::Invalid(format!(
            "{name}: a GPU weight must be a matrix, not {dims:?}"
        ))),
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
    fn scales_of_a_row_range_are_those_rows_scales() {
        // Shards split the tensor's bytes at row boundaries: each block is
        // split the same wherever it sits.
        let bytes: Vec<u8> = (0..4 * 34).map(|i| i as u8).collect();
        let (q_all, s_all) = split_blocks(DType::Q8_0, &bytes);
        let (q_tail, s_tail) = split_blocks(DType::Q8_0, &bytes[2 * 34..]);
        assert_eq!(q_tail, q_all[2 * 32..]);
        assert_eq!(s_tail.unwrap(), s_all.unwrap()[2 * 2..]);
    }

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
