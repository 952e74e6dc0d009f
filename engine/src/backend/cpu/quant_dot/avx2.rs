//! AVX2 + FMA + F16C dot products, 32 elements (one Q8A block) per step.
//!
//! Each weight block becomes unsigned or signed bytes next to the 32
//! activation bytes; `MulSum::dot4` multiplies u8 × i8 and adds groups of
//! four into eight i32 lanes (`maddubs` + `madd` here, one `vpdpbusd` with
//! VNNI), and the block's float scale is applied with one FMA.
//!
//! The per-block float work is kept to a handful of vector instructions:
//! F16C converts weight scales, and a 2-lane multiply `[dw, mw] × [da, sa]`
//! yields both the scale of the integer dot product (lane 0, broadcast into
//! the FMA) and the weight-offset term (lane 1, summed in a side
//! accumulator), where `sa = da Σ a` comes precomputed with the activations.
//!
//! The bodies are generic and `#[inline(always)]`; the `#[target_feature]`
//! row functions that [`row_kernels!`] generates give them their ISA, here
//! and in `avx512.rs`.

use crate::quant::iq4_nl::GRID;
use crate::quant::iq4_xs;
use crate::quant::{BlockIQ4NL, BlockIQ4XS, BlockQ5_0, BlockQ5_1};
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ8A, BlockQ8_0};
use std::arch::x86_64::*;

/// u8 × i8 products of 32 bytes, summed in groups of four into i32 lanes.
pub trait MulSum {
    /// # Safety
    /// The CPU must support the instructions the implementation uses.
    unsafe fn dot4(u: __m256i, s: __m256i) -> __m256i;

    /// `acc + madd(maddubs(u, s), words)`: products summed in pairs, each
    /// pair times its i16 word, summed again in pairs onto `acc`. The pair
    /// sums must fit in i16 (codes of at most six bits do).
    ///
    /// # Safety
    /// As for [`MulSum::dot4`].
    unsafe fn scaled(acc: __m256i, u: __m256i, s: __m256i, words: __m256i) -> __m256i;

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
    #[inline(always)]
    unsafe fn dot4(u: __m256i, s: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
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

#[inline(always)]
unsafe fn activations(a: &BlockQ8A) -> __m256i {
    _mm256_loadu_si256(a.qs.as_ptr().cast())
}

/// `[da, sa, 0, 0]`: an activation block's scale and scaled sum (one load).
#[inline(always)]
unsafe fn scale_sum(a: &BlockQ8A) -> __m128 {
    _mm_castsi128_ps(_mm_loadl_epi64((a as *const BlockQ8A).cast()))
}

/// `[h0, h1, 0, 0]`: two adjacent f16 at `p` as f32 (F16C).
#[inline(always)]
pub(crate) unsafe fn two_f16(p: *const u8) -> __m128 {
    _mm_cvtph_ps(_mm_cvtsi32_si128(p.cast::<i32>().read_unaligned()))
}

/// An f16 as f32 in every lane (F16C).
#[inline(always)]
pub(crate) unsafe fn splat_f16(h: half::f16) -> __m128 {
    _mm_cvtph_ps(_mm_set1_epi16(h.to_bits() as i16))
}

/// 16 bytes of nibbles as 32 bytes: low nibbles, then high nibbles. The
/// load copies the bytes into both halves (no shuffle needed) and one
/// variable shift moves only the upper half's high nibbles down.
#[inline(always)]
unsafe fn nibbles(qs: &[u8; 16]) -> __m256i {
    let v = _mm256_broadcastsi128_si256(_mm_loadu_si128(qs.as_ptr().cast()));
    let shifted = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
    _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F))
}

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
}

/// A row's running sums: `main` holds eight lanes of scaled integer dot
/// products; lane 1 of `side` holds the weight-offset terms (lane 0 picks
/// up the scales that were multiplied alongside them and is ignored).
#[derive(Clone, Copy)]
pub(crate) struct Acc {
    main: __m256,
    side: __m128,
}

impl Acc {
    #[inline(always)]
    unsafe fn zero() -> Self {
        Acc {
            main: _mm256_setzero_ps(),
            side: _mm_setzero_ps(),
        }
    }

