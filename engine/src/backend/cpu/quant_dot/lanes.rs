//! The formats that meet [`BlockQ8A`] activations (Q8_0, Q4_0, Q4_1, Q5_0,
//! Q5_1, IQ4_NL, and IQ4_XS as eight units of 32) on AVX2 and AVX-512,
//! eight weight rows at a time, one row per lane.
//!
//! A 32-weight unit's dot product with its activation block is an exact integer,
//! whatever order it is summed in. Only the float step that folds it into
//! the row's sum can differ between kernels, so here it is the portable
//! code's step (`portable::dot_*`), done lane for lane, and decode, prefill
//! and the portable code give the same bits:
//!
//! * decode ([`dot_rows8`]) reads eight rows straight from the file, sums
//!   each row's block in a vector, and gathers the eight sums into one
//!   vector of row lanes;
//! * prefill ([`gemm_8x4`]) runs on rows repacked by [`pack`] into
//!   [`PackedBlocks`]: eight rows interleaved four codes at a time, so that
//!   a broadcast activation word meets all eight rows in one `vpdpbusd`
//!   (or `maddubs` + `madd`), and four tokens share every load of weights.
//!
//! With VNNI, both take signed weights (Q8_0, IQ4_NL, IQ4_XS) offset by 128
//! into u8 ([`Lanes::offset_codes`]; the IQ4 formats look them up from a
//! table that holds the offset), and `128 Σ a` comes off each block's sums
//! ([`offset_weights`]); without VNNI they lend their signs to the
//! activations, two instructions per 32 weights.
//!
//! Keeping the rows in lanes is what lets prefill match decode: a kernel
//! that sums a row across lanes (as a single-row kernel must) cannot share
//! its float order with one that keeps the row in a lane.

use super::avx2::MulSum;
use super::packed::{PackedBlocks, ROWS};
use crate::quant::iq4_nl::GRID;
use crate::quant::{iq4_xs, BlockIQ4NL, BlockIQ4XS};
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8A, BlockQ8_0};
use std::arch::x86_64::*;

/// How a block's integer sum `p` enters its row's running sum `acc`, in
/// the portable code's float operations.
pub(crate) enum Step {
    /// Signed weights `w = d q`: `acc + (d da) p`.
    Plain,
    /// Unsigned codes with a fixed offset, `w = d (q - k)`:
    /// `acc + d (da p - k sa)`.
    Offset(f32),
    /// Unsigned codes and a minimum, `w = d q + m`: `acc + ((d da) p + m sa)`.
    Min,
}

/// One block format, as the lane kernels see it: [`Lanes::UNITS`] units
/// of 32 weights, each meeting one activation block.
pub(crate) trait Lanes: Sized {
    const STEP: Step;
    /// 32-weight units per block.
    const UNITS: usize = 1;
    /// Unit `u`'s 32 weights as bytes in element order: unsigned codes for
    /// [`Step::Offset`] and [`Step::Min`], signed values for [`Step::Plain`].
    /// # Safety
    /// The CPU must support AVX2.
    unsafe fn codes(&self, u: usize) -> __m256i;
    /// [`Lanes::codes`] offset by 128 into u8 ([`Step::Plain`] formats only,
    /// for a multiply-add that takes any u8: see [`offset_weights`]).
    /// # Safety
    /// The CPU must support AVX2.
    #[inline(always)]
    unsafe fn offset_codes(&self, u: usize) -> __m256i {
        _mm256_xor_si256(self.codes(u), _mm256_set1_epi8(-128))
    }
    /// The bits of the block's `d` and (for [`Step::Min`]) `m`.
    fn d_m(&self) -> (u16, u16);
    /// Unit `u`'s scale in units of `d` (blocks of several units only).
    fn unit_scale(&self, _u: usize) -> f32 {
        1.0
    }
    /// Each unit's `d` (the portable code's `d · unit_scale(u)`) for the
    /// eight rows' blocks, whose `d`s are the lanes of `d` (units past
    /// [`Lanes::UNITS`] unused).
    /// # Safety
    /// The CPU must support AVX2; each pointer must point at a block.
    #[inline(always)]
    unsafe fn unit_d(_blocks: &[*const Self; ROWS], d: __m256) -> [__m256; 8] {
        [d; 8]
    }
}

/// 16 bytes of nibbles as 32 bytes: low nibbles, then high nibbles.
#[inline(always)]
unsafe fn nibbles(qs: &[u8; 16]) -> __m256i {
    let v = _mm256_broadcastsi128_si256(_mm_loadu_si128(qs.as_ptr().cast()));
    let shifted = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
    _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F))
}

