//! The K-quants (Q2_K … Q6_K) against [`BlockQ8K`] activations on AVX2 and
//! AVX-512: a decode row kernel per format, and one prefill GEMM for all.
//!
//! Both compute each super-block's two integer sums of
//! `quant::superblock` exactly and then its float step lane for lane as
//! `superblock::finish` does, so they agree with the portable code, and
//! with each other, bit for bit.
//!
//! Decode: each format's [`KTerm`] turns a block into 256 codes in eight
//! vectors plus its scales and mins as i16 words; [`dot_k`] multiplies the
//! codes by the activations and applies the sub-block scales to i16 sums
//! (`MulSum::scaled_super_block`: `maddubs` pair sums on AVX2, sums of
//! four packed two vectors at a time on VNNI). Q2_K's codes and scales
//! are small enough to look up `scale · code` directly (`q2_k_table`),
//! which skips the scaling step. The float step runs in SIMD lanes 0 and
//! 1, so no integer sum leaves the vector registers, one super-block
//! behind the integer work (software pipelining: its chain no longer
//! stalls the next block's).
//!
//! Prefill: [`gemm_8x4`] runs on rows packed by [`PackedRows`]: each i32
//! lane is one weight row, each step a broadcast activation word, and four
//! tokens share every load of weights.

use super::avx2::{sub_block_words, two_f16, MulSum};
use super::packed::{PackedRows, ROWS};
use crate::quant::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use std::arch::x86_64::*;

/// One K-quant super-block in registers (see `quant::superblock`).
pub(crate) trait KTerm: Sized {
    /// How far ahead of the block in hand the decode prefetches its row, in
    /// bytes (0: leave it to the hardware prefetchers). 2 KiB measured best
    /// for every K-quant against 0, 1, 3 and 4 KiB (`quant_bench`, 8192
    /// rows of 2048 from DRAM, 2 threads, settings interleaved in one run).
    const PREFETCH_AHEAD: usize = 2048;

    /// The 256 codes, 32 per vector in element order.
    /// # Safety
    /// The CPU must support AVX2.
    unsafe fn codes(&self) -> [__m256i; 8];
    /// The sixteen scales as signed bytes, and the sixteen mins as i16
    /// with the sign [`KTerm::d_m`] expects.
    /// # Safety
    /// As above.
    unsafe fn scales_mins(&self) -> (__m128i, __m256i);
    /// `[d, m, ..]` (F16C) for `d · isum - m · msum`: every K-quant's
    /// min term is subtracted, so no sign is flipped per block. Against
    /// `superblock::finish`'s `d · isum + m · msum`, Q2_K, Q4_K and Q5_K
    /// take `m = dmin` where `finish` has `-dmin`, and Q3_K and Q6_K their
    /// code offset as a positive multiple of the scale where `finish` has
    /// it negative. Negation is exact in both places, so the bits agree.
    /// # Safety
    /// The CPU must support F16C.
    unsafe fn d_m(&self) -> __m128;

    /// The sixteen mins as i16 (signed as in [`KTerm::scales_mins`]).
    /// # Safety
    /// The CPU must support AVX2.
    #[inline(always)]
    unsafe fn mins(&self) -> __m256i {
        self.scales_mins().1
    }

    /// `Σ_j scale[j] Σ_{i∈j} code[i] q[i]` spread over eight i32 lanes
    /// ([`MulSum::scaled_super_block`]).
    /// # Safety
    /// The CPU must support AVX2 and what `M` uses.
    #[inline(always)]
    unsafe fn isum_lanes<M: MulSum>(&self, q: &[i8; 256]) -> __m256i {
        M::scaled_super_block(&self.codes(), q, sub_block_words(self.scales_mins().0))
    }
}

/// `[d, d, ..]` from one f16 (F16C).
#[inline(always)]
unsafe fn d_twice(h: half::f16) -> __m128 {
    _mm_cvtph_ps(_mm_set1_epi16(h.to_bits() as i16))
}

