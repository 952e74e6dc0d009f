//! AVX2 + FMA dot products, 32 elements (one Q8A block) per step.
//!
//! Each weight block becomes unsigned or signed bytes next to the 32
//! activation bytes; `MulSum::dot4` multiplies u8 × i8 and adds groups of
//! four into eight i32 lanes (`maddubs` + `madd` here, one `vpdpbusd` with
//! VNNI), and the block's float scales are applied with one FMA. Four
//! independent accumulators keep the FMA latency off the critical path, so
//! the loop runs at the speed memory delivers weights.
//!
//! The bodies are generic and `#[inline(always)]`; the `#[target_feature]`
//! row functions that [`row_kernels!`] generates give them their ISA, here
//! and in `avx512.rs`.

use crate::quant::{f16_to_f32, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ6K, BlockQ8A, BlockQ8_0};
use std::arch::x86_64::*;

/// u8 × i8 products of 32 bytes, summed in groups of four into i32 lanes.
pub trait MulSum {
    /// # Safety
    /// The CPU must support the instructions the implementation uses.
    unsafe fn dot4(u: __m256i, s: __m256i) -> __m256i;
}

/// `maddubs` (pairs to i16) then `madd` with ones (pairs to i32). The i16
/// step cannot saturate: our u8 operands are at most 128 and the
/// activations at most 127 in size, and 2 · 128 · 127 < 32767.
pub struct Maddubs;

impl MulSum for Maddubs {
    #[inline(always)]
    unsafe fn dot4(u: __m256i, s: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
    }
}

#[inline(always)]
unsafe fn activations(a: &BlockQ8A) -> __m256i {
    _mm256_loadu_si256(a.qs.as_ptr().cast())
}

/// 16 bytes of nibbles as 32 bytes: low nibbles, then high nibbles.
#[inline(always)]
unsafe fn nibbles(qs: &[u8; 16]) -> __m256i {
    let v = _mm_loadu_si128(qs.as_ptr().cast());
    let m4 = _mm_set1_epi8(0x0F);
    _mm256_set_m128i(
        _mm_and_si128(_mm_srli_epi16(v, 4), m4),
        _mm_and_si128(v, m4),
    )
}

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
}

/// A constant spread over eight lanes, so that it counts once in `hsum`.
#[inline(always)]
unsafe fn spread(v: f32) -> __m256 {
    _mm256_set1_ps(v * 0.125)
}

/// A weight block's contribution, as eight lanes to be summed. (A trait,
/// not a closure: closures would not inherit the caller's target features,
/// and every intrinsic in them would become a call.)
pub(crate) trait Term: Sized {
    /// Activation blocks per weight block.
    const PER: usize;
    /// # Safety
    /// The CPU must support AVX2, FMA and what `M` uses.
    unsafe fn term<M: MulSum>(&self, x: &[BlockQ8A]) -> __m256;
}

/// Σ over all blocks of `w` with four accumulators.
#[inline(always)]
pub(crate) unsafe fn dot<B: Term, M: MulSum>(w: &[B], x: &[BlockQ8A]) -> f32 {
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut quads = w.chunks_exact(4);
    let mut at = 0;
    for quad in &mut quads {
        for (acc, b) in acc.iter_mut().zip(quad) {
            *acc = _mm256_add_ps(*acc, b.term::<M>(&x[at..at + B::PER]));
            at += B::PER;
        }
    }
    for b in quads.remainder() {
        acc[0] = _mm256_add_ps(acc[0], b.term::<M>(&x[at..at + B::PER]));
        at += B::PER;
    }
    hsum(_mm256_add_ps(
        _mm256_add_ps(acc[0], acc[1]),
        _mm256_add_ps(acc[2], acc[3]),
    ))
}

/// Σ w a: the sign of w moves onto a so that the u8 operand is |w|.
impl Term for BlockQ8_0 {
    const PER: usize = 1;
    #[inline(always)]
    unsafe fn term<M: MulSum>(&self, x: &[BlockQ8A]) -> __m256 {
        let w = self;
        let a = x;
        let (wq, aq) = (_mm256_loadu_si256(w.qs.as_ptr().cast()), activations(&a[0]));
        let p = M::dot4(_mm256_abs_epi8(wq), _mm256_sign_epi8(aq, wq));
        _mm256_mul_ps(
            _mm256_set1_ps(f16_to_f32(w.d) * a[0].d),
            _mm256_cvtepi32_ps(p),
        )
    }
}

/// d da (Σ q a - 8 Σ a).
impl Term for BlockQ4_0 {
    const PER: usize = 1;
    #[inline(always)]
    unsafe fn term<M: MulSum>(&self, x: &[BlockQ8A]) -> __m256 {
        let w = self;
        let a = x;
        let a = &a[0];
        let p = M::dot4(nibbles(&w.qs), activations(a));
        let scale = f16_to_f32(w.d) * a.d;
        let offset = -8.0 * scale * (a.sums[0] as i32 + a.sums[1] as i32) as f32;
        _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(p), spread(offset))
    }
}

/// da (d Σ q a + m Σ a).
impl Term for BlockQ4_1 {
    const PER: usize = 1;
    #[inline(always)]
    unsafe fn term<M: MulSum>(&self, x: &[BlockQ8A]) -> __m256 {
        let w = self;
        let a = x;
        let a = &a[0];
        let p = M::dot4(nibbles(&w.qs), activations(a));
        let min = f16_to_f32(w.m) * a.d * (a.sums[0] as i32 + a.sums[1] as i32) as f32;
        let scale = _mm256_set1_ps(f16_to_f32(w.d) * a.d);
        _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(p), spread(min))
    }
}

