//! Scalar dot products of one weight row with Q8A activations. They define
//! what the SIMD paths compute, and are what wasm32 runs.
//!
//! Each block's weights are first unpacked into a plain 32-byte array and
//! then multiplied in a fixed-length loop; both loops have no branches or
//! data-dependent indexing, so LLVM vectorises them (SSE2 on x86, simd128
//! on wasm32). The float scales are applied once per block, and weight
//! offsets are folded in through the activations' scaled sums `sa`.

use crate::quant::f16_to_f32;
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