    /// `main += lane 0 of scales × p`, `side += scales`.
    #[inline(always)]
    unsafe fn add(&mut self, scales: __m128, p: __m256i) {
        self.add_main(scales, p);
        self.side = _mm_add_ps(self.side, scales);
    }

    /// `main += lane 0 of scales × p`, for formats without an offset.
    #[inline(always)]
    unsafe fn add_main(&mut self, scales: __m128, p: __m256i) {
        let scale = _mm256_broadcastss_ps(scales);
        self.main = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(p), self.main);
    }

    #[inline(always)]
    unsafe fn merge(self, other: Acc) -> Acc {
        Acc {
            main: _mm256_add_ps(self.main, other.main),
            side: _mm_add_ps(self.side, other.side),
        }
    }
}

/// One weight block's contribution to a row's sums. (A trait, not a
/// closure: closures would not inherit the caller's target features, and
/// every intrinsic in them would become a call.)
pub(crate) trait Term: Sized {
    /// Activation blocks per weight block.
    const PER: usize;
    /// What the side sum is multiplied by in the end (0: it holds no
    /// offset terms).
    const SIDE: f32;
    /// # Safety
    /// The CPU must support AVX2, FMA, F16C and what `M` uses; `x` holds
    /// `PER` blocks.
    unsafe fn add<M: MulSum>(&self, x: &[BlockQ8A], acc: &mut Acc);
}

/// Σ over all blocks of `w`, alternating between two accumulators so that
/// consecutive blocks' FMAs do not wait for each other.
#[inline(always)]
pub(crate) unsafe fn dot<B: Term, M: MulSum>(w: &[B], x: &[BlockQ8A]) -> f32 {
    let mut acc = [Acc::zero(); 2];
    let mut ws = w.chunks_exact(2);
    let mut xs = x.chunks_exact(2 * B::PER);
    for (w, x) in (&mut ws).zip(&mut xs) {
        let (x0, x1) = x.split_at(B::PER);
        w[0].add::<M>(x0, &mut acc[0]);
        w[1].add::<M>(x1, &mut acc[1]);
    }
    if let [last] = ws.remainder() {
        last.add::<M>(xs.remainder(), &mut acc[0]);
    }
    let acc = acc[0].merge(acc[1]);
    let side = _mm_cvtss_f32(_mm_movehdup_ps(acc.side));
    hsum(acc.main) + B::SIDE * side
}

/// A weight block decoded once to meet several activation blocks (prefill
/// multiplies each weight block by many tokens' activations).
pub(crate) trait Ready: Term {
    /// The block's integer operand and scales, as registers.
    type Decoded: Copy;
    /// # Safety
    /// As for [`Term::add`].
    unsafe fn decode(&self) -> Self::Decoded;
    /// What [`Term::add`] adds, from the decoded block.
    /// # Safety
    /// As for [`Term::add`].
    unsafe fn add_decoded<M: MulSum>(w: Self::Decoded, a: &BlockQ8A, acc: &mut Acc);
}

/// [`dot`] of one weight row with four activation rows at once, each
/// summed exactly as `dot` sums it (the same two alternating accumulators,
/// merged the same way), so prefill and decode give identical numbers.
#[inline(always)]
pub(crate) unsafe fn dot4x<B: Ready, M: MulSum>(w: &[B], x: [&[BlockQ8A]; 4]) -> [f32; 4] {
    let n = w.len();
    let x = [&x[0][..n], &x[1][..n], &x[2][..n], &x[3][..n]];
    // Constant indices only, so that all eight accumulators stay in registers.
    let mut acc = [[Acc::zero(); 2]; 4];
    let mut pairs = w.chunks_exact(2);
    let mut i = 0;
    for pair in &mut pairs {
        let (d0, d1) = (pair[0].decode(), pair[1].decode());
        for j in 0..4 {
            B::add_decoded::<M>(d0, &x[j][i], &mut acc[j][0]);
            B::add_decoded::<M>(d1, &x[j][i + 1], &mut acc[j][1]);
        }
        i += 2;
    }
    if let [last] = pairs.remainder() {
        let d = last.decode();
        for j in 0..4 {
            B::add_decoded::<M>(d, &x[j][i], &mut acc[j][0]);
        }
    }
    // A loop, not `acc.map(..)`: a closure would not inherit the target
    // features, and every intrinsic in it would become a call.
    let mut out = [0f32; 4];
    for j in 0..4 {
        let sum = acc[j][0].merge(acc[j][1]);
        let side = _mm_cvtss_f32(_mm_movehdup_ps(sum.side));
        out[j] = hsum(sum.main) + B::SIDE * side;
    }
    out
}

