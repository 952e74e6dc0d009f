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

use super::f16_to_f32;
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
        let mut s = [0f32; 8];
        let mut m = [0f32; 8];
        for (j, sub) in x.chunks_exact(32).enumerate() {
            (s[j], m[j]) = fit_affine(sub);
        }
        let d = f16::from_f32(s.iter().fold(0f32, |a, &v| a.max(v)) / 63.0);
        let dmin = f16::from_f32(m.iter().fold(0f32, |a, &v| a.max(v)) / 63.0);
        let (df, dminf) = (f16_to_f32(d), f16_to_f32(dmin));
        let mut sc = [0u8; 8];
        let mut mn = [0u8; 8];
        for j in 0..8 {
            (sc[j], mn[j]) = best_six_bits(&x[32 * j..32 * j + 32], s[j], m[j], df, dminf);
        }
        block.d = d;
        block.dmin = dmin;
        block.scales = pack_scales(&sc, &mn);
        for c in 0..4 {
            let q = |j: usize, v: f32| {
                let step = df * sc[j] as f32;
                if step > 0.0 {
                    ((v + dminf * mn[j] as f32) / step).round().clamp(0.0, 15.0) as u8
                } else {
                    0
                }
            };
            for l in 0..32 {
                let lo = q(2 * c, x[64 * c + l]);
                let hi = q(2 * c + 1, x[64 * c + 32 + l]);
                block.qs[32 * c + l] = lo | (hi << 4);
            }
        }
    }
}

/// The 6-bit (scale, min) pair, in units of `d` and `dmin`, nearest
/// `(s, m)` or a neighbour of it when that fits `x` better (rounding can
/// leave the grid too short for the sub-block's extremes).
fn best_six_bits(x: &[f32], s: f32, m: f32, d: f32, dmin: f32) -> (u8, u8) {
    let nearest = |v: f32, unit: f32| {
        if unit > 0.0 {
            (v / unit).round().clamp(0.0, 63.0) as i32
        } else {
            0
        }
    };
    let error = |sc: i32, mn: i32| -> f32 {
        let (step, offset) = (d * sc as f32, dmin * mn as f32);
        x.iter()
            .map(|&v| {
                let q = if step > 0.0 {
                    ((v + offset) / step).round().clamp(0.0, 15.0)
                } else {
                    0.0
                };
                (step * q - offset - v).powi(2)
            })
            .sum()
    };
    let (sc0, mn0) = (nearest(s, d), nearest(m, dmin));
    let mut best = (sc0, mn0, error(sc0, mn0));
    for sc in (sc0 - 1).max(0)..=(sc0 + 1).min(63) {
        for mn in (mn0 - 1).max(0)..=(mn0 + 1).min(63) {
            let e = error(sc, mn);
            if e < best.2 {
                best = (sc, mn, e);
            }
        }
    }
    (best.0 as u8, best.1 as u8)
}

/// Best `(s, m)` with `x ≈ s*q - m`, `q` in 0..=15, `s >= 0`, `m >= 0`.
/// Tries grids slightly narrower and wider than the plain min..max one,
/// refits `s` and `m` by least squares for each rounding, keeps the best.
fn fit_affine(x: &[f32]) -> (f32, f32) {
    // The offset is -m <= 0, so the grid always reaches down to zero or below.
    let lo = x.iter().copied().fold(0f32, f32::min);
    let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if hi <= lo {
        return (0.0, -lo);
    }
    let error = |s: f32, m: f32| -> f32 {
        x.iter()
            .map(|&v| {
                let q = ((v + m) / s).round().clamp(0.0, 15.0);
                (s * q - m - v).powi(2)
            })
            .sum()
    };
    let mut best = ((hi - lo) / 15.0, -lo);
    let mut best_err = error(best.0, best.1);
    for step in -10..=10 {
        let iscale = (15.0 + 0.1 * step as f32) / (hi - lo);
        let q: Vec<f32> = x
            .iter()
            .map(|&v| ((v - lo) * iscale).round().clamp(0.0, 15.0))
            .collect();
        // Least squares for v ≈ s*q + b over this rounding.
        let n = x.len() as f32;
        let (sq, sqq) = (q.iter().sum::<f32>(), q.iter().map(|q| q * q).sum::<f32>());
        let sx: f32 = x.iter().sum();
        let sqx: f32 = q.iter().zip(x).map(|(q, v)| q * v).sum();
        let det = n * sqq - sq * sq;
        if det <= 0.0 {
            continue;
        }
        let (mut s, mut b) = ((n * sqx - sq * sx) / det, (sqq * sx - sq * sqx) / det);
        if b > 0.0 {
            // The offset must not be positive: refit the scale alone.
            b = 0.0;
            s = sqx / sqq;
        }
        if s <= 0.0 {
            continue;
        }
        let err = error(s, -b);
        if err < best_err {
            best = (s, -b);
            best_err = err;
        }
    }
    best
}
