//! Scalar dot products of one weight row with Q8A activations. They define
//! what the SIMD paths compute, and are what wasm32 runs (the compiler may
//! still vectorize the integer loops with simd128).
//!
//! Each sums integer products per block and applies the float scales once
//! per block; weight offsets are folded in through the activation sums.

use crate::quant::{f16_to_f32, q4_k, q6_k};
use crate::quant::{BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ6K, BlockQ8A, BlockQ8_0};

fn isum<const N: usize>(w: impl Fn(usize) -> i32, a: &[i8]) -> i32 {
    (0..N).map(|i| w(i) * a[i] as i32).sum()
}

fn asum(a: &BlockQ8A) -> i32 {
    a.sums[0] as i32 + a.sums[1] as i32
}

pub fn dot_q8_0(w: &[BlockQ8_0], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            let s = isum::<32>(|i| w.qs[i] as i32, &a.qs);
            f16_to_f32(w.d) * a.d * s as f32
        })
        .sum()
}

/// Σ (q - 8) a = Σ q a - 8 Σ a.
pub fn dot_q4_0(w: &[BlockQ4_0], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            let s = isum::<32>(|i| nibble(&w.qs, i), &a.qs) - 8 * asum(a);
            f16_to_f32(w.d) * a.d * s as f32
        })
        .sum()
}

/// Σ (q d + m) a = d Σ q a + m Σ a.
pub fn dot_q4_1(w: &[BlockQ4_1], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            let s = isum::<32>(|i| nibble(&w.qs, i), &a.qs);
            a.d * (f16_to_f32(w.d) * s as f32 + f16_to_f32(w.m) * asum(a) as f32)
        })
        .sum()
}

/// Element `i` of a 32-block of nibbles (low nibbles first).
#[inline(always)]
fn nibble(qs: &[u8; 16], i: usize) -> i32 {
    if i < 16 {
        (qs[i] & 0x0F) as i32
    } else {
        (qs[i - 16] >> 4) as i32
    }
}

/// Per 32-element sub-block j: d sc_j Σ q a - dmin mn_j Σ a.
pub fn dot_q4_k(w: &[BlockQ4K], x: &[BlockQ8A]) -> f32 {
    let mut total = 0f32;
    for (w, x) in w.iter().zip(x.chunks_exact(8)) {
        let (d, dmin) = (f16_to_f32(w.d), f16_to_f32(w.dmin));
        for (j, a) in x.iter().enumerate() {
            let (sc, mn) = q4_k::scale_min(&w.scales, j);
            let qs = &w.qs[32 * (j / 2)..32 * (j / 2) + 32];
            let shift = 4 * (j % 2);
            let s = isum::<32>(|i| ((qs[i] >> shift) & 0x0F) as i32, &a.qs);
            total += a.d * (d * sc as f32 * s as f32 - dmin * mn as f32 * asum(a) as f32);
        }
    }
    total
}

/// Per 16-element sub-block j: d sc_j (Σ q a - 32 Σ a).
pub fn dot_q6_k(w: &[BlockQ6K], x: &[BlockQ8A]) -> f32 {
    let mut total = 0f32;
    for (w, x) in w.iter().zip(x.chunks_exact(8)) {
        let d = f16_to_f32(w.d);
        // Activation block b covers elements 32b..32b+32 = (h, k) = (b/4, b%4).
        for (b, a) in x.iter().enumerate() {
            let (h, k) = (b / 4, b % 4);
            let mut block = 0i32;
            for half in 0..2 {
                let s = isum::<16>(
                    |l| q6_k::code(w, h, k, 16 * half + l) as i32,
                    &a.qs[16 * half..],
                ) - 32 * a.sums[half] as i32;
                block += w.scales[2 * b + half] as i32 * s;
            }
            total += d * a.d * block as f32;
        }
    }
    total
}