/// Q4_K's and Q5_K's eight 6-bit scales and mins (see `quant::q4_k`), each
/// doubled to cover two 16-weight sub-blocks: `(scales, mins)` as bytes.
#[inline(always)]
unsafe fn q4_k_scales_mins(scales: &[u8; 12]) -> (__m128i, __m128i) {
    let word = |i: usize| {
        u32::from_le_bytes([
            scales[4 * i],
            scales[4 * i + 1],
            scales[4 * i + 2],
            scales[4 * i + 3],
        ])
    };
    let (a, b, c) = (word(0), word(1), word(2));
    // Bytes 0..4 of sc and mn are the low six bits of a and b; bytes 4..8
    // take their low four bits from c's nibbles and the top two from the
    // top bits of a and b (each byte's bits 6..8 moved to 4..6).
    let sc_hi = (c & 0x0F0F_0F0F) | ((a >> 2) & 0x3030_3030);
    let mn_hi = ((c >> 4) & 0x0F0F_0F0F) | ((b >> 2) & 0x3030_3030);
    let sc = (a & 0x3F3F_3F3F) as u64 | (sc_hi as u64) << 32;
    let mn = (b & 0x3F3F_3F3F) as u64 | (mn_hi as u64) << 32;
    let v = _mm_set_epi64x(mn as i64, sc as i64);
    let doubled_sc = _mm_unpacklo_epi8(v, v);
    let doubled_mn = _mm_unpackhi_epi8(v, v);
    (doubled_sc, doubled_mn)
}

impl KTerm for BlockQ4K {
    #[inline(always)]
    unsafe fn codes(&self) -> [__m256i; 8] {
        let m4 = _mm256_set1_epi8(0x0F);
        let mut out = [_mm256_setzero_si256(); 8];
        for c in 0..4 {
            let v = _mm256_loadu_si256(self.qs[32 * c..].as_ptr().cast());
            out[2 * c] = _mm256_and_si256(v, m4);
            out[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
        out
    }
    #[inline(always)]
    unsafe fn scales_mins(&self) -> (__m128i, __m256i) {
        let (sc, mn) = q4_k_scales_mins(&self.scales);
        (sc, _mm256_cvtepu8_epi16(mn))
    }
    #[inline(always)]
    unsafe fn d_m(&self) -> __m128 {
        two_f16((self as *const Self).cast())
    }
}

impl KTerm for BlockQ5K {
    #[inline(always)]
    unsafe fn codes(&self) -> [__m256i; 8] {
        let (m4, bit4) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x10));
        let qh = _mm256_loadu_si256(self.qh.as_ptr().cast());
        let mut out = [_mm256_setzero_si256(); 8];
        for c in 0..4 {
            let v = _mm256_loadu_si256(self.qs[32 * c..].as_ptr().cast());
            let low = [
                _mm256_and_si256(v, m4),
                _mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
            ];
            for (i, low) in low.into_iter().enumerate() {
                // Bit j of each qh byte moved to bit 4 (the 16-bit shift
                // leaks bits between bytes, but not into bit 4).
                let j = 2 * c + i;
                let high = if j <= 4 {
                    _mm256_sll_epi16(qh, _mm_cvtsi32_si128(4 - j as i32))
                } else {
                    _mm256_srl_epi16(qh, _mm_cvtsi32_si128(j as i32 - 4))
                };
                out[j] = _mm256_or_si256(low, _mm256_and_si256(high, bit4));
            }
        }
        out
    }
    #[inline(always)]
    unsafe fn scales_mins(&self) -> (__m128i, __m256i) {
        let (sc, mn) = q4_k_scales_mins(&self.scales);
        (sc, _mm256_cvtepu8_epi16(mn))
    }
    #[inline(always)]
    unsafe fn d_m(&self) -> __m128 {
        two_f16((self as *const Self).cast())
    }
}

