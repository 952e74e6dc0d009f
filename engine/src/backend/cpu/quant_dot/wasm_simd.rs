//! WebAssembly SIMD128 dot products (the browser's CPU path), one Q8A
//! activation block (32 elements) per step.
//!
//! A weight block becomes 32 byte codes in two 16-lane vectors next to the
//! two halves of the activation block. `extmul` multiplies them into i16
//! lanes and `extadd_pairwise` widens pairs to i32; the four i32 lanes add
//! up to the block's exact integer sum, which enters the row's sum through
//! the portable code's float step, in its order. So the browser computes
//! the same bits as the portable code and the native SIMD paths.
//!
//! Only built with `target_feature = "simd128"` (web/build.sh turns it on);
//! the K-quants but IQ4_XS keep the portable code, which LLVM vectorises.

use super::portable;
use crate::quant::f16_to_f32;
use crate::quant::iq4_nl::GRID;
use crate::quant::iq4_xs;
use crate::quant::{BlockIQ4NL, BlockIQ4XS, BlockQ5_0, BlockQ5_1};
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ8A, BlockQ8_0};
use core::arch::wasm32::*;

/// The activation block's two 16-byte halves.
#[inline(always)]
fn activations(a: &BlockQ8A) -> (v128, v128) {
    // SAFETY: `qs` is 32 bytes; v128_load reads 16 unaligned bytes.
    unsafe {
        let p = a.qs.as_ptr().cast::<v128>();
        (v128_load(p), v128_load(p.add(1)))
    }
}

/// 16 bytes of nibbles as their low and high codes (0..=15 each).
#[inline(always)]
fn nibbles(qs: &[u8; 16]) -> (v128, v128) {
    // SAFETY: `qs` is 16 bytes.
    let v = unsafe { v128_load(qs.as_ptr().cast::<v128>()) };
    (v128_and(v, u8x16_splat(0x0F)), u8x16_shr(v, 4))
}

/// Σ q·a over 32 lanes for codes of at most 31 in size: four i16
/// products of at most 31 · 127 each cannot overflow an i16 lane.
#[inline(always)]
fn sum_small(q0: v128, q1: v128, a0: v128, a1: v128) -> v128 {
    let p = i16x8_add(
        i16x8_add(
            i16x8_extmul_low_i8x16(q0, a0),
            i16x8_extmul_high_i8x16(q0, a0),
        ),
        i16x8_add(
            i16x8_extmul_low_i8x16(q1, a1),
            i16x8_extmul_high_i8x16(q1, a1),
        ),
    );
    i32x4_extadd_pairwise_i16x8(p)
}

/// Σ q·a over 32 lanes for full-range i8 codes: two products of at most
/// 127 · 127 fit an i16 lane, so pairs are widened before they add up.
#[inline(always)]
fn sum_full(q0: v128, q1: v128, a0: v128, a1: v128) -> v128 {
    let half = |q, a| {
        i32x4_extadd_pairwise_i16x8(i16x8_add(
            i16x8_extmul_low_i8x16(q, a),
            i16x8_extmul_high_i8x16(q, a),
        ))
    };
    i32x4_add(half(q0, a0), half(q1, a1))
}

/// The four i32 lanes' sum: a block's exact integer dot product.
#[inline(always)]
fn total(v: v128) -> f32 {
    let pairs = i32x4_add(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    let sum = i32x4_add(pairs, i32x4_shuffle::<1, 0, 3, 2>(pairs, pairs));
    i32x4_extract_lane::<0>(sum) as f32
}

pub fn dot_q8_0(w: &[BlockQ8_0], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            // SAFETY: `qs` is 32 bytes.
            let (q0, q1) = unsafe {
                let p = w.qs.as_ptr().cast::<v128>();
                (v128_load(p), v128_load(p.add(1)))
            };
            let (a0, a1) = activations(a);
            f16_to_f32(w.d) * a.d * total(sum_full(q0, q1, a0, a1))
        })
        .sum()
}

/// Σ (q - 8) d a = d (da Σ q a - 8 sa).
pub fn dot_q4_0(w: &[BlockQ4_0], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            let (q0, q1) = nibbles(&w.qs);
            let (a0, a1) = activations(a);
            let p = total(sum_small(q0, q1, a0, a1));
            f16_to_f32(w.d) * (a.d * p - 8.0 * a.s)
        })
        .sum()
}

