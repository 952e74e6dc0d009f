//! AVX2 + FMA + F16C: the integer multiply-add every quantized kernel is
//! built on ([`MulSum`]), the activations' quantization, and the row
//! functions of each format for one instruction set ([`row_kernels!`]).
//!
//! `MulSum::dot4` multiplies u8 weight codes by i8 activations and adds
//! groups of four into eight i32 lanes: `maddubs` + `madd` here, one
//! `vpdpbusd` with VNNI (`avx512.rs`). The format bodies live in `lanes.rs`
//! (blocks that meet Q8A activations) and `avx2_k.rs` (the K-quants); they
//! are generic and `#[inline(always)]`, and the `#[target_feature]`
//! functions generated here give them their ISA, here and in `avx512.rs`.

use crate::quant::BlockQ8A;
use std::arch::x86_64::*;

/// u8 × i8 products of 32 bytes, summed in groups of four into i32 lanes.
pub trait MulSum {
    /// Whether `dot4` is exact for any u8 operand (not only up to 128).
    const WIDE_U8: bool;

    /// Whether the CPU also has GFNI, whose `gf2p8affineqb` (a bit-matrix
    /// product per byte) moves a bit field to the bottom of each byte and
    /// clears the rest in one instruction.
    const GFNI: bool = false;

    /// # Safety
    /// The CPU must support the instructions the implementation uses.
    unsafe fn dot4(u: __m256i, s: __m256i) -> __m256i;

    /// `acc + dot4(u, s)`.
    ///
    /// # Safety
    /// As for [`MulSum::dot4`].
    unsafe fn dot4_add(acc: __m256i, u: __m256i, s: __m256i) -> __m256i;

    /// `acc + dot4(u0, s0) + dot4(u1, s1)`, where the u8 operands are at
    /// most 64 (so that `maddubs` may add the two in i16 first).
    ///
    /// # Safety
    /// As for [`MulSum::dot4`].
    unsafe fn dot4_two_add(
        acc: __m256i,
        u0: __m256i,
        s0: __m256i,
        u1: __m256i,
        s1: __m256i,
    ) -> __m256i;

    /// `acc + madd(maddubs(u, s), words)`: products summed in pairs, each
    /// pair times its i16 word, summed again in pairs onto `acc`. The pair
    /// sums must fit in i16 (codes of at most six bits do).
    ///
    /// # Safety
    /// As for [`MulSum::dot4`].
    unsafe fn scaled(acc: __m256i, u: __m256i, s: __m256i, words: __m256i) -> __m256i;

    /// `Σ_j scale[j] Σ_{i∈j} code[i] q[i]` of a K-quant super-block, spread
    /// over eight i32 lanes (only their total is defined): its 256 codes in
    /// eight vectors against the activations `q`, with the sixteen
    /// sub-block scales as `words` (from [`sub_block_words`]). The sums of
    /// four products must fit in i16 (codes of at most six bits against
    /// activations of at most 127 do).
    ///
    /// # Safety
    /// As for [`MulSum::dot4`].
    #[inline(always)]
    unsafe fn scaled_super_block(codes: &[__m256i; 8], q: &[i8; 256], words: __m256i) -> __m256i {
        // Two chains, so that consecutive steps do not wait on each other.
        let mut sum = [_mm256_setzero_si256(); 2];
        for (p, &codes) in codes.iter().enumerate() {
            let q = _mm256_loadu_si256(q[32 * p..].as_ptr().cast());
            sum[p % 2] = Self::scaled(sum[p % 2], codes, q, pair_of(words, p));
        }
        _mm256_add_epi32(sum[0], sum[1])
    }

    /// `acc + scale · Σ_k dot4(u[k], s[k])` lane by lane, where each i32 lane
    /// of `words` holds its scale in both halves (the prefill GEMM's 16
    /// weights of one sub-block, four bytes per step).
    ///
    /// # Safety
    /// As for [`MulSum::dot4`].
    unsafe fn sub_block(
        acc: __m256i,
        u: &[__m256i; 4],
        s: &[__m256i; 4],
        words: __m256i,
    ) -> __m256i;
}

/// `maddubs` (pairs to i16) then `madd` with ones (pairs to i32). The i16
/// step cannot saturate: our u8 operands are at most 128 and the
/// activations at most 127 in size, and 2 · 128 · 127 < 32767.
pub struct Maddubs;

impl MulSum for Maddubs {
    /// `maddubs` saturates i16 pair sums beyond `2 · 128 · 127`.
    const WIDE_U8: bool = false;

    #[inline(always)]
    unsafe fn dot4(u: __m256i, s: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
    }

    #[inline(always)]
    unsafe fn dot4_add(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
        _mm256_add_epi32(acc, Self::dot4(u, s))
    }