/// The fifth bits of a Q5_0/Q5_1 block (`qh`, a little-endian u32 with
/// bit `i` for weight `i`) as 0x10 in the bytes of the weights that have it.
#[inline(always)]
unsafe fn fifth_bits(qh: &[u8; 4]) -> __m256i {
    let word = _mm256_set1_epi32(i32::from_le_bytes(*qh));
    // Byte i takes byte i / 8 of the word (each 128-bit half has a copy).
    let spread = _mm256_shuffle_epi8(
        word,
        _mm256_setr_epi64x(
            0,
            0x0101_0101_0101_0101,
            0x0202_0202_0202_0202,
            0x0303_0303_0303_0303,
        ),
    );
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

impl Lanes for BlockQ8_0 {
    const STEP: Step = Step::Plain;
    #[inline(always)]
    unsafe fn codes(&self, _: usize) -> __m256i {
        _mm256_loadu_si256(self.qs.as_ptr().cast())
    }
    fn d_m(&self) -> (u16, u16) {
        (self.d.to_bits(), 0)
    }
}

impl Lanes for BlockQ4_0 {
    const STEP: Step = Step::Offset(8.0);
    #[inline(always)]
    unsafe fn codes(&self, _: usize) -> __m256i {
        nibbles(&self.qs)
    }
    fn d_m(&self) -> (u16, u16) {
        (self.d.to_bits(), 0)
    }
}

impl Lanes for BlockQ4_1 {
    const STEP: Step = Step::Min;
    #[inline(always)]
    unsafe fn codes(&self, _: usize) -> __m256i {
        nibbles(&self.qs)
    }
    fn d_m(&self) -> (u16, u16) {
        (self.d.to_bits(), self.m.to_bits())
    }
}

impl Lanes for BlockQ5_0 {
    const STEP: Step = Step::Offset(16.0);
    #[inline(always)]
    unsafe fn codes(&self, _: usize) -> __m256i {
        _mm256_or_si256(nibbles(&self.qs), fifth_bits(&self.qh))
    }
    fn d_m(&self) -> (u16, u16) {
        (self.d.to_bits(), 0)
    }
}

impl Lanes for BlockQ5_1 {
    const STEP: Step = Step::Min;
    #[inline(always)]
    unsafe fn codes(&self, _: usize) -> __m256i {
        _mm256_or_si256(nibbles(&self.qs), fifth_bits(&self.qh))
    }
    fn d_m(&self) -> (u16, u16) {
        (self.d.to_bits(), self.m.to_bits())
    }
}

/// The IQ4 levels of 32 nibbles, looked up with one shuffle: signed, or
/// (with `OFFSET`) plus 128 as u8, so that the lookup itself gives
/// [`Lanes::offset_codes`].
#[inline(always)]
unsafe fn levels<const OFFSET: bool>(qs: &[u8; 16]) -> __m256i {
    let grid = _mm256_broadcastsi128_si256(_mm_loadu_si128(GRID.as_ptr().cast()));
    let grid = if OFFSET {
        _mm256_xor_si256(grid, _mm256_set1_epi8(-128))
    } else {
        grid
    };
    _mm256_shuffle_epi8(grid, nibbles(qs))
}

/// The nibbles look up their signed levels with one shuffle.
impl Lanes for BlockIQ4NL {
    const STEP: Step = Step::Plain;
    #[inline(always)]
    unsafe fn codes(&self, _: usize) -> __m256i {
        levels::<false>(&self.qs)
    }
    #[inline(always)]
    unsafe fn offset_codes(&self, _: usize) -> __m256i {
        levels::<true>(&self.qs)
    }
    fn d_m(&self) -> (u16, u16) {
        (self.d.to_bits(), 0)
    }
}

/// IQ4_XS: eight IQ4_NL-like units, each with its own 6-bit scale
/// `ls - 32` (the portable step is `((d ls) da) p`, [`Step::Plain`] with the
/// unit's scale folded into `d`).
impl Lanes for BlockIQ4XS {
    const STEP: Step = Step::Plain;
    const UNITS: usize = 8;
    #[inline(always)]
    unsafe fn codes(&self, u: usize) -> __m256i {
        levels::<false>(self.qs[16 * u..][..16].try_into().unwrap())
    }
    #[inline(always)]
    unsafe fn offset_codes(&self, u: usize) -> __m256i {
        levels::<true>(self.qs[16 * u..][..16].try_into().unwrap())
    }
    fn d_m(&self) -> (u16, u16) {
        (self.d.to_bits(), 0)
    }
    fn unit_scale(&self, u: usize) -> f32 {
        iq4_xs::sub_scale(self, u) as f32
    }
    /// The eight rows' scale words side by side, each unit's 6-bit scale
    /// taken out of them in lanes (`iq4_xs::sub_scale`, for eight rows at
    /// once).
    #[inline(always)]
    unsafe fn unit_d(blocks: &[*const Self; ROWS], d: __m256) -> [__m256; 8] {
        // Bytes 0..4 are d and scales_h, bytes 4..8 scales_l.
        let high = _mm256_srli_epi32(words_at(blocks, 0), 16);
        let low = words_at(blocks, 4);
        let (m4, m2) = (_mm256_set1_epi32(0x0F), _mm256_set1_epi32(3));
        let unit = |low_bits: __m256i, high_bits: __m256i| {
            let ls = _mm256_or_si256(
                _mm256_and_si256(low_bits, m4),
                _mm256_slli_epi32(_mm256_and_si256(high_bits, m2), 4),
            );
            let scale = _mm256_cvtepi32_ps(_mm256_sub_epi32(ls, _mm256_set1_epi32(32)));
            _mm256_mul_ps(d, scale)
        };
        [
            unit(low, high),
            unit(_mm256_srli_epi32(low, 4), _mm256_srli_epi32(high, 2)),
            unit(_mm256_srli_epi32(low, 8), _mm256_srli_epi32(high, 4)),
            unit(_mm256_srli_epi32(low, 12), _mm256_srli_epi32(high, 6)),
            unit(_mm256_srli_epi32(low, 16), _mm256_srli_epi32(high, 8)),
            unit(_mm256_srli_epi32(low, 20), _mm256_srli_epi32(high, 10)),
            unit(_mm256_srli_epi32(low, 24), _mm256_srli_epi32(high, 12)),
            unit(_mm256_srli_epi32(low, 28), _mm256_srli_epi32(high, 14)),
        ]
    }
}

/// One unit's products with the activation bytes `a`, summed into eight
/// i32 lanes onto `acc`. Signed weights lend their sign to the activations
/// so that the u8 operand is |w| (at most 128, so `maddubs` cannot
/// saturate).
#[inline(always)]
unsafe fn block_dot<B: Lanes, M: MulSum>(acc: __m256i, w: __m256i, a: __m256i) -> __m256i {
    match B::STEP {
        Step::Plain => M::dot4_add(acc, _mm256_abs_epi8(w), _mm256_sign_epi8(a, w)),
        _ => M::dot4_add(acc, w, a),
    }
}

/// The float step ([`Step`]) for eight rows: `d` and `m` hold each row's
/// block scales, `p` its exact integer sum as f32.
#[inline(always)]
unsafe fn step<B: Lanes>(acc: __m256, d: __m256, m: __m256, a: &BlockQ8A, p: __m256) -> __m256 {
    let da = _mm256_set1_ps(a.d);
    match B::STEP {
        Step::Plain => _mm256_add_ps(acc, _mm256_mul_ps(_mm256_mul_ps(d, da), p)),
        Step::Offset(k) => {
            let offset = _mm256_set1_ps(k * a.s);
            let inner = _mm256_sub_ps(_mm256_mul_ps(da, p), offset);
            _mm256_add_ps(acc, _mm256_mul_ps(d, inner))
        }
        Step::Min => {
            let scaled = _mm256_mul_ps(_mm256_mul_ps(d, da), p);
            let offset = _mm256_mul_ps(m, _mm256_set1_ps(a.s));
            _mm256_add_ps(acc, _mm256_add_ps(scaled, offset))
        }
    }
}

/// The row sums of eight vectors of i32 lanes, one row per lane: a
/// transposition by unpacking, adding as it goes (`phaddd` would take
/// fewer instructions but costs two cycles each on some cores).
#[inline(always)]
pub(crate) unsafe fn row_sums(p: &[__m256i; 8]) -> __m256i {
    // Within each 128-bit half: [a0+a2, b0+b2, a1+a3, b1+b3] for a pair of
    // rows, then [a, b, c, d] for four.
    let pair = |a: __m256i, b: __m256i| {
        _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b))
    };
    let four = |ab: __m256i, cd: __m256i| {
        _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd))
    };
    let r0123 = four(pair(p[0], p[1]), pair(p[2], p[3]));
    let r4567 = four(pair(p[4], p[5]), pair(p[6], p[7]));
    // Each row's two halves, added.
    let low = _mm256_permute2x128_si256(r0123, r4567, 0x20);
    let high = _mm256_permute2x128_si256(r0123, r4567, 0x31);
    _mm256_add_epi32(low, high)
}