/// Σ (q d + m) a = d da Σ q a + m sa.
pub fn dot_q4_1(w: &[BlockQ4_1], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            let (q0, q1) = nibbles(&w.qs);
            let (a0, a1) = activations(a);
            let p = total(sum_small(q0, q1, a0, a1));
            f16_to_f32(w.d) * a.d * p + f16_to_f32(w.m) * a.s
        })
        .sum()
}

pub use portable::dot_k;

/// The fifth bits of a Q5_0/Q5_1 block (bit i for weight i) as 0x10 in the
/// bytes of the weights that have it: weights 0..16, then 16..32.
#[inline(always)]
fn fifth_bits(qh: &[u8; 4]) -> (v128, v128) {
    let word = u32x4_splat(u32::from_le_bytes(*qh));
    let bit = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    let spread = |first: u8| {
        let (a, b) = (first, first + 1);
        let v = i8x16_swizzle(word, u8x16(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b));
        v128_and(i8x16_eq(v128_and(v, bit), bit), u8x16_splat(0x10))
    };
    (spread(0), spread(2))
}

/// The 32 five-bit codes of a Q5_0/Q5_1 block, in two halves.
#[inline(always)]
fn five_bit_codes(qh: &[u8; 4], qs: &[u8; 16]) -> (v128, v128) {
    let (lo, hi) = nibbles(qs);
    let (h0, h1) = fifth_bits(qh);
    (v128_or(lo, h0), v128_or(hi, h1))
}

/// Σ (q - 16) d a = d (da Σ q a - 16 sa).
pub fn dot_q5_0(w: &[BlockQ5_0], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            let (q0, q1) = five_bit_codes(&w.qh, &w.qs);
            let (a0, a1) = activations(a);
            let p = total(sum_small(q0, q1, a0, a1));
            f16_to_f32(w.d) * (a.d * p - 16.0 * a.s)
        })
        .sum()
}

/// Σ (q d + m) a = d da Σ q a + m sa.
pub fn dot_q5_1(w: &[BlockQ5_1], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            let (q0, q1) = five_bit_codes(&w.qh, &w.qs);
            let (a0, a1) = activations(a);
            let p = total(sum_small(q0, q1, a0, a1));
            f16_to_f32(w.d) * a.d * p + f16_to_f32(w.m) * a.s
        })
        .sum()
}

/// The signed IQ4 levels of 16 bytes of indices, in two halves.
#[inline(always)]
fn levels(qs: &[u8]) -> (v128, v128) {
    // SAFETY: both are 16 bytes.
    let (grid, v) = unsafe {
        (
            v128_load(GRID.as_ptr().cast::<v128>()),
            v128_load(qs.as_ptr().cast::<v128>()),
        )
    };
    let lo = v128_and(v, u8x16_splat(0x0F));
    (
        i8x16_swizzle(grid, lo),
        i8x16_swizzle(grid, u8x16_shr(v, 4)),
    )
}

/// Σ d GRID[q] a = d da Σ GRID[q] a.
pub fn dot_iq4_nl(w: &[BlockIQ4NL], x: &[BlockQ8A]) -> f32 {
    w.iter()
        .zip(x)
        .map(|(w, a)| {
            let (q0, q1) = levels(&w.qs);
            let (a0, a1) = activations(a);
            f16_to_f32(w.d) * a.d * total(sum_full(q0, q1, a0, a1))
        })
        .sum()
}

/// Per sub-block j: d (ls_j - 32) da_j Σ GRID[q] a.
pub fn dot_iq4_xs(w: &[BlockIQ4XS], x: &[BlockQ8A]) -> f32 {
    let mut total_sum = 0f32;
    for (w, x) in w.iter().zip(x.chunks_exact(8)) {
        let d = f16_to_f32(w.d);
        for (j, a) in x.iter().enumerate() {
            let (q0, q1) = levels(&w.qs[16 * j..][..16]);
            let (a0, a1) = activations(a);
            let p = total(sum_full(q0, q1, a0, a1));
            total_sum += d * iq4_xs::sub_scale(w, j) as f32 * a.d * p;
        }
    }
    total_sum
}
