//! Scalar dot products of one weight row with Q8A activations. They define
//! what the SIMD paths compute, and are what wasm32 runs.
//!
//! Each block's weights are first unpacked into a plain 32-byte array and
//! then multiplied in a fixed-length loop; both loops have no branches or
//! data-dependent indexing, so LLVM vectorises them (SSE2 on x86, simd128
//! on wasm32). The float scales are applied once per block, and weight
//! offsets are folded in through the activations' scaled sums `sa`.

use crate::quant::f16_to_f32;
use crate::quant::iq4_nl::GRID;
use crate::quant::{iq4_xs, q3_k, q4_k, q5_0};
use crate::quant::{BlockIQ4NL, BlockIQ4XS, BlockQ2K, BlockQ3K, BlockQ5K, BlockQ5_0, BlockQ5_1};
use crate::quant::{BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ6K, BlockQ8A, BlockQ8_0};

/// Σ w_i a_i over `N` elements in i32. Written as eight independent lanes
/// so that it becomes vector multiply-adds however much the caller is
/// unrolled (a plain `.sum()` is sometimes left scalar).
#[inline(always)]
fn isum<const N: usize, T: Copy + Into<i32>>(w: &[T; N], a: &[i8; N]) -> i32 {
    let mut lanes = [0i32; 8];
    for (w, a) in w.chunks_exact(8).zip(a.chunks_exact(8)) {
        for l in 0..8 {
            lanes[l] += w[l].into() * a[l] as i32;
        }
    }
    lanes.iter().sum()
}

/// 16 bytes of nibbles as 32 codes: low nibbles, then high nibbles.
#[inline(always)]
fn nibbles(qs: &[u8; 16]) -> [u8; 32] {
    let mut q = [0u8; 32];
    for i in 0..16 {
        q[i] = qs[i] & 0x0F;
        q[i + 16] = qs[i] >> 4;
    }
    q
}

pub fn dot_q8_0(w: &[BlockQ8_0], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| f16_to_f32(w.d) * a.d * isum(&w.qs, &a.qs) as f32)
        .sum()
}

/// Σ (q - 8) d a = d (da Σ q a - 8 sa).
pub fn dot_q4_0(w: &[BlockQ4_0], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| f16_to_f32(w.d) * (a.d * isum(&nibbles(&w.qs), &a.qs) as f32 - 8.0 * a.s))
        .sum()
}

/// Σ (q d + m) a = d da Σ q a + m sa.
pub fn dot_q4_1(w: &[BlockQ4_1], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            let p = isum(&nibbles(&w.qs), &a.qs) as f32;
            f16_to_f32(w.d) * a.d * p + f16_to_f32(w.m) * a.s
        })
        .sum()
}

/// Per 32-element sub-block j: d sc_j da_j Σ q a - dmin mn_j sa_j.
pub fn dot_q4_k(w: &[BlockQ4K], x: &[BlockQ8A]) -> f32 {
    let mut total = 0f32;
    for (w, x) in w.iter().zip(x.chunks_exact(8)) {
        let (d, dmin) = (f16_to_f32(w.d), f16_to_f32(w.dmin));
        for (c, (qs, x)) in w.qs.chunks_exact(32).zip(x.chunks_exact(2)).enumerate() {
            let mut q = [[0u8; 32]; 2];
            for l in 0..32 {
                q[0][l] = qs[l] & 0x0F;
                q[1][l] = qs[l] >> 4;
            }
            for (i, a) in x.iter().enumerate() {
                let (sc, mn) = crate::quant::q4_k::scale_min(&w.scales, 2 * c + i);
                let p = isum(&q[i], &a.qs) as f32;
                total += d * sc as f32 * a.d * p - dmin * mn as f32 * a.s;
            }
        }
    }
    total
}