/// Q6_K: the code offset `32 scale` as the min, `m = d`.
impl KTerm for BlockQ6K {
    #[inline(always)]
    unsafe fn codes(&self) -> [__m256i; 8] {
        let (m4, m30) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x30));
        let mut out = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let ql0 = _mm256_loadu_si256(self.ql[64 * h..].as_ptr().cast());
            let ql1 = _mm256_loadu_si256(self.ql[64 * h + 32..].as_ptr().cast());
            let qh = _mm256_loadu_si256(self.qh[32 * h..].as_ptr().cast());
            // Bits 2k..2k+2 of qh moved to bits 4..6 for k = 0..4.
            let high = [
                _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30),
                _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30),
                _mm256_and_si256(qh, m30),
                _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30),
            ];
            let low = [
                _mm256_and_si256(ql0, m4),
                _mm256_and_si256(ql1, m4),
                _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
            ];
            for k in 0..4 {
                out[4 * h + k] = _mm256_or_si256(low[k], high[k]);
            }
        }
        out
    }
    #[inline(always)]
    unsafe fn scales_mins(&self) -> (__m128i, __m256i) {
        let sc = _mm_loadu_si128(self.scales.as_ptr().cast());
        let words = _mm256_cvtepi8_epi16(sc);
        (sc, _mm256_slli_epi16(words, 5))
    }
    #[inline(always)]
    unsafe fn d_m(&self) -> __m128 {
        d_twice(self.d)
    }
}

impl BlockQ3K {
    /// The 256 codes, with `field(qs, k)` giving each byte's bits
    /// `2k..2k + 2` of `qs` at the bottom, all else clear.
    #[inline(always)]
    unsafe fn codes_with(&self, field: impl Fn(__m256i, usize) -> __m256i) -> [__m256i; 8] {
        let one = _mm256_set1_epi8(1);
        let hmask = _mm256_loadu_si256(self.hmask.as_ptr().cast());
        let mut out = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let qs = _mm256_loadu_si256(self.qs[32 * h..].as_ptr().cast());
            for k in 0..4 {
                let low = field(qs, k);
                let bit = _mm_cvtsi32_si128((4 * h + k) as i32);
                let high = _mm256_and_si256(_mm256_srl_epi16(hmask, bit), one);
                out[4 * h + k] = _mm256_or_si256(low, _mm256_slli_epi16(high, 2));
            }
        }
        out
    }
}

/// Q3_K: signed scales `sc - 32`, the code offset `4 scale` as the min,
/// `m = d`.
impl KTerm for BlockQ3K {
    #[inline(always)]
    unsafe fn codes(&self) -> [__m256i; 8] {
        let m3 = _mm256_set1_epi8(3);
        self.codes_with(|qs, k| {
            _mm256_and_si256(_mm256_srl_epi16(qs, _mm_cvtsi32_si128(2 * k as i32)), m3)
        })
    }