    /// Four pair sums of at most 64 · 127 each fit in i16.
    #[inline(always)]
    unsafe fn dot4_two_add(
        acc: __m256i,
        u0: __m256i,
        s0: __m256i,
        u1: __m256i,
        s1: __m256i,
    ) -> __m256i {
        let pairs = _mm256_add_epi16(_mm256_maddubs_epi16(u0, s0), _mm256_maddubs_epi16(u1, s1));
        _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }

    #[inline(always)]
    unsafe fn scaled(acc: __m256i, u: __m256i, s: __m256i, words: __m256i) -> __m256i {
        _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), words))
    }

    #[inline(always)]
    unsafe fn sub_block(
        acc: __m256i,
        u: &[__m256i; 4],
        s: &[__m256i; 4],
        words: __m256i,
    ) -> __m256i {
        let mut acc = acc;
        for k in 0..4 {
            acc = Self::scaled(acc, u[k], s[k], words);
        }
        acc
    }
}

/// `[h0, h1, 0, 0]`: two adjacent f16 at `p` as f32 (F16C).
#[inline(always)]
pub(crate) unsafe fn two_f16(p: *const u8) -> __m128 {
    _mm_cvtph_ps(_mm_cvtsi32_si128(p.cast::<i32>().read_unaligned()))
}

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
}

/// Sixteen byte values (one per 16-weight sub-block) as i16 words, even
/// sub-blocks in the low 128 bits and odd ones in the high, so that
/// [`pair_of`] picks block b's two.
#[inline(always)]
pub(crate) unsafe fn sub_block_words(v: __m128i) -> __m256i {
    let split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    _mm256_cvtepi8_epi16(_mm_shuffle_epi8(v, split))
}

/// Sub-blocks 2b and 2b + 1's words from [`sub_block_words`], broadcast so
/// that `madd` gives lanes 0..4 (weights 0..16 of the block) the first and
/// lanes 4..8 the second.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn pair_of(words: __m256i, b: usize) -> __m256i {
    shuffle_bytes(
        words,
        _mm256_set1_epi16((2 * b as i16) | (2 * b as i16 + 1) << 8),
    )
}

/// `vpshufb`, always as one instruction: written as the intrinsic with a
/// constant pick that LLVM recognises as a word broadcast, it becomes two
/// shuffles (`vpshuflw` + `vpshufd`), and the K-quant decode is short of
/// shuffle throughput.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn shuffle_bytes(v: __m256i, pick: __m256i) -> __m256i {
    let out: __m256i;
    std::arch::asm!(
        "vpshufb {out}, {v}, {pick}",
        out = lateout(ymm_reg) out,
        v = in(ymm_reg) v,
        pick = in(ymm_reg) pick,
        options(pure, nomem, nostack, preserves_flags),
    );
    out
}

/// [`crate::quant::q8a::quantize_row`] with the same results bit for bit:
/// the same float operations in the same order, and rounding half away
/// from zero built from truncation (`roundps` alone rounds half to even).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_q8a(x: &[f32], out: &mut [BlockQ8A]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(32)) {
        let mut v = [_mm256_setzero_ps(); 4];
        let mut amax = _mm256_setzero_ps();
        for (i, v) in v.iter_mut().enumerate() {
            *v = _mm256_loadu_ps(x[8 * i..].as_ptr());
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(_mm256_set1_ps(-0.0), *v));
        }
        let d = hmax(amax) / 127.0;
        let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
        let mut q = [_mm256_setzero_si256(); 4];
        for (q, &v) in q.iter_mut().zip(&v) {
            let r = round_away(_mm256_mul_ps(v, id));
            let r = _mm256_min_ps(
                _mm256_max_ps(r, _mm256_set1_ps(-127.0)),
                _mm256_set1_ps(127.0),
            );
            *q = _mm256_cvttps_epi32(r);
        }
        // i32 → i8 packs within 128-bit halves; the permute restores order.
        let bytes = _mm256_packs_epi16(
            _mm256_packs_epi32(q[0], q[1]),
            _mm256_packs_epi32(q[2], q[3]),
        );
        let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(block.qs.as_mut_ptr().cast(), bytes);
        let sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        block.d = d;
        // Every partial sum is an integer below 2^24, so the float sum is
        // exact and equals the portable code's.
        block.sum = hsum(_mm256_cvtepi32_ps(sum)) as i32;
        block.s = d * block.sum as f32;
    }
}

/// Rust's `f32::round`: truncate, then step away from zero when the
/// dropped fraction is at least one half (`x - trunc(x)` is exact).
#[inline(always)]
unsafe fn round_away(x: __m256) -> __m256 {
    let t = _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    let frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_sub_ps(x, t));
    let step = _mm256_or_ps(_mm256_and_ps(x, _mm256_set1_ps(-0.0)), _mm256_set1_ps(1.0));
    let half_or_more = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5), _CMP_GE_OQ);
    _mm256_add_ps(t, _mm256_and_ps(half_or_more, step))
}