/// Per 16-element sub-block j: d sc_j Σ (q - 32) a.
pub fn dot_q6_k(w: &[BlockQ6K], x: &[BlockQ8A]) -> f32 {
    let mut total = 0f32;
    for (w, x) in w.iter().zip(x.chunks_exact(8)) {
        let d = f16_to_f32(w.d);
        for (h, x) in x.chunks_exact(4).enumerate() {
            let codes = q6k_codes(w, h);
            // Activation block 4h + k covers elements 128h + 32k ..+ 32.
            for (k, (q, a)) in codes.iter().zip(x).enumerate() {
                let b = 4 * h + k;
                let (q0, q1) = q.split_at(16);
                let (a0, a1) = a.qs.split_at(16);
                let s0 = isum::<16, i8>(q0.try_into().unwrap(), a0.try_into().unwrap());
                let s1 = isum::<16, i8>(q1.try_into().unwrap(), a1.try_into().unwrap());
                let block = w.scales[2 * b] as i32 * s0 + w.scales[2 * b + 1] as i32 * s1;
                total += d * a.d * block as f32;
            }
        }
    }
    total
}

/// The signed codes `q - 32` of half `h` (elements `128h..128h + 128`) as
/// four rows of 32 (layout in `quant::q6_k`), with constant shifts only.
#[inline(always)]
fn q6k_codes(w: &BlockQ6K, h: usize) -> [[i8; 32]; 4] {
    let ql = &w.ql[64 * h..][..64];
    let qh = &w.qh[32 * h..][..32];
    let mut q = [[0i8; 32]; 4];
    for l in 0..32 {
        let (lo, hi, top) = (ql[l], ql[l + 32], qh[l]);
        q[0][l] = ((lo & 0x0F) | (top & 3) << 4) as i8 - 32;
        q[1][l] = ((hi & 0x0F) | (top >> 2 & 3) << 4) as i8 - 32;
        q[2][l] = ((lo >> 4) | (top >> 4 & 3) << 4) as i8 - 32;
        q[3][l] = ((hi >> 4) | (top >> 6) << 4) as i8 - 32;
    }
    q
}

/// Σ (q - 16) d a = d (da Σ q a - 16 sa), with 5-bit codes.
pub fn dot_q5_0(w: &[BlockQ5_0], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            let p = isum(&q5_0::codes(&w.qh, &w.qs), &a.qs) as f32;
            f16_to_f32(w.d) * (a.d * p - 16.0 * a.s)
        })
        .sum()
}

/// Σ (q d + m) a = d da Σ q a + m sa, with 5-bit codes.
pub fn dot_q5_1(w: &[BlockQ5_1], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            let p = isum(&q5_0::codes(&w.qh, &w.qs), &a.qs) as f32;
            f16_to_f32(w.d) * a.d * p + f16_to_f32(w.m) * a.s
        })
        .sum()
}

/// The signed levels of 16 bytes of IQ4 nibbles: low nibbles, then high.
#[inline(always)]
fn levels(qs: &[u8]) -> [i8; 32] {
    let mut q = [0i8; 32];
    for i in 0..16 {
        q[i] = GRID[(qs[i] & 0x0F) as usize];
        q[i + 16] = GRID[(qs[i] >> 4) as usize];
    }
    q
}

/// Σ d GRID[q] a = d da Σ GRID[q] a.
pub fn dot_iq4_nl(w: &[BlockIQ4NL], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| f16_to_f32(w.d) * a.d * isum(&levels(&w.qs), &a.qs) as f32)
        .sum()
}

/// Per 32-element sub-block j: d (ls_j - 32) da_j Σ GRID[q] a.
pub fn dot_iq4_xs(w: &[BlockIQ4XS], x: &[BlockQ8A]) -> f32 {
    let mut total = 0f32;
    for (w, x) in w.iter().zip(x.chunks_exact(8)) {
        let d = f16_to_f32(w.d);
        for (j, a) in x.iter().enumerate() {
            let p = isum(&levels(&w.qs[16 * j..][..16]), &a.qs);
            total += d * iq4_xs::sub_scale(w, j) as f32 * a.d * p as f32;
        }
    }
    total
}