/// Bytes `offset..offset + 4` of each of eight blocks, one per i32 lane.
/// At offset 0 these are the block's `d`, and `m` where the format has one
/// (every block starts with them).
#[inline(always)]
unsafe fn words_at<B>(blocks: &[*const B; ROWS], offset: usize) -> __m256i {
    let word = |r: usize| {
        let p = blocks[r].cast::<u8>().add(offset);
        _mm_cvtsi32_si128(p.cast::<i32>().read_unaligned())
    };
    let w01 = _mm_unpacklo_epi32(word(0), word(1));
    let w23 = _mm_unpacklo_epi32(word(2), word(3));
    let w45 = _mm_unpacklo_epi32(word(4), word(5));
    let w67 = _mm_unpacklo_epi32(word(6), word(7));
    _mm256_set_m128i(_mm_unpacklo_epi64(w45, w67), _mm_unpacklo_epi64(w01, w23))
}

/// The low (`HIGH = false`) or high f16 of each i32 lane, as f32 (F16C).
#[inline(always)]
unsafe fn halves_to_f32<const HIGH: bool>(words: __m256i) -> __m256 {
    let pick = if HIGH {
        _mm256_setr_epi8(
            2, 3, 6, 7, 10, 11, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, 2, 3, 6, 7, 10, 11, 14, 15,
            -1, -1, -1, -1, -1, -1, -1, -1,
        )
    } else {
        _mm256_setr_epi8(
            0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5, 8, 9, 12, 13, -1,
            -1, -1, -1, -1, -1, -1, -1,
        )
    };
    // Each half's four words sit in its low eight bytes; join the halves.
    let packed = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(words, pick), 0b1000);
    _mm256_cvtph_ps(_mm256_castsi256_si128(packed))
}