impl Ready for BlockQ8_0 {
    type Decoded = (__m256i, __m256i, __m128);
    #[inline(always)]
    unsafe fn decode(&self) -> Self::Decoded {
        let wq = _mm256_loadu_si256(self.qs.as_ptr().cast());
        (_mm256_abs_epi8(wq), wq, splat_f16(self.d))
    }
    #[inline(always)]
    unsafe fn add_decoded<M: MulSum>((abs, wq, d): Self::Decoded, a: &BlockQ8A, acc: &mut Acc) {
        let p = M::dot4(abs, _mm256_sign_epi8(activations(a), wq));
        acc.add_main(_mm_mul_ss(d, _mm_load_ss(&a.d)), p);
    }
}

impl Ready for BlockQ4_0 {
    type Decoded = (__m256i, __m128);
    #[inline(always)]
    unsafe fn decode(&self) -> Self::Decoded {
        (nibbles(&self.qs), splat_f16(self.d))
    }
    #[inline(always)]
    unsafe fn add_decoded<M: MulSum>((q, d): Self::Decoded, a: &BlockQ8A, acc: &mut Acc) {
        let p = M::dot4(q, activations(a));
        acc.add(_mm_mul_ps(d, scale_sum(a)), p);
    }
}

impl Ready for BlockQ4_1 {
    type Decoded = (__m256i, __m128);
    #[inline(always)]
    unsafe fn decode(&self) -> Self::Decoded {
        (
            nibbles(&self.qs),
            two_f16((self as *const BlockQ4_1).cast()),
        )
    }
    #[inline(always)]
    unsafe fn add_decoded<M: MulSum>((q, dm): Self::Decoded, a: &BlockQ8A, acc: &mut Acc) {
        let p = M::dot4(q, activations(a));
        acc.add(_mm_mul_ps(dm, scale_sum(a)), p);
    }
}

/// Σ w a: the sign of w moves onto a so that the u8 operand is |w|.
impl Term for BlockQ8_0 {
    const PER: usize = 1;
    const SIDE: f32 = 0.0;
    #[inline(always)]
    unsafe fn add<M: MulSum>(&self, x: &[BlockQ8A], acc: &mut Acc) {
        let a = &x[0];
        let wq = _mm256_loadu_si256(self.qs.as_ptr().cast());
        let p = M::dot4(_mm256_abs_epi8(wq), _mm256_sign_epi8(activations(a), wq));
        acc.add_main(_mm_mul_ss(splat_f16(self.d), _mm_load_ss(&a.d)), p);
    }
}

/// d da Σ q a - 8 d sa (the side sum is scaled by -8).
impl Term for BlockQ4_0 {
    const PER: usize = 1;
    const SIDE: f32 = -8.0;
    #[inline(always)]
    unsafe fn add<M: MulSum>(&self, x: &[BlockQ8A], acc: &mut Acc) {
        let a = &x[0];
        let p = M::dot4(nibbles(&self.qs), activations(a));
        acc.add(_mm_mul_ps(splat_f16(self.d), scale_sum(a)), p);
    }
}