/// Per 32-element sub-block j: d sc_j da_j Σ q a - dmin mn_j sa_j, with
/// 5-bit codes.
pub fn dot_q5_k(w: &[BlockQ5K], x: &[BlockQ8A]) -> f32 {
    let mut total = 0f32;
    for (w, x) in w.iter().zip(x.chunks_exact(8)) {
        let (d, dmin) = (f16_to_f32(w.d), f16_to_f32(w.dmin));
        for (j, a) in x.iter().enumerate() {
            let (c, shift) = (j / 2, 4 * (j % 2));
            let q: [u8; 32] = std::array::from_fn(|l| {
                ((w.qs[32 * c + l] >> shift) & 0x0F) | (((w.qh[l] >> j) & 1) << 4)
            });
            let (sc, mn) = q4_k::scale_min(&w.scales, j);
            let p = isum(&q, &a.qs) as f32;
            total += d * sc as f32 * a.d * p - dmin * mn as f32 * a.s;
        }
    }
    total
}

/// Σ over the two 16-element halves of 32 products, each half times its
/// own integer weight: `wl Σ_{l<16} q a + wh Σ_{l≥16} q a`.
#[inline(always)]
fn halves<T: Copy + Into<i32>>(q: &[T; 32], a: &[i8; 32], (wl, wh): (i32, i32)) -> i32 {
    let (q0, q1) = q.split_at(16);
    let (a0, a1) = a.split_at(16);
    let s0 = isum::<16, T>(q0.try_into().unwrap(), a0.try_into().unwrap());
    let s1 = isum::<16, T>(q1.try_into().unwrap(), a1.try_into().unwrap());
    wl * s0 + wh * s1
}

/// Per 16-element sub-block j: d sc_j da Σ q a - dmin mn_j da Σ a. Weight
/// `128h + 32k + l` meets activation block `4h + k` (see `quant::q2_k`).
pub fn dot_q2_k(w: &[BlockQ2K], x: &[BlockQ8A]) -> f32 {
    let ones = [1u8; 32];
    let mut total = 0f32;
    for (w, x) in w.iter().zip(x.chunks_exact(8)) {
        let (d, dmin) = (f16_to_f32(w.d), f16_to_f32(w.dmin));
        let (mut scaled, mut mins) = (0f32, 0f32);
        for (b, a) in x.iter().enumerate() {
            let (h, k) = (b / 4, b % 4);
            let q: [u8; 32] = std::array::from_fn(|l| (w.qs[32 * h + l] >> (2 * k)) & 3);
            let (s0, s1) = (w.scales[2 * b], w.scales[2 * b + 1]);
            let sc = ((s0 & 0x0F) as i32, (s1 & 0x0F) as i32);
            let mn = ((s0 >> 4) as i32, (s1 >> 4) as i32);
            scaled += a.d * halves(&q, &a.qs, sc) as f32;
            mins += a.d * halves(&ones, &a.qs, mn) as f32;
        }
        total += d * scaled - dmin * mins;
    }
    total
}

/// Per 16-element sub-block j: d (sc_j - 32) da Σ (q - 4) a.
pub fn dot_q3_k(w: &[BlockQ3K], x: &[BlockQ8A]) -> f32 {
    let mut total = 0f32;
    for (w, x) in w.iter().zip(x.chunks_exact(8)) {
        let mut sum = 0f32;
        for (b, a) in x.iter().enumerate() {
            let (h, k) = (b / 4, b % 4);
            let q: [i8; 32] = std::array::from_fn(|l| {
                let low = (w.qs[32 * h + l] >> (2 * k)) & 3;
                let high = (w.hmask[l] >> (4 * h + k)) & 1;
                (low | (high << 2)) as i8 - 4
            });
            let sc = |j: usize| q3_k::scale(&w.scales, j) as i32 - 32;
            sum += a.d * halves(&q, &a.qs, (sc(2 * b), sc(2 * b + 1))) as f32;
        }
        total += f16_to_f32(w.d) * sum;
    }
    total
}