/// The sums of up to eight consecutive weight rows (`rows` of them, each
/// `x.len()` units, in `w`) with the activations `x`, row `r` in lane `r`
/// (lanes past the last row repeat it).
///
/// Eight rows read side by side are eight short streams, too many for the
/// hardware prefetchers to follow in time, so this prefetches the next
/// eight rows (`next`, which may lie past the weights: a prefetch never
/// faults) as one sequential stream, an eighth of them per block, spread
/// over the block's units (IQ4_XS's 17 lines at once, at the start of each
/// block, held it at about 60% of the read bandwidth).
#[inline(always)]
pub(crate) unsafe fn dot_rows8<B: Lanes, M: MulSum>(
    w: &[B],
    rows: usize,
    x: &[BlockQ8A],
    next: *const u8,
) -> __m256 {
    let per_row = x.len() / B::UNITS;
    assert!(rows >= 1 && w.len() >= rows * per_row && per_row * B::UNITS == x.len());
    let start: [*const B; ROWS] =
        std::array::from_fn(|r| w.as_ptr().add(per_row * r.min(rows - 1)));
    let step_bytes = ROWS * std::mem::size_of::<B>();
    let lines = (step_bytes + 63).div_ceil(64);
    // -0.0: what a float `sum()` starts from.
    let mut acc = _mm256_set1_ps(-0.0);
    for (b, x) in x.chunks_exact(B::UNITS).enumerate() {
        let ahead = next.wrapping_add(b * step_bytes);
        // SAFETY: block b of a row that `w` holds (checked above).
        let blocks: [*const B; ROWS] = std::array::from_fn(|r| start[r].add(b));
        let head = words_at(&blocks, 0);
        let d = halves_to_f32::<false>(head);
        let m = match B::STEP {
            Step::Min => halves_to_f32::<true>(head),
            _ => _mm256_setzero_ps(),
        };
        let unit_d = B::unit_d(&blocks, d);
        for (u, a) in x.iter().enumerate() {
            // This unit's share of the lines to prefetch.
            for line in (u * lines / B::UNITS)..((u + 1) * lines / B::UNITS) {
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line).cast());
            }
            let av = _mm256_loadu_si256(a.qs.as_ptr().cast());
            let mut p = [_mm256_setzero_si256(); ROWS];
            let sums = if offset_weights::<B, M>() {
                for r in 0..ROWS {
                    let codes = (*blocks[r]).offset_codes(u);
                    p[r] = M::dot4(codes, av);
                }
                _mm256_sub_epi32(row_sums(&p), _mm256_set1_epi32(128 * a.sum))
            } else {
                for r in 0..ROWS {
                    p[r] = block_dot::<B, M>(_mm256_setzero_si256(), (*blocks[r]).codes(u), av);
                }
                row_sums(&p)
            };
            let sums = _mm256_cvtepi32_ps(sums);
            acc = step::<B>(acc, unit_d[u], m, a, sums);
        }
    }
    acc
}

