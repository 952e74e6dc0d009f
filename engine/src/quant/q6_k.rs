//! Q6_K: super-blocks of 256 weights in 16 sub-blocks of 16 (210 bytes).
//! Sub-block `j` has a signed 8-bit scale; value = `d * scales[j] * (q - 32)`
//! with a 6-bit `q`.
//!
//! The 256 elements are two halves of 128. In half `h`, element
//! `128h + 32k + l` (k in 0..4, l in 0..32) takes its low four bits from
//! `ql[64h + l + 32 * (k % 2)]` (low nibble for k < 2, high for k >= 2) and
//! its high two bits from bits `2k..2k+2` of `qh[32h + l]`.

use super::{f16_to_f32, fit};
use half::f16;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ6K {
    pub ql: [u8; 128],
    pub qh: [u8; 64],
    pub scales: [i8; 16],
    pub d: f16,
}

/// The unsigned 6-bit code (0..64) of element `128h + 32k + l`.
#[inline(always)]
pub fn code(block: &BlockQ6K, h: usize, k: usize, l: usize) -> u8 {
    let low = block.ql[64 * h + l + 32 * (k % 2)];
    let low = if k < 2 { low & 0x0F } else { low >> 4 };
    let high = (block.qh[32 * h + l] >> (2 * k)) & 3;
    low | (high << 4)
}

pub fn dequantize_row(blocks: &[BlockQ6K], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let d = f16_to_f32(block.d);
        for (e, o) in out.iter_mut().enumerate() {
            let (h, k, l) = (e / 128, e % 128 / 32, e % 32);
            let q = code(block, h, k, l) as i32 - 32;
            *o = d * block.scales[e / 16] as f32 * q as f32;
        }
    }
}

/// Quantize whole super-blocks: each 16-element sub-block gets the scale
/// with least squared error from a small search (see [`fit::fit_symmetric`]);
/// the scales are rounded to i8 against `d = max|scale| / 127`, and the
/// weights re-rounded on the final grid.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ6K]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(256)) {
        let s: [f32; 16] =
            std::array::from_fn(|j| fit::fit_symmetric(&x[16 * j..16 * j + 16], 32.0));
        let d = f16::from_f32(s.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0);
        let df = f16_to_f32(d);
        block.d = d;
        for j in 0..16 {
            let sub = &x[16 * j..16 * j + 16];
            block.scales[j] = fit::best_signed_code(sub, s[j], df, 32.0, (-128, 127)) as i8;
        }
        block.ql = [0; 128];
        block.qh = [0; 64];
        for (e, &v) in x.iter().enumerate() {
            let step = df * block.scales[e / 16] as f32;
            let q = if step != 0.0 {
                ((v / step).round().clamp(-32.0, 31.0) + 32.0) as u8
            } else {
                32
            };
            let (h, k, l) = (e / 128, e % 128 / 32, e % 32);
            block.ql[64 * h + l + 32 * (k % 2)] |= (q & 0x0F) << if k < 2 { 0 } else { 4 };
            block.qh[32 * h + l] |= (q >> 4) << (2 * k);
        }
    }
}