    /// With GFNI each 2-bit field takes one `gf2p8affineqb` (two bits of
    /// the identity matrix moved down by `2k` rows) where a shift and a
    /// mask took two: about a tenth off the decode on Zen 4.
    #[inline(always)]
    unsafe fn isum_lanes<M: MulSum>(&self, q: &[i8; 256]) -> __m256i {
        let codes = if M::GFNI {
            let m3 = _mm256_set1_epi8(3);
            self.codes_with(|qs, k| {
                if k == 0 {
                    return _mm256_and_si256(qs, m3);
                }
                // Output bit i is the parity of `x & matrix byte 7 - i`.
                let matrix = (1i64 << (2 * k)) << 56 | (1i64 << (2 * k + 1)) << 48;
                _mm256_gf2p8affine_epi64_epi8::<0>(qs, _mm256_set1_epi64x(matrix))
            })
        } else {
            self.codes()
        };
        M::scaled_super_block(&codes, q, sub_block_words(self.scales_mins().0))
    }
    #[inline(always)]
    unsafe fn scales_mins(&self) -> (__m128i, __m256i) {
        // The sixteen 6-bit scales (see `quant::q3_k`) in two u64, eight
        // bytes each, in general-purpose registers: the vector ports are
        // the decode's bottleneck, the scalar ones idle.
        let s = &self.scales;
        let low = u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
        let high = u32::from_le_bytes([s[8], s[9], s[10], s[11]]) as u64;
        // Scale j's top two bits are bits 2(j / 4).. of byte j % 4 of
        // `high`: with `high >> 2` in the upper half (the lower half's two
        // stray top bits fall outside the mask), bits 0..2 of each byte
        // serve scales 0..8 and bits 4..6 scales 8..16.
        let high = high | high << 30;
        let (m4, m2) = (0x0F0F_0F0F_0F0F_0F0F, 0x0303_0303_0303_0303);
        let first = (low & m4) | (high & m2) << 4;
        let second = (low >> 4 & m4) | (high >> 4 & m2) << 4;
        let sc = _mm_set_epi64x(second as i64, first as i64);
        let sc = _mm_sub_epi8(sc, _mm_set1_epi8(32));
        let words = _mm256_cvtepi8_epi16(sc);
        (sc, _mm256_slli_epi16(words, 2))
    }
    #[inline(always)]
    unsafe fn d_m(&self) -> __m128 {
        d_twice(self.d)
    }
}

/// Q2_K's scaled codes `scale · code` (at most 15 · 3) for two pairs of
/// sub-blocks, as a `pshufb` table: in each 128-bit half, entries 0..4 are
/// sub-block `a`'s `[0, s, 2s, 3s]` and entries 0, 4, 8, 12 sub-block
/// `b`'s, so that a code masked in place (`qs & 3` or `qs & 12`) looks up
/// its scaled value with no shift. `a`, `b` index the low half's scales;
/// the high half takes `a + 1`, `b + 1`.
#[inline(always)]
unsafe fn q2_k_table(scales: __m256i, a: i8, b: i8) -> __m256i {
    // Words [s_a, s_a, s_b, 0, s_b, 0, s_b, 0] times [256, 770, 1, 0, 2, 0, 3, 0]
    // give bytes [0, s_a, 2s_a, 3s_a, s_b, 0, 0, 0, 2s_b, 0, 0, 0, 3s_b, 0, 0, 0]
    // (770 s = 2s + 256 · 3s, and 3s < 256).
    let z = -1;
    let (c, e) = (a + 1, b + 1);
    let pick = _mm256_setr_epi8(
        a, z, a, z, b, z, z, z, b, z, z, z, b, z, z, z, c, z, c, z, e, z, z, z, e, z, z, z, e, z,
        z, z,
    );
    let times = _mm256_setr_epi16(256, 770, 1, 0, 2, 0, 3, 0, 256, 770, 1, 0, 2, 0, 3, 0);
    _mm256_mullo_epi16(_mm256_shuffle_epi8(scales, pick), times)
}

/// Q2_K: 4-bit scales and mins in each byte's nibbles, `m = dmin`.
impl KTerm for BlockQ2K {
    /// The codes look up their scaled values (`q2_k_table`), so each 32
    /// codes take one multiply-add and no scaling step.
    #[inline(always)]
    unsafe fn isum_lanes<M: MulSum>(&self, q: &[i8; 256]) -> __m256i {
        let scales = _mm256_broadcastsi128_si256(_mm_loadu_si128(self.scales.as_ptr().cast()));
        let scales = _mm256_and_si256(scales, _mm256_set1_epi8(0x0F));
        let (m3, m12) = (_mm256_set1_epi8(3), _mm256_set1_epi8(12));
        let q = |p: usize| _mm256_loadu_si256(q[32 * p..].as_ptr().cast());
        let mut sum = [_mm256_setzero_si256(); 2];
        for h in 0..2 {
            // Weight 128h + 32k + l is bits 2k..2k+2 of qs[32h + l]; its
            // sub-block is 8h + 2k (l < 16) or 8h + 2k + 1.
            let qs = _mm256_loadu_si256(self.qs[32 * h..].as_ptr().cast());
            let high = _mm256_srli_epi16(qs, 4);
            let base = 8 * h as i8;
            for (pair, bits) in [qs, high].into_iter().enumerate() {
                let table = q2_k_table(scales, base + 4 * pair as i8, base + 4 * pair as i8 + 2);
                let k = 4 * h + 2 * pair;
                let first = _mm256_shuffle_epi8(table, _mm256_and_si256(bits, m3));
                let second = _mm256_shuffle_epi8(table, _mm256_and_si256(bits, m12));
                sum[pair] = M::dot4_two_add(sum[pair], first, q(k), second, q(k + 1));
            }
        }
        _mm256_add_epi32(sum[0], sum[1])
    }

