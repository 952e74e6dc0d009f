//! Q4_K: super-blocks of 256 weights in 8 sub-blocks of 32 (144 bytes).
//! Each sub-block `j` has a 6-bit scale `sc[j]` and 6-bit min `mn[j]`;
//! value = `d * sc[j] * q - dmin * mn[j]` with a 4-bit `q`.
//!
//! `qs` is four 32-byte chunks; chunk `c` holds sub-block `2c` in its low
//! nibbles and sub-block `2c + 1` in its high nibbles. The twelve `scales`
//! bytes pack the 6-bit numbers: bytes 0..4 hold `sc[0..4]` in their low
//! six bits, bytes 4..8 hold `mn[0..4]`, bytes 8..12 hold the low four bits
//! of `sc[4..8]` (low nibble) and `mn[4..8]` (high nibble), and the top two
//! bits of bytes 0..8 hold the high two bits of `sc[4..8]` and `mn[4..8]`.

use super::{f16_to_f32, fit};
use half::f16;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ4K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qs: [u8; 128],
}

/// Sub-block `j`'s 6-bit (scale, min).
#[inline(always)]
pub fn scale_min(scales: &[u8; 12], j: usize) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        let sc = (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4);
        let mn = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
        (sc, mn)
    }
}

/// The inverse of [`scale_min`] for all eight sub-blocks (values < 64).
pub fn pack_scales(sc: &[u8; 8], mn: &[u8; 8]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for j in 0..4 {
        s[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
        s[j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6);
        s[j + 8] = (sc[j + 4] & 0x0F) | ((mn[j + 4] & 0x0F) << 4);
    }
    s
}

pub fn dequantize_row(blocks: &[BlockQ4K], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let (d, dmin) = (f16_to_f32(block.d), f16_to_f32(block.dmin));
        for (c, qs) in block.qs.chunks_exact(32).enumerate() {
            let (sc0, mn0) = scale_min(&block.scales, 2 * c);
            let (sc1, mn1) = scale_min(&block.scales, 2 * c + 1);
            let (d0, m0) = (d * sc0 as f32, dmin * mn0 as f32);
            let (d1, m1) = (d * sc1 as f32, dmin * mn1 as f32);
            for (l, &byte) in qs.iter().enumerate() {
                out[64 * c + l] = d0 * (byte & 0x0F) as f32 - m0;
                out[64 * c + 32 + l] = d1 * (byte >> 4) as f32 - m1;
            }
        }
    }
}

/// Quantize whole super-blocks. Each sub-block gets the affine fit
/// `x ≈ s*q - m` (s, m >= 0) with the least squared error among a small
/// search of grids; then `s` and `m` are rounded to six bits against the
/// super-block's `d` and `dmin`, and the weights re-rounded on the final grid.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ4K]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(256)) {
        let (d, dmin, sc, mn) = fit_super_block(x, 15.0);
        block.d = d;
        block.dmin = dmin;
        block.scales = pack_scales(&sc, &mn);
        let codes = affine_codes(x, f16_to_f32(d), f16_to_f32(dmin), &sc, &mn, 15.0);
        for c in 0..4 {
            for l in 0..32 {
                block.qs[32 * c + l] = codes[64 * c + l] | (codes[64 * c + 32 + l] << 4);
            }
        }
    }
}

/// The shared half of Q4_K's and Q5_K's quantizers: each 32-element
/// sub-block's (scale, min) fit on the grid 0..=qmax, then `d`, `dmin` and
/// the eight six-bit codes of each.
pub(crate) fn fit_super_block(x: &[f32], qmax: f32) -> (f16, f16, [u8; 8], [u8; 8]) {
    let fits: [(f32, f32); 8] = std::array::from_fn(|j| fit::fit_affine(&x[32 * j..][..32], qmax));
    let d = f16::from_f32(fits.iter().fold(0f32, |a, f| a.max(f.0)) / 63.0);
    let dmin = f16::from_f32(fits.iter().fold(0f32, |a, f| a.max(f.1)) / 63.0);
    let units = (f16_to_f32(d), f16_to_f32(dmin));
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for j in 0..8 {
        (sc[j], mn[j]) = fit::best_scale_min(&x[32 * j..][..32], fits[j], units, qmax, 63);
    }
    (d, dmin, sc, mn)
}

/// Every weight's code on its sub-block's final grid `d sc - dmin mn`.
pub(crate) fn affine_codes(
    x: &[f32],
    d: f32,
    dmin: f32,
    sc: &[u8; 8],
    mn: &[u8; 8],
    qmax: f32,
) -> [u8; 256] {
    std::array::from_fn(|e| {
        let (j, v) = (e / 32, x[e]);
        let step = d * sc[j] as f32;
        if step > 0.0 {
            ((v + dmin * mn[j] as f32) / step).round().clamp(0.0, qmax) as u8
        } else {
            0
        }
    })
}
