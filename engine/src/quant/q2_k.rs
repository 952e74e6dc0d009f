//! Q2_K: super-blocks of 256 weights in 16 sub-blocks of 16 (84 bytes).
//! Sub-block `j` has a 4-bit scale (low nibble of `scales[j]`) and a 4-bit
//! min (high nibble); value = `d * sc * q - dmin * mn` with a 2-bit `q`.
//!
//! The 256 weights are two halves of 128. In half `h`, weight
//! `128h + 32k + l` (k in 0..4, l in 0..32) is bits `2k..2k+2` of
//! `qs[32h + l]`; its sub-block is `8h + 2k + l / 16`.

use super::{f16_to_f32, fit};
use half::f16;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ2K {
    pub scales: [u8; 16],
    pub qs: [u8; 64],
    pub d: f16,
    pub dmin: f16,
}

/// The 2-bit code (0..4) of weight `e`.
#[inline(always)]
pub fn code(block: &BlockQ2K, e: usize) -> u8 {
    let (h, k, l) = (e / 128, e % 128 / 32, e % 32);
    (block.qs[32 * h + l] >> (2 * k)) & 3
}

pub fn dequantize_row(blocks: &[BlockQ2K], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let (d, dmin) = (f16_to_f32(block.d), f16_to_f32(block.dmin));
        for (e, o) in out.iter_mut().enumerate() {
            let s = block.scales[e / 16];
            let (dl, ml) = (d * (s & 0x0F) as f32, dmin * (s >> 4) as f32);
            *o = dl * code(block, e) as f32 - ml;
        }
    }
}

/// Quantize whole super-blocks: each sub-block's affine fit on the grid
/// 0..=3, its scale and min rounded to four bits against
/// `d = max scale / 15` and `dmin = max min / 15`, then the weights
/// re-rounded on the final grids.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ2K]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(256)) {
        let fits: [(f32, f32); 16] =
            std::array::from_fn(|j| fit::fit_affine(&x[16 * j..][..16], 3.0));
        let d = f16::from_f32(fits.iter().fold(0f32, |a, f| a.max(f.0)) / 15.0);
        let dmin = f16::from_f32(fits.iter().fold(0f32, |a, f| a.max(f.1)) / 15.0);
        let (df, dminf) = (f16_to_f32(d), f16_to_f32(dmin));
        block.d = d;
        block.dmin = dmin;
        for j in 0..16 {
            let (sc, mn) = fit::best_scale_min(&x[16 * j..][..16], fits[j], (df, dminf), 3.0, 15);
            block.scales[j] = sc | (mn << 4);
        }
        block.qs = [0; 64];
        for (e, &v) in x.iter().enumerate() {
            let s = block.scales[e / 16];
            let (step, offset) = (df * (s & 0x0F) as f32, dminf * (s >> 4) as f32);
            let q = if step > 0.0 {
                ((v + offset) / step).round().clamp(0.0, 3.0) as u8
            } else {
                0
            };
            let (h, k, l) = (e / 128, e % 128 / 32, e % 32);
            block.qs[32 * h + l] |= q << (2 * k);
        }
    }
}
