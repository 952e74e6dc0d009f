//! The AVX-512 paths. They run the AVX2 bodies on 256-bit vectors, compiled
//! with AVX-512VL enabled (32 vector registers, EVEX encodings); the VNNI
//! path replaces `maddubs` + `madd` with one `vpdpbusd`. Matrix-vector
//! products are limited by memory, not by vector width, so 512-bit bodies
//! would mostly add shuffles.

use super::avx2::MulSum;
use std::arch::x86_64::*;

/// One `vpdpbusd`: u8 × i8 products summed in fours, without the i16
/// intermediate (so no saturation either).
pub struct Vnni;

impl MulSum for Vnni {
    /// `vpdpbusd` has no i16 step.
    const WIDE_U8: bool = true;

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
        super::Vnni
    );
}