    #[inline(always)]
    unsafe fn codes(&self) -> [__m256i; 8] {
        let m3 = _mm256_set1_epi8(3);
        let mut out = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let qs = _mm256_loadu_si256(self.qs[32 * h..].as_ptr().cast());
            for k in 0..4 {
                let shift = _mm_cvtsi32_si128(2 * k as i32);
                out[4 * h + k] = _mm256_and_si256(_mm256_srl_epi16(qs, shift), m3);
            }
        }
        out
    }
    #[inline(always)]
    unsafe fn scales_mins(&self) -> (__m128i, __m256i) {
        let s = _mm_loadu_si128(self.scales.as_ptr().cast());
        let m4 = _mm_set1_epi8(0x0F);
        let mins = _mm_and_si128(_mm_srli_epi16(s, 4), m4);
        (_mm_and_si128(s, m4), _mm256_cvtepu8_epi16(mins))
    }
    #[inline(always)]
    unsafe fn d_m(&self) -> __m128 {
        two_f16(std::ptr::addr_of!(self.d).cast())
    }
}

/// `[Σ a, Σ b, Σ a, Σ b]` of two vectors of i32 lanes, with shuffles and
/// adds (`phaddd` costs two cycles on some cores).
#[inline(always)]
unsafe fn sum_pair(a: __m256i, b: __m256i) -> __m128i {
    // [a0+a2, b0+b2, a1+a3, b1+b3 | the same for lanes 4..8]
    let s = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
    let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10))
}

/// A super-block's two integer sums, each spread over eight i32 lanes:
/// `Σ scale · code · q` and `Σ min · bsum`.
#[inline(always)]
unsafe fn integer_lanes<B: KTerm, M: MulSum>(b: &B, a: &BlockQ8K) -> (__m256i, __m256i) {
    let isum = b.isum_lanes::<M>(&a.qs);
    let bsums = _mm256_loadu_si256(a.bsums.as_ptr().cast());
    (isum, _mm256_madd_epi16(b.mins(), bsums))
}

/// `finish` in lanes 0 and 1: the lanes summed to `[isum, msum]`, times
/// `[d, m]`, the second taken from the first (see [`KTerm::d_m`]), times
/// `da`, onto `acc`.
#[inline(always)]
unsafe fn finish_lanes<B: KTerm>(acc: __m128, b: &B, da: f32, sums: (__m256i, __m256i)) -> __m128 {
    let products = _mm_mul_ps(b.d_m(), _mm_cvtepi32_ps(sum_pair(sums.0, sums.1)));
    let v = _mm_sub_ss(products, _mm_movehdup_ps(products));
    _mm_add_ss(acc, _mm_mul_ss(_mm_set_ss(da), v))
}

