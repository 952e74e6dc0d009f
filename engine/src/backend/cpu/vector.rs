//! f32 vector primitives shared by the float kernels: a vectorisable `exp`,
//! dot products, scaled accumulation and a softmax row.
//!
//! The portable versions are plain loops over 8-lane chunks, which the
//! compiler turns into SSE / AVX / wasm simd128 code. Explicit AVX2 and
//! AVX-512 versions exist only for what attention and softmax spend their
//! time on. Every entry point takes the [`Isa`] to use, falling back to the
//! portable path when the CPU lacks it, so tests can run each path.

use super::simd::Isa;

/// Lanes the portable loops are written for (one AVX register of f32).
const LANES: usize = 8;

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split in two so that `n * LN2_HI` is exact for the `n` we meet.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
// Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low
// mantissa bits, without a rounding instruction the baseline target lacks.
const ROUND_MAGIC: f32 = 12_582_912.0;
/// Below this `exp` underflows to subnormals; we return 0 instead.
const EXP_MIN: f32 = -87.3;
/// Above this `2^n` would not fit the exponent; we return infinity.
const EXP_MAX: f32 = 88.3;
// Taylor coefficients of e^r on |r| <= ln2 / 2; the degree-6 remainder is
// below 1.2e-7 relative there, about one f32 rounding.
const C: [f32; 7] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
];

/// e^x to within a few ulp for x in [-87.3, 88.3]; 0 below, infinity above.
/// Branch-free, so loops calling it vectorise (libm's `expf` does not).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let xc = x.clamp(EXP_MIN, EXP_MAX);
    let t = xc * LOG2E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let p = C[0] + r * (C[1] + r * (C[2] + r * (C[3] + r * (C[4] + r * (C[5] + r * C[6])))));
    // The integer n sits in t's low bits; move n + 127 into the exponent.
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32);
    let scale = f32::from_bits((n_int.wrapping_add(127) as u32) << 23);
    let y = p * scale;
    if x < EXP_MIN {
        0.0
    } else if x > EXP_MAX {
        f32::INFINITY
    } else {
        y
    }
}

/// The best of `isa` and what the CPU can run.
fn usable(isa: Isa) -> Isa {
    if isa.is_supported() {
        isa
    } else {
        Isa::Portable
    }
}

/// a · b over the shorter of the two.
pub fn dot(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    match usable(isa) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked the CPU has the features.
        Isa::Avx512 | Isa::Avx512Vnni => unsafe { x86::dot_avx512(a, b) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::dot_avx2(a, b) },
        _ => dot_portable(a, b),
    }
}

/// `out[j] = scale * (q · rows[j])` where row j is `rows[j * stride..][..q.len()]`.
/// `rows` must hold `out.len()` rows; attention's scores over a strided cache.
pub fn dots(isa: Isa, q: &[f32], rows: &[f32], stride: usize, scale: f32, out: &mut [f32]) {
    dots_many(isa, &[q], rows, stride, scale, &mut [out]);
}

/// [`dots`] for several queries over the same rows (the query heads that
/// share one kv head): each row is fetched once and meets every query while
/// it is in L1. Each score is computed exactly as [`dots`] computes it.
pub fn dots_many(
    isa: Isa,
    qs: &[&[f32]],
    rows: &[f32],
    stride: usize,
    scale: f32,
    outs: &mut [&mut [f32]],
) {
    let Some(first) = outs.first() else {
        return;
    };
    let (n, d) = (first.len(), qs.first().map_or(0, |q| q.len()));
    assert!(
        qs.len() == outs.len()
            && outs.iter().all(|o| o.len() == n)
            && qs.iter().all(|q| q.len() == d),
        "dots_many: queries and outputs disagree"
    );
    assert!(
        n == 0 || rows.len() >= (n - 1) * stride + d,
        "dots: rows too short"
    );
    match usable(isa) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked the CPU has the features.
        Isa::Avx512 | Isa::Avx512Vnni => unsafe { x86::dots_avx512(qs, rows, stride, scale, outs) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::dots_avx2(qs, rows, stride, scale, outs) },
        _ => {
            for j in 0..n {
                let row = &rows[j * stride..j * stride + d];
                for (q, o) in qs.iter().zip(outs.iter_mut()) {
                    o[j] = scale * dot_portable(q, row);
                }
            }
        }
    }
}

