//! IQ4_NL: blocks of 32 weights, an f16 scale and 16 bytes of nibbles
//! (18 bytes), nibble order as in Q4_0. A nibble does not stand for its
//! own value but indexes [`GRID`], sixteen levels spaced closer near zero,
//! where most weights lie; value = `d * GRID[q]`.

use super::f16_to_f32;
use half::f16;

/// The sixteen levels (ggml's `kvalues_iq4nl`), in increasing order.
pub const GRID: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockIQ4NL {
    pub d: f16,
    pub qs: [u8; 16],
}

/// The index of the level nearest `v` (the lower one on a tie).
#[inline]
pub fn nearest_level(v: f32) -> u8 {
    let above = GRID.partition_point(|&g| (g as f32) < v);
    if above == 0 {
        0
    } else if above == GRID.len() {
        15
    } else {
        let (lo, hi) = (GRID[above - 1] as f32, GRID[above] as f32);
        if v - lo <= hi - v {
            above as u8 - 1
        } else {
            above as u8
        }
    }
}

/// The codes of `x` on the grid `s * GRID` and their squared error.
fn codes_and_error(x: &[f32], s: f32) -> ([u8; 32], f32) {
    let mut codes = [0u8; 32];
    let mut err = 0f32;
    let inv = if s != 0.0 { 1.0 / s } else { 0.0 };
    for (c, &v) in codes.iter_mut().zip(x) {
        *c = nearest_level(v * inv);
        err += (s * GRID[*c as usize] as f32 - v).powi(2);
    }
    (codes, err)
}

/// The scale with the least squared error for a 32-weight sub-block: the
/// weight of largest magnitude is tried on and near each end of the grid,
/// each assignment of levels refit by least squares.
pub fn fit_scale(x: &[f32]) -> f32 {
    let max = x
        .iter()
        .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
    if max == 0.0 {
        return 0.0;
    }
    let mut best = (0f32, x.iter().map(|v| v * v).sum::<f32>());
    for end in [GRID[0] as f32, GRID[15] as f32] {
        for step in -8..=8 {
            let s = max / (end + step as f32);
            let (codes, _) = codes_and_error(x, s);
            let (mut sqx, mut sqq) = (0f32, 0f32);
            for (&c, &v) in codes.iter().zip(x) {
                let q = GRID[c as usize] as f32;
                sqx += q * v;
                sqq += q * q;
            }
            for s in [s, if sqq > 0.0 { sqx / sqq } else { s }] {
                let (_, err) = codes_and_error(x, s);
                if err < best.1 {
                    best = (s, err);
                }
            }
        }
    }
    best.0
}

/// 32 codes as 16 bytes: element `j` low, element `j + 16` high.
pub fn pack_nibbles(q: &[u8]) -> [u8; 16] {
    std::array::from_fn(|j| q[j] | (q[j + 16] << 4))
}

pub fn quantize_row(x: &[f32], out: &mut [BlockIQ4NL]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(32)) {
        let d = f16::from_f32(fit_scale(x));
        let (codes, _) = codes_and_error(x, f16_to_f32(d));
        block.d = d;
        block.qs = pack_nibbles(&codes);
    }
}

pub fn dequantize_row(blocks: &[BlockIQ4NL], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let d = f16_to_f32(block.d);
        for (j, &byte) in block.qs.iter().enumerate() {
            out[j] = d * GRID[(byte & 0x0F) as usize] as f32;
            out[j + 16] = d * GRID[(byte >> 4) as usize] as f32;
        }
    }
}

/// The levels' codes of `x` on the grid `s * GRID` (for IQ4_XS).
pub(crate) fn codes_for(x: &[f32], s: f32) -> [u8; 32] {
    codes_and_error(x, s).0
}
