//! Q8K: the activation format of the K-quant kernels (after llama.cpp's
//! Q8_K): 256 values with one scale, and the sums of each 16.
//!
//! A K-quant super-block multiplies each 16 or 32 weights by its own small
//! integer scale. With one activation scale per 256 values those integer
//! scales can be applied to integer dot products, and a super-block's whole
//! contribution becomes two exact integer sums and one float step (see
//! `quant::superblock`). With [`super::BlockQ8A`]'s scale per 32, every 32
//! values would need their own float step. `bsums` hold what each sub-block's
//! min (or code offset) is multiplied by.

/// An in-memory format only (activations are never stored), laid out for
/// the kernels: `qs` first and the block aligned to 32 bytes, so that each
/// 32-value load of `qs` stays within one cache line (a load that
/// straddles two costs about twice as much, and the K-quant decode makes
/// eight per super-block).
#[repr(C, align(32))]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ8K {
    /// In -127..=127.
    pub qs: [i8; 256],
    /// `Σ qs` over each 16 values (at most 16 · 127 in size).
    pub bsums: [i16; 16],
    /// Value `i` is `qs[i] * d`.
    pub d: f32,
    /// Up to the next multiple of 32 bytes.
    _pad: [u8; 28],
}

impl Default for BlockQ8K {
    fn default() -> Self {
        bytemuck::Zeroable::zeroed()
    }
}

/// Quantize `x` (a multiple of 256 long) into `out`: `d = max|x| / 127`,
/// `q = round(x / d)` half away from zero, as [`super::q8a`] rounds.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ8K]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(256)) {
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        block.d = d;
        for (q, v) in block.qs.iter_mut().zip(x) {
            *q = super::q8a::round_small(v * id);
        }
        for (s, qs) in block.bsums.iter_mut().zip(block.qs.chunks_exact(16)) {
            *s = qs.iter().map(|&q| q as i16).sum();
        }
    }
}

/// The values a block stands for (for tests and references).
pub fn dequantize_row(blocks: &[BlockQ8K], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        for (o, &q) in out.iter_mut().zip(&block.qs) {
            *o = q as f32 * block.d;
        }
    }
}
