//! Q6_K: super-blocks of 256 weights in 16 sub-blocks of 16 (210 bytes).
//! Sub-block `j` has a signed 8-bit scale; value = `d * scales[j] * (q - 32)`
//! with a 6-bit `q`.
//!
//! The 256 elements are two halves of 128. In half `h`, element
//! `128h + 32k + l` (k in 0..4, l in 0..32) takes its low four bits from
//! `ql[64h + l + 32 * (k % 2)]` (low nibble for k < 2, high for k >= 2) and
//! its high two bits from bits `2k..2k+2` of `qh[32h + l]`.

use super::f16_to_f32;
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
/// with least squared error from a small search (see [`fit_scale`]); the
/// scales are rounded to i8 against `d = max|scale| / 127`, and the weights
/// re-rounded on the final grid.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ6K]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(256)) {
        let s: [f32; 16] = std::array::from_fn(|j| fit_scale(&x[16 * j..16 * j + 16]));
        let d = f16::from_f32(s.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0);
        let df = f16_to_f32(d);
        block.d = d;
        for j in 0..16 {
            block.scales[j] = best_i8_scale(&x[16 * j..16 * j + 16], s[j], df);
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

/// The i8 scale (in units of `d`) nearest `s`, or a neighbour of it when
/// that one fits `x` better: rounding a small scale down can make the grid
/// too short for the sub-block's extremes.
fn best_i8_scale(x: &[f32], s: f32, d: f32) -> i8 {
    if d <= 0.0 {
        return 0;
    }
    let error = |sc: f32| -> f32 {
        let step = d * sc;
        x.iter()
            .map(|&v| (step * (v / step).round().clamp(-32.0, 31.0) - v).powi(2))
            .sum()
    };
    let nearest = (s / d).round().clamp(-128.0, 127.0);
    [nearest - 1.0, nearest + 1.0]
        .into_iter()
        .filter(|&c| c != 0.0 && (-128.0..=127.0).contains(&c))
        .fold((nearest, error(nearest)), |best, c| {
            let e = error(c);
            if e < best.1 {
                (c, e)
            } else {
                best
            }
        })
        .0 as i8
}

/// Best `s` with `x ≈ s*q`, `q` in -32..=31. The element of largest
/// magnitude is tried at or near -32 (the wider side of the range, so `s`
/// carries the opposite sign); each rounding is refit by least squares.
fn fit_scale(x: &[f32]) -> f32 {
    let max = x
        .iter()
        .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
    if max == 0.0 {
        return 0.0;
    }
    let error = |s: f32| -> f32 {
        x.iter()
            .map(|&v| (s * (v / s).round().clamp(-32.0, 31.0) - v).powi(2))
            .sum()
    };
    let mut best = max / -32.0;
    let mut best_err = error(best);
    for step in -10..=10 {
        let iscale = (-32.0 + 0.1 * step as f32) / max;
        let (mut sqx, mut sqq) = (0f32, 0f32);
        for &v in x {
            let q = (v * iscale).round().clamp(-32.0, 31.0);
            sqx += q * v;
            sqq += q * q;
        }
        if sqq == 0.0 {
            continue;
        }
        let s = sqx / sqq;
        let err = error(s);
        if err < best_err {
            best = s;
            best_err = err;
        }
    }
    best
}