/// d da Σ q a + m sa: `[d, m] × [da, sa]` gives both terms' scales.
impl Term for BlockQ4_1 {
    const PER: usize = 1;
    const SIDE: f32 = 1.0;
    #[inline(always)]
    unsafe fn add<M: MulSum>(&self, x: &[BlockQ8A], acc: &mut Acc) {
        let a = &x[0];
        let p = M::dot4(nibbles(&self.qs), activations(a));
        let dm = two_f16((self as *const BlockQ4_1).cast());
        acc.add(_mm_mul_ps(dm, scale_sum(a)), p);
    }
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

/// The 32 five-bit codes of a Q5_0/Q5_1 block.
#[inline(always)]
unsafe fn five_bit_codes(qh: &[u8; 4], qs: &[u8; 16]) -> __m256i {
    _mm256_or_si256(nibbles(qs), fifth_bits(qh))
}

/// IQ4's sixteen levels in each 128-bit half, for `shuffle_epi8` lookups.
#[inline(always)]
unsafe fn iq4_grid() -> __m256i {
    _mm256_broadcastsi128_si256(_mm_loadu_si128(GRID.as_ptr().cast()))
}

/// Σ w a for signed weight bytes `w` (none -128): the sign moves onto a
/// so that the u8 operand is |w|, as for Q8_0.
#[inline(always)]
unsafe fn signed_dot<M: MulSum>(w: __m256i, a: __m256i) -> __m256i {
    M::dot4(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w))
}

impl Ready for BlockQ5_0 {
    type Decoded = (__m256i, __m128);
    #[inline(always)]
    unsafe fn decode(&self) -> Self::Decoded {
        (five_bit_codes(&self.qh, &self.qs), splat_f16(self.d))
    }
    #[inline(always)]
    unsafe fn add_decoded<M: MulSum>((q, d): Self::Decoded, a: &BlockQ8A, acc: &mut Acc) {
        acc.add(_mm_mul_ps(d, scale_sum(a)), M::dot4(q, activations(a)));
    }
}

/// d da Σ q a - 16 d sa (the side sum is scaled by -16).
impl Term for BlockQ5_0 {
    const PER: usize = 1;
    const SIDE: f32 = -16.0;
    #[inline(always)]
    unsafe fn add<M: MulSum>(&self, x: &[BlockQ8A], acc: &mut Acc) {
        Self::add_decoded::<M>(self.decode(), &x[0], acc);
    }
}

impl Ready for BlockQ5_1 {
    type Decoded = (__m256i, __m128);
    #[inline(always)]
    unsafe fn decode(&self) -> Self::Decoded {
        (
            five_bit_codes(&self.qh, &self.qs),
            two_f16((self as *const BlockQ5_1).cast()),
        )
    }
    #[inline(always)]
    unsafe fn add_decoded<M: MulSum>((q, dm): Self::Decoded, a: &BlockQ8A, acc: &mut Acc) {
        acc.add(_mm_mul_ps(dm, scale_sum(a)), M::dot4(q, activations(a)));
    }
}

/// d da Σ q a + m sa, as Q4_1.
impl Term for BlockQ5_1 {
    const PER: usize = 1;
    const SIDE: f32 = 1.0;
    #[inline(always)]
    unsafe fn add<M: MulSum>(&self, x: &[BlockQ8A], acc: &mut Acc) {
        Self::add_decoded::<M>(self.decode(), &x[0], acc);
    }
}

impl Ready for BlockIQ4NL {
    type Decoded = (__m256i, __m128);
    #[inline(always)]
    unsafe fn decode(&self) -> Self::Decoded {
        (
            _mm256_shuffle_epi8(iq4_grid(), nibbles(&self.qs)),
            splat_f16(self.d),
        )
    }
    #[inline(always)]
    unsafe fn add_decoded<M: MulSum>((w, d): Self::Decoded, a: &BlockQ8A, acc: &mut Acc) {
        let p = signed_dot::<M>(w, activations(a));
        acc.add_main(_mm_mul_ss(d, _mm_load_ss(&a.d)), p);
    }
}

/// d da Σ GRID[q] a: the nibbles look up their levels with one shuffle.
impl Term for BlockIQ4NL {
    const PER: usize = 1;
    const SIDE: f32 = 0.0;
    #[inline(always)]
    unsafe fn add<M: MulSum>(&self, x: &[BlockQ8A], acc: &mut Acc) {
        Self::add_decoded::<M>(self.decode(), &x[0], acc);
    }
}

