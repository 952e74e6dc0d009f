//! The AVX-512 paths. They run the AVX2 bodies on 256-bit vectors, compiled
//! with AVX-512VL enabled (32 vector registers, EVEX encodings); the VNNI
//! path replaces `maddubs` + `madd` with one `vpdpbusd`. Matrix-vector
//! products are limited by memory, not by vector width, so 512-bit bodies
//! would mostly add shuffles.

use super::avx2::{shuffle_bytes, MulSum};
use std::arch::x86_64::*;

/// One `vpdpbusd`: u8 × i8 products summed in fours, without the i16
/// intermediate (so no saturation either); `GFNI` says whether the CPU has
/// GFNI too (see [`MulSum::GFNI`]).
pub struct Vnni<const GFNI: bool>;

impl<const GFNI: bool> MulSum for Vnni<GFNI> {
    /// `vpdpbusd` has no i16 step.
    const WIDE_U8: bool = true;
    const GFNI: bool = GFNI;

    #[inline(always)]
    unsafe fn dot4(u: __m256i, s: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
    }

    #[inline(always)]
    unsafe fn dot4_add(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(acc, u, s)
    }

    #[inline(always)]
    unsafe fn dot4_two_add(
        acc: __m256i,
        u0: __m256i,
        s0: __m256i,
        u1: __m256i,
        s1: __m256i,
    ) -> __m256i {
        _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc, u0, s0), u1, s1)
    }

    /// `vpdpwssd` does the `madd` and the add in one.
    #[inline(always)]
    unsafe fn scaled(acc: __m256i, u: __m256i, s: __m256i, words: __m256i) -> __m256i {
        _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(u, s), words)
    }

    /// Each vector's products summed in fours (`vpdpbusd`, so each i32 lane
    /// holds one sub-block's), two vectors' sums packed to i16 words (they
    /// fit), and the words times their scales summed in pairs (`vpdpwssd`):
    /// three multiplies and two shuffles per two vectors, where `scaled`
    /// twice takes four and two.
    #[inline(always)]
    unsafe fn scaled_super_block(codes: &[__m256i; 8], q: &[i8; 256], words: __m256i) -> __m256i {
        let q = |p: usize| _mm256_loadu_si256(q[32 * p..].as_ptr().cast());
        let zero = _mm256_setzero_si256();
        // Two chains, so that consecutive steps do not wait on each other.
        let mut sum = [zero; 2];
        for p in (0..8).step_by(2) {
            // Per 128-bit half: vector p's four sums of one sub-block (2p
            // in the low half, 2p + 1 in the high), then vector p + 1's.
            let packed = _mm256_packs_epi32(
                _mm256_dpbusd_epi32(zero, codes[p], q(p)),
                _mm256_dpbusd_epi32(zero, codes[p + 1], q(p + 1)),
            );
            // `words` holds the even sub-blocks' scales in its low half and
            // the odd ones' in its high half, so both halves want words p
            // and p + 1, each four times.
            // The `vpshufb` pick of word `i` (bytes 2i and 2i + 1), four
            // times over in 64 bits.
            let four_times = |i: i64| ((2 * i) | ((2 * i + 1) << 8)) * 0x0001_0001_0001_0001;
            let (a, b) = (four_times(p as i64), four_times(p as i64 + 1));
            let pick = _mm256_setr_epi64x(a, b, a, b);
            let chain = &mut sum[p / 2 % 2];
            *chain = _mm256_dpwssd_epi32(*chain, packed, shuffle_bytes(words, pick));
        }
        _mm256_add_epi32(sum[0], sum[1])
    }

    /// Four `vpdpbusd` steps, then one multiply by the scale: 1.25
    /// instructions per step where `scaled` would take two.
    #[inline(always)]
    unsafe fn sub_block(
        acc: __m256i,
        u: &[__m256i; 4],
        s: &[__m256i; 4],
        words: __m256i,
    ) -> __m256i {
        let mut sum = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u[0], s[0]);
        for k in 1..4 {
            sum = _mm256_dpbusd_epi32(sum, u[k], s[k]);
        }
        _mm256_add_epi32(acc, _mm256_mullo_epi32(sum, _mm256_srai_epi32(words, 16)))
    }
}

/// AVX-512 F/BW/VL without VNNI.
pub mod plain {
    super::super::avx2::row_kernels!(
        "avx2,fma,f16c,avx512f,avx512bw,avx512vl",
        crate::backend::cpu::quant_dot::avx2::Maddubs
    );
}

/// AVX-512 with VNNI.
pub mod vnni {
    super::super::avx2::row_kernels!(
        "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni",
        super::Vnni<false>
    );
}

/// Whether the CPU has GFNI (Ice Lake and Zen 4 on; Cascade and Cooper
/// Lake have VNNI without it).
pub fn has_gfni() -> bool {
    is_x86_feature_detected!("gfni")
}

/// AVX-512 with VNNI and GFNI: the kernels that use GFNI (Q3_K's decode,
/// whose 2-bit fields take one `gf2p8affineqb` each instead of a shift and
/// a mask); [`vnni`] has the rest.
pub mod vnni_gfni {
    use crate::backend::cpu::quant_dot::avx2_k;
    use crate::quant::{BlockQ3K, BlockQ8K};

    super::super::avx2::row_kernels!(
        @k "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,gfni",
        super::Vnni<true>,
        rows_q3_k,
        BlockQ3K
    );
}