/// One K-quant row against its activations (decode).
///
/// Software-pipelined by one super-block: the next super-block's integer
/// work is issued before this one's float step, whose operands are ready
/// by then. In plain order the float step's long chain (lane sums,
/// conversion, three dependent float operations) filled the out-of-order
/// window and stalled the integer work behind it.
#[inline(always)]
pub(crate) unsafe fn dot_k<B: KTerm, M: MulSum>(w: &[B], x: &[BlockQ8K]) -> f32 {
    let n = w.len().min(x.len());
    if n == 0 {
        return 0.0;
    }
    let mut acc = _mm_setzero_ps();
    let mut sums = integer_lanes::<B, M>(&w[0], &x[0]);
    let (base, size) = (w.as_ptr().cast::<u8>(), std::mem::size_of::<B>());
    for i in 0..n {
        if B::PREFETCH_AHEAD > 0 {
            // Every line of the block that far on (a prefetch never faults,
            // so it may run past the row).
            let ahead = base.wrapping_add(i * size + B::PREFETCH_AHEAD);
            for line in (0..size).step_by(64) {
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line).cast());
            }
        }
        let next = if i + 1 < n {
            integer_lanes::<B, M>(&w[i + 1], &x[i + 1])
        } else {
            sums
        };
        acc = finish_lanes(acc, &w[i], x[i].d, sums);
        sums = next;
    }
    _mm_cvtss_f32(acc)
}

/// The 4-byte activation word at `p`, in every lane.
#[inline(always)]
unsafe fn broadcast_word(p: *const i8) -> __m256i {
    _mm256_set1_epi32(p.cast::<i32>().read_unaligned())
}

/// `out[t][r] = row r · x[t]` for the eight packed rows and four tokens.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the four tokens are indexed in step
pub(crate) unsafe fn gemm_8x4<M: MulSum>(
    p: &PackedRows,
    x: [&[BlockQ8K]; 4],
    out: &mut [[f32; ROWS]; 4],
) {
    let super_blocks = p.super_blocks();
    let x = [
        &x[0][..super_blocks],
        &x[1][..super_blocks],
        &x[2][..super_blocks],
        &x[3][..super_blocks],
    ];
    let mut acc = [_mm256_setzero_ps(); 4];
    for sb in 0..super_blocks {
        let codes = p.codes[sb * 2048..][..2048].as_ptr();
        let words = p.words[sb * 256..][..256].as_ptr();
        let mins = p.mins[sb * 128..][..128].as_ptr();
        let mut isum = [_mm256_setzero_si256(); 4];
        for j in 0..16 {
            let wd = _mm256_loadu_si256(words.add(16 * j).cast());
            let mut w = [_mm256_setzero_si256(); 4];
            for (k, w) in w.iter_mut().enumerate() {
                *w = _mm256_loadu_si256(codes.add(128 * j + 32 * k).cast());
            }
            for t in 0..4 {
                let q = x[t][sb].qs.as_ptr().add(16 * j);
                let a = [
                    broadcast_word(q),
                    broadcast_word(q.add(4)),
                    broadcast_word(q.add(8)),
                    broadcast_word(q.add(12)),
                ];
                isum[t] = M::sub_block(isum[t], &w, &a, wd);
            }
        }
        let mut msum = [_mm256_setzero_si256(); 4];
        for pair in 0..8 {
            let mn = _mm256_loadu_si256(mins.add(16 * pair).cast());
            for t in 0..4 {
                let b = broadcast_word(x[t][sb].bsums.as_ptr().add(2 * pair).cast());
                msum[t] = _mm256_add_epi32(msum[t], _mm256_madd_epi16(mn, b));
            }
        }
        // `finish`, lane for lane.
        let d = _mm256_loadu_ps(p.d[sb * ROWS..][..ROWS].as_ptr());
        let m = _mm256_loadu_ps(p.m[sb * ROWS..][..ROWS].as_ptr());
        for t in 0..4 {
            let v = _mm256_add_ps(
                _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum[t])),
                _mm256_mul_ps(m, _mm256_cvtepi32_ps(msum[t])),
            );
            acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(_mm256_set1_ps(x[t][sb].d), v));
        }
    }
    for t in 0..4 {
        _mm256_storeu_ps(out[t].as_mut_ptr(), acc[t]);
    }
}