/// Per sub-block j: d (ls_j - 32) da_j Σ GRID[q] a.
impl Term for BlockIQ4XS {
    const PER: usize = 8;
    const SIDE: f32 = 0.0;
    #[inline(always)]
    unsafe fn add<M: MulSum>(&self, x: &[BlockQ8A], acc: &mut Acc) {
        let x = &x[..8];
        let grid = iq4_grid();
        let d = crate::quant::f16_to_f32(self.d);
        let mut part = [Acc::zero(); 2];
        for (j, a) in x.iter().enumerate() {
            let qs: &[u8; 16] = self.qs[16 * j..][..16].try_into().unwrap();
            let w = _mm256_shuffle_epi8(grid, nibbles(qs));
            let p = signed_dot::<M>(w, activations(a));
            let scale = d * iq4_xs::sub_scale(self, j) as f32 * a.d;
            part[j % 2].add_main(_mm_set_ss(scale), p);
        }
        *acc = acc.merge(part[0].merge(part[1]));
    }
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
#[inline(always)]
pub(crate) unsafe fn pair_of(words: __m256i, b: usize) -> __m256i {
    _mm256_shuffle_epi8(
        words,
        _mm256_set1_epi16((2 * b as i16) | (2 * b as i16 + 1) << 8),
    )
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
        block.s = d * hsum(_mm256_cvtepi32_ps(sum));
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
/// rows inside `#[target_feature]` so that the generic bodies inline.
macro_rules! row_kernels {
    ($features:literal, $mul:ty) => {
        use crate::backend::cpu::quant_dot::avx2 as body;
        use crate::quant::*;
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_q5_0, BlockQ5_0, 1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_q5_1, BlockQ5_1, 1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_iq4_nl, BlockIQ4NL, 1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_iq4_xs, BlockIQ4XS, 8);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@k $features, $mul, rows_q2_k, BlockQ2K);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@k $features, $mul, rows_q3_k, BlockQ3K);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@k $features, $mul, rows_q5_k, BlockQ5K);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@four $features, $mul, rows4_q5_0, BlockQ5_0);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@four $features, $mul, rows4_q5_1, BlockQ5_1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@four $features, $mul, rows4_iq4_nl, BlockIQ4NL);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_q8_0, BlockQ8_0, 1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_q4_0, BlockQ4_0, 1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@one $features, $mul, rows_q4_1, BlockQ4_1, 1);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@k $features, $mul, rows_q4_k, BlockQ4K);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@k $features, $mul, rows_q6_k, BlockQ6K);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@four $features, $mul, rows4_q8_0, BlockQ8_0);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@four $features, $mul, rows4_q4_0, BlockQ4_0);
        $crate::backend::cpu::quant_dot::avx2::row_kernels!(@four $features, $mul, rows4_q4_1, BlockQ4_1);

        /// Eight packed K-quant rows times four tokens (prefill).
        ///
        /// # Safety
        /// The CPU must support this module's target features.
        #[target_feature(enable = $features)]
        pub unsafe fn gemm_k(
            p: &$crate::backend::cpu::quant_dot::packed::PackedRows,
            x: [&[BlockQ8K]; 4],
            out: &mut [[f32; 8]; 4],
        ) {
            $crate::backend::cpu::quant_dot::avx2_k::gemm_8x4::<$mul>(p, x, out)
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
                *y = $crate::backend::cpu::quant_dot::avx2_k::dot_k::<$block, $mul>(row, x);
            }
        }
    };
    (@four $features:literal, $mul:ty, $rows:ident, $block:ty) => {
        /// `y[4 r + j] = w_r · x_j` for four activation rows `x` (each
        /// `x.len() / 4` blocks, one after another).
        ///
        /// # Safety
        /// The CPU must support this module's target features.
        #[target_feature(enable = $features)]
        pub unsafe fn $rows(w: &[$block], x: &[BlockQ8A], y: &mut [f32]) {
            let per_row = x.len() / 4;
            let xs: Vec<&[BlockQ8A]> = x.chunks_exact(per_row).collect();
            let x4 = [xs[0], xs[1], xs[2], xs[3]];
            for (y, row) in y.chunks_exact_mut(4).zip(w.chunks_exact(per_row)) {
                y.copy_from_slice(&body::dot4x::<$block, $mul>(row, x4));
            }
        }
    };
    (@one $features:literal, $mul:ty, $rows:ident, $block:ty, $per:expr) => {
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
    super::row_kernels!("avx2,fma,f16c", super::Maddubs);
}
pub use kernels::*;