#[inline(always)]
unsafe fn hmax(v: __m256) -> f32 {
    let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)))
}

/// The `rows_*` functions for one instruction set: each loops over
/// rows inside `#[target_feature]` so that the generic bodies inline; and
/// the prefill GEMMs with their packing.
macro_rules! row_kernels {
    ($features:literal, $mul:ty) => {
        use crate::backend::cpu::quant_dot::{avx2_k, lanes, packed};
        use crate::quant::*;
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@lanes $features, $mul, rows_q8_0, pack_q8_0, gemm_q8_0, BlockQ8_0);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@lanes $features, $mul, rows_q4_0, pack_q4_0, gemm_q4_0, BlockQ4_0);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@lanes $features, $mul, rows_q4_1, pack_q4_1, gemm_q4_1, BlockQ4_1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@lanes $features, $mul, rows_q5_0, pack_q5_0, gemm_q5_0, BlockQ5_0);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@lanes $features, $mul, rows_q5_1, pack_q5_1, gemm_q5_1, BlockQ5_1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@lanes $features, $mul, rows_iq4_nl, pack_iq4_nl, gemm_iq4_nl, BlockIQ4NL);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@lanes $features, $mul, rows_iq4_xs, pack_iq4_xs, gemm_iq4_xs, BlockIQ4XS);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@k $features, $mul, rows_q2_k, BlockQ2K);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@k $features, $mul, rows_q3_k, BlockQ3K);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@k $features, $mul, rows_q4_k, BlockQ4K);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@k $features, $mul, rows_q5_k, BlockQ5K);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@k $features, $mul, rows_q6_k, BlockQ6K);

        /// Eight packed K-quant rows times four tokens (prefill).
        ///
        /// # Safety
        /// The CPU must support this module's target features.
        #[target_feature(enable = $features)]
        pub unsafe fn gemm_k(
            p: &packed::PackedRows,
            x: [&[BlockQ8K]; 4],
            out: &mut [[f32; 8]; 4],
        ) {
            avx2_k::gemm_8x4::<$mul>(p, x, out)
        }
    };
    (@k $features:literal, $mul:ty, $rows:ident, $block:ty) => {
        /// `y[r] = w_r · x` against [`BlockQ8K`] activations.
        ///
        /// # Safety
        /// The CPU must support this module's target features.
        #[target_feature(enable = $features)]
        pub unsafe fn $rows(w: &[$block], x: &[BlockQ8K], y: &mut [f32]) {
            let per_row = x.len();
            for (y, row) in y.iter_mut().zip(w.chunks_exact(per_row)) {
                *y = avx2_k::dot_k::<$block, $mul>(row, x);
            }
        }
    };
    (@lanes $features:literal, $mul:ty, $rows:ident, $pack:ident, $gemm:ident, $block:ty) => {
        /// `y[r] = w_r · x`, eight rows at a time.
        ///
        /// # Safety
        /// The CPU must support this module's target features.
        #[target_feature(enable = $features)]
        pub unsafe fn $rows(w: &[$block], x: &[BlockQ8A], y: &mut [f32]) {
            let per_row = x.len() / <$block as lanes::Lanes>::UNITS;
            for (g, y) in y.chunks_mut(packed::ROWS).enumerate() {
                let w = &w[g * packed::ROWS * per_row..];
                let next = w.as_ptr().wrapping_add(packed::ROWS * per_row).cast();
                let sums = lanes::dot_rows8::<$block, $mul>(w, y.len(), x, next);
                let mut out = [0f32; packed::ROWS];
                std::arch::x86_64::_mm256_storeu_ps(out.as_mut_ptr(), sums);
                y.copy_from_slice(&out[..y.len()]);
            }
        }

        /// Pack up to eight rows of `per_row` blocks for the GEMM.
        ///
        /// # Safety
        /// The CPU must support this module's target features.
        #[target_feature(enable = $features)]
        pub unsafe fn $pack(out: &mut packed::PackedBlocks, rows: &[$block], per_row: usize) {
            lanes::pack::<$block, $mul>(out, rows, per_row)
        }

        /// Eight packed rows times four tokens (prefill).
        ///
        /// # Safety
        /// The CPU must support this module's target features.
        #[target_feature(enable = $features)]
        pub unsafe fn $gemm(
            p: &packed::PackedBlocks,
            x: [&[BlockQ8A]; 4],
            out: &mut [[f32; 8]; 4],
        ) {
            lanes::gemm_8x4::<$block, $mul>(p, x, out)
        }
    };
}
pub(crate) use row_kernels;

mod kernels {
    super::row_kernels!("avx2,fma,f16c", super::Maddubs);
}
pub use kernels::*;
