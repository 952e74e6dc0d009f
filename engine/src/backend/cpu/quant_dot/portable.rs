//! Scalar dot products of one weight row with Q8A activations, and of a
//! K-quant row with Q8K ones (`dot_k`, through `quant::superblock`). They
//! define what the SIMD paths compute, and are what wasm32 runs.
//!
//! Each block's weights are first unpacked into a plain 32-byte array and
//! then multiplied in a fixed-length loop; both loops have no branches or
//! data-dependent indexing, so LLVM vectorises them (SSE2 on x86, simd128
//! on wasm32). The float scales are applied once per block, and weight
//! offsets are folded in through the activations' scaled sums `sa`.

use crate::quant::f16_to_f32;
use crate::quant::iq4_nl::GRID;
use crate::quant::superblock::{self, SuperBlock, Unpacked};
use crate::quant::{iq4_xs, q5_0};
use crate::quant::{BlockIQ4NL, BlockIQ4XS, BlockQ5_0, BlockQ5_1};
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ8A, BlockQ8K, BlockQ8_0};

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

/// A K-quant row against [`BlockQ8K`] activations: each super-block in the
/// common shape (`quant::superblock`), its two integer sums, one float step.
pub fn dot_k<B: SuperBlock>(w: &[B], x: &[BlockQ8K]) -> f32 {
    let mut u = Unpacked::default();
    let mut acc = 0f32;
    for (w, a) in w.iter().zip(x) {
        w.unpack(&mut u);
        let (isum, msum) = superblock::integer_sums(&u, a);
        acc = superblock::finish(acc, a.d, u.d, u.m, isum, msum);
    }
    acc
}
