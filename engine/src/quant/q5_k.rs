//! Q5_K: super-blocks of 256 weights in 8 sub-blocks of 32 (176 bytes):
//! Q4_K's scales, mins and nibbles (see `q4_k`), plus a fifth bit per
//! weight: bit `j` of `qh[l]` belongs to weight `32j + l` of sub-block `j`.
//! value = `d * sc[j] * q - dmin * mn[j]` with a 5-bit `q`.

use super::f16_to_f32;
use super::q4_k::{affine_codes, fit_super_block, pack_scales, scale_min};
use half::f16;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ5K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qh: [u8; 32],
    pub qs: [u8; 128],
}

pub fn dequantize_row(blocks: &[BlockQ5K], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let (d, dmin) = (f16_to_f32(block.d), f16_to_f32(block.dmin));
        for (j, out) in out.chunks_exact_mut(32).enumerate() {
            let (sc, mn) = scale_min(&block.scales, j);
            let (dl, ml) = (d * sc as f32, dmin * mn as f32);
            let (c, shift) = (j / 2, 4 * (j % 2));
            for (l, o) in out.iter_mut().enumerate() {
                let low = (block.qs[32 * c + l] >> shift) & 0x0F;
                let high = (block.qh[l] >> j) & 1;
                *o = dl * (low | (high << 4)) as f32 - ml;
            }
        }
    }
}

/// Quantize as Q4_K does, on the grid 0..=31.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ5K]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(256)) {
        let (d, dmin, sc, mn) = fit_super_block(x, 31.0);
        block.d = d;
        block.dmin = dmin;
        block.scales = pack_scales(&sc, &mn);
        let codes = affine_codes(x, f16_to_f32(d), f16_to_f32(dmin), &sc, &mn, 31.0);
        block.qs = [0; 128];
        block.qh = [0; 32];
        for (e, &q) in codes.iter().enumerate() {
            let (j, l) = (e / 32, e % 32);
            block.qs[32 * (j / 2) + l] |= (q & 0x0F) << (4 * (j % 2));
            block.qh[l] |= (q >> 4) << j;
        }
    }
}