/// `out = Σ_j w[j] * rows[j]`, row j being `rows[j * stride..][..out.len()]`:
/// attention's probability-weighted sum of values.
pub fn weighted_sum(isa: Isa, w: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    weighted_sums(isa, &[w], rows, stride, &mut [out]);
}

/// [`weighted_sum`] for several weight vectors over the same rows, each
/// row fetched once for all of them; each output summed exactly as
/// [`weighted_sum`] sums it.
pub fn weighted_sums(
    isa: Isa,
    ws: &[&[f32]],
    rows: &[f32],
    stride: usize,
    outs: &mut [&mut [f32]],
) {
    let Some(first) = ws.first() else {
        return;
    };
    let (n, d) = (first.len(), outs.first().map_or(0, |o| o.len()));
    assert!(
        ws.len() == outs.len()
            && ws.iter().all(|w| w.len() == n)
            && outs.iter().all(|o| o.len() == d),
        "weighted_sums: weights and outputs disagree"
    );
    assert!(
        n == 0 || rows.len() >= (n - 1) * stride + d,
        "weighted_sums: rows too short"
    );
    for o in outs.iter_mut() {
        o.fill(0.0);
    }
    match usable(isa) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable` checked the CPU has the features.
        Isa::Avx512 | Isa::Avx512Vnni => unsafe {
            x86::weighted_sums_avx512(ws, rows, stride, outs)
        },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::weighted_sums_avx2(ws, rows, stride, outs) },
        _ => {
            for j in 0..n {
                let row = &rows[j * stride..j * stride + d];
                for (w, o) in ws.iter().zip(outs.iter_mut()) {
                    axpy_portable(w[j], row, o);
                }
            }
        }
    }
}

/// Numerically stable softmax of one row, in place. A row with no finite
/// maximum (all -inf: nothing visible) becomes all zeros rather than NaN.
pub fn softmax(isa: Isa, x: &mut [f32]) {
    let max = max_portable(x);
    if max == f32::NEG_INFINITY || max.is_nan() {
        let fill = if max.is_nan() { f32::NAN } else { 0.0 };
        x.fill(fill);
        return;
    }
    let isa = usable(isa);
    // Each block's lanes sum in f32 (at most SUM_BLOCK / 8 additions per
    // lane, so a relative error of about 32 ulp at worst), and the blocks
    // add up in f64: a 262,144-token vocabulary's sum is as accurate as a
    // short row's, and every SIMD path agrees with an f64 softmax to well
    // within 1e-5 (one long f32 sum per lane drifted by 2e-5 on AVX2).
    let mut sum = 0f64;
    for block in x.chunks_mut(SUM_BLOCK) {
        sum += match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `usable` checked the CPU has the features.
            Isa::Avx512 | Isa::Avx512Vnni => unsafe { x86::exp_sub_sum_avx512(block, max) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::exp_sub_sum_avx2(block, max) },
            _ => exp_sub_sum_portable(block, max),
        } as f64;
    }
    let inv = 1.0 / sum as f32;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// Elements whose exponentials [`softmax`] sums in f32 before adding the
/// block's sum to an f64 total.
const SUM_BLOCK: usize = 256;

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn axpy_portable(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// The largest element (NaN if any is NaN; -inf for an empty row).
fn max_portable(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let mut m = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| fmax(m, v));
    for c in chunks {
        for l in 0..LANES {
            acc[l] = fmax(acc[l], c[l]);
        }
    }
    for a in acc {
        m = fmax(m, a);
    }
    m
}

/// max that propagates NaN (f32::max would hide it).
#[inline(always)]
fn fmax(a: f32, b: f32) -> f32 {
    if a > b || a.is_nan() {
        a
    } else {
        b
    }
}

/// x[i] = e^(x[i] - max); returns the sum.
fn exp_sub_sum_portable(x: &mut [f32], max: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = x.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            c[l] = exp(c[l] - max);
            acc[l] += c[l];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for v in chunks.into_remainder() {
        *v = exp(*v - max);
        sum += *v;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The explicit AVX2 / AVX-512 paths. Each mirrors its portable twin
    //! (same exp polynomial), processing the tail with the scalar code.
    use super::*;
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn dot_avx2_body(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        // Two accumulators hide the FMA latency.
        while i + 16 <= n {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
            s1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                s1,
            );
            i += 16;
        }
        if i + 8 <= n {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
            i += 8;
        }
        let mut sum = hsum256(_mm256_add_ps(s0, s1));
        for j in i..n {
            sum += a[j] * b[j];
        }
        sum
    }

    #[inline(always)]
    unsafe fn dot_avx512_body(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut s0, mut s1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let mut i = 0;
        while i + 32 <= n {
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), s0);
            s1 = _mm512_fmadd_ps(
                _mm512_loadu_ps(pa.add(i + 16)),
                _mm512_loadu_ps(pb.add(i + 16)),
                s1,
            );
            i += 32;
        }
        // The rest (0..31 elements) with masked loads: no scalar tail.
        while i < n {
            let m = tail_mask(n - i);
            let x = _mm512_maskz_loadu_ps(m, pa.add(i));
            let y = _mm512_maskz_loadu_ps(m, pb.add(i));
            s0 = _mm512_fmadd_ps(x, y, s0);
            i += 16;
        }
        _mm512_reduce_add_ps(_mm512_add_ps(s0, s1))
    }

    #[inline(always)]
    unsafe fn axpy_avx2_body(alpha: f32, x: &[f32], y: &mut [f32]) {
        let n = x.len().min(y.len());
        let a = _mm256_set1_ps(alpha);
        let (px, py) = (x.as_ptr(), y.as_mut_ptr());
        let mut i = 0;
        while i + 8 <= n {
            let v = _mm256_fmadd_ps(a, _mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i)));
            _mm256_storeu_ps(py.add(i), v);
            i += 8;
        }
        for j in i..n {
            y[j] += alpha * x[j];
        }
    }

    #[inline(always)]
    unsafe fn axpy_avx512_body(alpha: f32, x: &[f32], y: &mut [f32]) {
        let n = x.len().min(y.len());
        let a = _mm512_set1_ps(alpha);
        let (px, py) = (x.as_ptr(), y.as_mut_ptr());
        let mut i = 0;
        while i < n {
            let m = tail_mask(n - i);
            let v = _mm512_fmadd_ps(
                a,
                _mm512_maskz_loadu_ps(m, px.add(i)),
                _mm512_maskz_loadu_ps(m, py.add(i)),
            );
            _mm512_mask_storeu_ps(py.add(i), m, v);
            i += 16;
        }
    }

    // The bodies above inline into these loops (a `#[target_feature]`
    // function called once per key row would cost a call per 64 elements).

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        dot_avx2_body(a, b)
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        dot_avx512_body(a, b)
    }

    /// [`super::dots_many`]' loops on AVX2.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dots_avx2(
        qs: &[&[f32]],
        rows: &[f32],
        stride: usize,
        scale: f32,
        outs: &mut [&mut [f32]],
    ) {
        let (n, d) = (outs[0].len(), qs[0].len());
        for j in 0..n {
            let row = &rows[j * stride..j * stride + d];
            for (q, o) in qs.iter().zip(outs.iter_mut()) {
                o[j] = scale * dot_avx2_body(q, row);
            }
        }
    }

    /// [`super::dots_many`]' loops on AVX-512.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dots_avx512(
        qs: &[&[f32]],
        rows: &[f32],
        stride: usize,
        scale: f32,
        outs: &mut [&mut [f32]],
    ) {
        let (n, d) = (outs[0].len(), qs[0].len());
        for j in 0..n {
            let row = &rows[j * stride..j * stride + d];
            for (q, o) in qs.iter().zip(outs.iter_mut()) {
                o[j] = scale * dot_avx512_body(q, row);
            }
        }
    }

    /// [`super::weighted_sums`]' loops on AVX2.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn weighted_sums_avx2(
        ws: &[&[f32]],
        rows: &[f32],
        stride: usize,
        outs: &mut [&mut [f32]],
    ) {
        let (n, d) = (ws[0].len(), outs[0].len());
        for j in 0..n {
            let row = &rows[j * stride..j * stride + d];
            for (w, o) in ws.iter().zip(outs.iter_mut()) {
                axpy_avx2_body(w[j], row, o);
            }
        }
    }

    /// [`super::weighted_sums`]' loops on AVX-512.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn weighted_sums_avx512(
        ws: &[&[f32]],
        rows: &[f32],
        stride: usize,
        outs: &mut [&mut [f32]],
    ) {
        let (n, d) = (ws[0].len(), outs[0].len());
        for j in 0..n {
            let row = &rows[j * stride..j * stride + d];
            for (w, o) in ws.iter().zip(outs.iter_mut()) {
                axpy_avx512_body(w[j], row, o);
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp_sub_sum_avx2(x: &mut [f32], max: f32) -> f32 {
        let n = x.len();
        let p = x.as_mut_ptr();
        let m = _mm256_set1_ps(max);
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        while i + 8 <= n {
            let e = exp256(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), m));
            _mm256_storeu_ps(p.add(i), e);
            acc = _mm256_add_ps(acc, e);
            i += 8;
        }
        let mut sum = hsum256(acc);
        for v in &mut x[i..] {
            *v = exp(*v - max);
            sum += *v;
        }
        sum
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn exp_sub_sum_avx512(x: &mut [f32], max: f32) -> f32 {
        let n = x.len();
        let p = x.as_mut_ptr();
        let m = _mm512_set1_ps(max);
        let mut acc = _mm512_setzero_ps();
        let mut i = 0;
        while i < n {
            let k = tail_mask(n - i);
            let e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, p.add(i)), m));
            _mm512_mask_storeu_ps(p.add(i), k, e);
            // Masked-off lanes hold e^(0 - max); leave them out of the sum.
            acc = _mm512_mask_add_ps(acc, k, acc, e);
            i += 16;
        }
        _mm512_reduce_add_ps(acc)
    }

    /// A mask of the first min(left, 16) lanes.
    #[inline(always)]
    fn tail_mask(left: usize) -> __mmask16 {
        if left >= 16 {
            0xFFFF
        } else {
            (1u16 << left) - 1
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum256(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// [`super::exp`] on 8 lanes.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp256(x: __m256) -> __m256 {
        let xc = _mm256_min_ps(
            _mm256_max_ps(x, _mm256_set1_ps(EXP_MIN)),
            _mm256_set1_ps(EXP_MAX),
        );
        let n = _mm256_round_ps(
            _mm256_mul_ps(xc, _mm256_set1_ps(LOG2E)),
            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), xc);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
        let mut p = _mm256_set1_ps(C[6]);
        for c in [C[5], C[4], C[3], C[2], C[1], C[0]] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        let e = _mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
            23,
        );
        let y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
        let under = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_MIN), _CMP_LT_OQ);
        let over = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_MAX), _CMP_GT_OQ);
        let y = _mm256_andnot_ps(under, y);
        _mm256_blendv_ps(y, _mm256_set1_ps(f32::INFINITY), over)
    }

    /// [`super::exp`] on 16 lanes.
    #[target_feature(enable = "avx512f")]
    unsafe fn exp512(x: __m512) -> __m512 {
        let xc = _mm512_min_ps(
            _mm512_max_ps(x, _mm512_set1_ps(EXP_MIN)),
            _mm512_set1_ps(EXP_MAX),
        );
        let n = _mm512_roundscale_ps(
            _mm512_mul_ps(xc, _mm512_set1_ps(LOG2E)),
            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
        );
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), xc);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut p = _mm512_set1_ps(C[6]);
        for c in [C[5], C[4], C[3], C[2], C[1], C[0]] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        let e = _mm512_slli_epi32(
            _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)),
            23,
        );
        let y = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
        let under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_MIN), _CMP_LT_OQ);
        let over = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_MAX), _CMP_GT_OQ);
        let y = _mm512_mask_mov_ps(y, under, _mm512_setzero_ps());
        _mm512_mask_mov_ps(y, over, _mm512_set1_ps(f32::INFINITY))
    }
}
