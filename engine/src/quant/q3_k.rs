//! Q3_K: super-blocks of 256 weights in 16 sub-blocks of 16 (110 bytes).
//! Sub-block `j` has a 6-bit scale `sc`; value = `d * (sc - 32) * (q - 4)`
//! with a 3-bit `q`.
//!
//! The 256 weights are two halves of 128. In half `h`, weight
//! `128h + 32k + l` (k in 0..4, l in 0..32) takes its low two bits from
//! bits `2k..2k+2` of `qs[32h + l]` and its third bit from bit `4h + k` of
//! `hmask[l]`. The twelve `scales` bytes pack the sixteen 6-bit scales:
//! the low four bits of scale `j` are the low nibble of byte `j` (j < 8) or
//! the high nibble of byte `j - 8`; its high two bits are bits
//! `2 (j / 4)..+2` of byte `8 + j % 4`.

use super::{f16_to_f32, fit};
use half::f16;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ3K {
    pub hmask: [u8; 32],
    pub qs: [u8; 64],
    pub scales: [u8; 12],
    pub d: f16,
}

/// Sub-block `j`'s 6-bit scale (0..64; the signed scale is this minus 32).
#[inline(always)]
pub fn scale(scales: &[u8; 12], j: usize) -> u8 {
    let low = if j < 8 {
        scales[j] & 0x0F
    } else {
        scales[j - 8] >> 4
    };
    let high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    low | (high << 4)
}

/// The inverse of [`scale`] for all sixteen sub-blocks (values < 64).
pub fn pack_scales(sc: &[u8; 16]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for (j, &v) in sc.iter().enumerate() {
        if j < 8 {
            s[j] |= v & 0x0F;
        } else {
            s[j - 8] |= (v & 0x0F) << 4;
        }
        s[8 + j % 4] |= (v >> 4) << (2 * (j / 4));
    }
    s
}

/// The 3-bit code (0..8) of weight `e`.
#[inline(always)]
pub fn code(block: &BlockQ3K, e: usize) -> u8 {
    let (h, k, l) = (e / 128, e % 128 / 32, e % 32);
    let low = (block.qs[32 * h + l] >> (2 * k)) & 3;
    let high = (block.hmask[l] >> (4 * h + k)) & 1;
    low | (high << 2)
}

pub fn dequantize_row(blocks: &[BlockQ3K], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let d = f16_to_f32(block.d);
        for (e, o) in out.iter_mut().enumerate() {
            let dl = d * (scale(&block.scales, e / 16) as i32 - 32) as f32;
            *o = dl * (code(block, e) as i32 - 4) as f32;
        }
    }
}

/// Quantize whole super-blocks: each sub-block's scale fit on the grid
/// -4..=3, rounded to -31..=31 in units of `d = max|scale| / 31`, then the
/// weights re-rounded on the final grid.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ3K]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(256)) {
        let s: [f32; 16] = std::array::from_fn(|j| fit::fit_symmetric(&x[16 * j..][..16], 4.0));
        let d = f16::from_f32(s.iter().fold(0f32, |a, v| a.max(v.abs())) / 31.0);
        let df = f16_to_f32(d);
        let sc: [u8; 16] = std::array::from_fn(|j| {
            (fit::best_signed_code(&x[16 * j..][..16], s[j], df, 4.0, (-31, 31)) + 32) as u8
        });
        block.d = d;
        block.scales = pack_scales(&sc);
        block.qs = [0; 64];
        block.hmask = [0; 32];
        for (e, &v) in x.iter().enumerate() {
            let step = df * (sc[e / 16] as i32 - 32) as f32;
            let q = if step != 0.0 {
                ((v / step).round().clamp(-4.0, 3.0) + 4.0) as u8
            } else {
                4
            };
            let (h, k, l) = (e / 128, e % 128 / 32, e % 32);
            block.qs[32 * h + l] |= (q & 3) << (2 * k);
            block.hmask[l] |= (q >> 2) << (4 * h + k);
        }
    }
}