/// Whether the kernels offset `B`'s signed weights by 128 into u8 (a
/// multiply-add that takes any u8 exactly, VNNI's) rather than lending
/// their signs to the activations: the offset's share, `128 Σ a`, comes off
/// each block's sum at once, where the sign takes two instructions per step
/// (`abs` and `sign`).
fn offset_weights<B: Lanes, M: MulSum>() -> bool {
    matches!(B::STEP, Step::Plain) && M::WIDE_U8
}

/// Pack `rows` (whole rows of `per_row` blocks, at most [`ROWS`] of them)
/// for [`gemm_8x4`], unit by unit.
#[inline(always)]
pub(crate) unsafe fn pack<B: Lanes, M: MulSum>(out: &mut PackedBlocks, rows: &[B], per_row: usize) {
    let n = rows.len() / per_row.max(1);
    assert!(n <= ROWS && n * per_row == rows.len(), "pack: {n} rows");
    out.reset(per_row * B::UNITS);
    for (r, row) in rows.chunks_exact(per_row.max(1)).enumerate() {
        for (b, block) in row.iter().enumerate() {
            let (d, m) = block.d_m();
            let (d, m) = (f16_bits_to_f32(d), f16_bits_to_f32(m));
            for u in 0..B::UNITS {
                let i = b * B::UNITS + u;
                let mut words = [0u32; 8];
                let codes = if offset_weights::<B, M>() {
                    block.offset_codes(u)
                } else {
                    block.codes(u)
                };
                _mm256_storeu_si256(words.as_mut_ptr().cast(), codes);
                let codes = &mut out.codes[i * 256..][..256];
                for (g, word) in words.iter().enumerate() {
                    codes[32 * g + 4 * r..][..4].copy_from_slice(&word.to_le_bytes());
                }
                out.d[i * ROWS + r] = if B::UNITS == 1 {
                    d
                } else {
                    d * block.unit_scale(u)
                };
                out.m[i * ROWS + r] = m;
            }
        }
    }
}

/// An f16 bit pattern as f32 (exact).
fn f16_bits_to_f32(bits: u16) -> f32 {
    crate::quant::f16_to_f32(half::f16::from_bits(bits))
}

/// The 4-byte activation word at `p`, in every lane.
#[inline(always)]
unsafe fn broadcast_word(p: *const i8) -> __m256i {
    _mm256_set1_epi32(p.cast::<i32>().read_unaligned())
}

/// `out[t][r] = row r · x[t]` for the eight packed rows and four tokens.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the four tokens are indexed in step
pub(crate) unsafe fn gemm_8x4<B: Lanes, M: MulSum>(
    p: &PackedBlocks,
    x: [&[BlockQ8A]; 4],
    out: &mut [[f32; ROWS]; 4],
) {
    let units = p.units();
    let x = [
        &x[0][..units],
        &x[1][..units],
        &x[2][..units],
        &x[3][..units],
    ];
    let mut acc = [_mm256_set1_ps(-0.0); 4];
    for i in 0..units {
        let codes = p.codes[i * 256..][..256].as_ptr();
        let mut w = [_mm256_setzero_si256(); 8];
        for (k, w) in w.iter_mut().enumerate() {
            *w = _mm256_loadu_si256(codes.add(32 * k).cast());
        }
        let d = _mm256_loadu_ps(p.d[i * ROWS..][..ROWS].as_ptr());
        let m = _mm256_loadu_ps(p.m[i * ROWS..][..ROWS].as_ptr());
        for t in 0..4 {
            let a = &x[t][i];
            let q = a.qs.as_ptr();
            // Two chains, so that consecutive steps do not wait on each other.
            let mut sum = [_mm256_setzero_si256(); 2];
            let sums = if offset_weights::<B, M>() {
                for k in 0..8 {
                    sum[k % 2] = M::dot4_add(sum[k % 2], w[k], broadcast_word(q.add(4 * k)));
                }
                let offset = _mm256_set1_epi32(128 * a.sum);
                _mm256_sub_epi32(_mm256_add_epi32(sum[0], sum[1]), offset)
            } else {
                for k in 0..8 {
                    let a = broadcast_word(q.add(4 * k));
                    sum[k % 2] = block_dot::<B, M>(sum[k % 2], w[k], a);
                }
                _mm256_add_epi32(sum[0], sum[1])
            };
            let sums = _mm256_cvtepi32_ps(sums);
            acc[t] = step::<B>(acc[t], d, m, a, sums);
        }
    }
    for t in 0..4 {
        _mm256_storeu_ps(out[t].as_mut_ptr(), acc[t]);
    }
}