/// Per sub-block j: da (d sc_j Σ q a - dmin mn_j Σ a).
impl Term for BlockQ4K {
    const PER: usize = 8;
    #[inline(always)]
    unsafe fn term<M: MulSum>(&self, x: &[BlockQ8A]) -> __m256 {
        let w = self;
        let (d, dmin) = (f16_to_f32(w.d), f16_to_f32(w.dmin));
        let m4 = _mm256_set1_epi8(0x0F);
        let mut acc = [_mm256_setzero_ps(); 2];
        for c in 0..4 {
            let v = _mm256_loadu_si256(w.qs[32 * c..].as_ptr().cast());
            let halves = [
                _mm256_and_si256(v, m4),
                _mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
            ];
            for (i, q) in halves.into_iter().enumerate() {
                let j = 2 * c + i;
                let a = &x[j];
                let (sc, mn) = crate::quant::q4_k::scale_min(&w.scales, j);
                let p = M::dot4(q, activations(a));
                let min = dmin * mn as f32 * a.d * (a.sums[0] as i32 + a.sums[1] as i32) as f32;
                let scale = _mm256_set1_ps(d * sc as f32 * a.d);
                acc[i] = _mm256_add_ps(
                    acc[i],
                    _mm256_fmsub_ps(scale, _mm256_cvtepi32_ps(p), spread(min)),
                );
            }
        }
        _mm256_add_ps(acc[0], acc[1])
    }
}

/// Per 16-element sub-block j: d da sc_j (Σ q a - 32 Σ a). The two halves
/// of an activation block have different scales, which the i32 lanes keep
/// apart (lanes 0..4 sum elements 0..16).
impl Term for BlockQ6K {
    const PER: usize = 8;
    #[inline(always)]
    unsafe fn term<M: MulSum>(&self, x: &[BlockQ8A]) -> __m256 {
        let w = self;
        let d = f16_to_f32(w.d);
        let (m4, m2) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(3));
        let mut acc = [_mm256_setzero_ps(); 2];
        for h in 0..2 {
            let ql0 = _mm256_loadu_si256(w.ql[64 * h..].as_ptr().cast());
            let ql1 = _mm256_loadu_si256(w.ql[64 * h + 32..].as_ptr().cast());
            let qh = _mm256_loadu_si256(w.qh[32 * h..].as_ptr().cast());
            let codes = [
                _mm256_or_si256(_mm256_and_si256(ql0, m4), high2(qh, 0, m2)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4), high2(qh, 2, m2)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                    high2(qh, 4, m2),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                    high2(qh, 6, m2),
                ),
            ];
            for (k, q) in codes.into_iter().enumerate() {
                let b = 4 * h + k;
                let a = &x[b];
                let p = M::dot4(q, activations(a));
                let (s0, s1) = (w.scales[2 * b] as f32, w.scales[2 * b + 1] as f32);
                let da = d * a.d;
                let offset = 32.0 * da * (s0 * a.sums[0] as f32 + s1 * a.sums[1] as f32);
                let scales = _mm256_setr_m128(_mm_set1_ps(da * s0), _mm_set1_ps(da * s1));
                acc[k % 2] = _mm256_add_ps(
                    acc[k % 2],
                    _mm256_fmsub_ps(scales, _mm256_cvtepi32_ps(p), spread(offset)),
                );
            }
        }
        _mm256_add_ps(acc[0], acc[1])
    }
}

/// Bits `shift..shift + 2` of each byte of `qh`, moved to bits 4..6.
#[inline(always)]
unsafe fn high2(qh: __m256i, shift: i32, m2: __m256i) -> __m256i {
    let bits = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift)), m2);
    _mm256_slli_epi16(bits, 4)
}

/// The five `rows_*` functions for one instruction set: each loops over
/// rows inside `#[target_feature]` so that the generic bodies inline.
macro_rules! row_kernels {
    ($features:literal, $mul:ty) => {
        use crate::backend::cpu::quant_dot::avx2 as body;
        use crate::quant::{BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ6K, BlockQ8A, BlockQ8_0};
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_q8_0, dot_q8_0, BlockQ8_0, 1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_q4_0, dot_q4_0, BlockQ4_0, 1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_q4_1, dot_q4_1, BlockQ4_1, 1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_q4_k, dot_q4_k, BlockQ4K, 8);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_q6_k, dot_q6_k, BlockQ6K, 8);
    };
    (@one $features:literal, $mul:ty, $rows:ident, $dot:ident, $block:ty, $per:expr) => {
        /// # Safety
        /// The CPU must support this module's target features.
        #[target_feature(enable = $features)]
        pub unsafe fn $rows(w: &[$block], x: &[BlockQ8A], y: &mut [f32]) {
            let per_row = x.len() / $per;
            for (y, row) in y.iter_mut().zip(w.chunks_exact(per_row)) {
                *y = body::dot::<$block, $mul>(row, x);
            }
        }
    };
}
pub(crate) use row_kernels;

mod kernels {
    super::row_kernels!("avx2,fma", super::Maddubs);
}
pub use kernels::*;
