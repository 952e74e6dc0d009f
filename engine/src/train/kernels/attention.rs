//! Causal multi-head self-attention over a batch of sequences.
//!
//! The input is one `[B·T, 3C]` activation holding each token's query, key
//! and value (the fused `c_attn` of GPT-2); head `h` owns columns
//! `h·D..(h+1)·D` of each. The output is `[B·T, C]`. The forward saves the
//! attention probabilities `[B, H, T, T]` for the backward pass. Each
//! (sequence, head) pair is independent and runs on its own thread, its
//! products through gemm on strided views of the shared activation.
//!
//! Causality halves the work: query rows go in blocks of [`BLOCK`], and a
//! block's products stop at the last key it may see, so the masked upper
//! triangle is (nearly) never computed.

use super::super::real::{gemm, gemm_strided, Mat, Op, Real};
use super::lanes;
use super::parallel::{self, Shared};
use crate::backend::cpu::simd::vectorized;

/// Query rows per block: small enough to skip most of the masked
/// triangle, large enough to keep gemm efficient.
pub const BLOCK: usize = 64;

/// Batch geometry.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    /// Model width C (= heads · head dim).
    pub width: usize,
}

impl Dims {
    fn head_dim(&self) -> usize {
        self.width / self.heads
    }
}

/// One (sequence, head) pair's strided views of the activations.
struct Head<'a, T> {
    q: &'a [T],
    k: &'a [T],
    v: &'a [T],
    /// Row stride of q, k and v (3C).
    stride: usize,
    d: usize,
}

impl<'a, T> Head<'a, T> {
    fn of(qkv: &'a [T], dims: Dims, b: usize, h: usize) -> Self {
        let (c, d) = (dims.width, dims.head_dim());
        let base = b * dims.seq * 3 * c + h * d;
        Head {
            q: &qkv[base..],
            k: &qkv[base + c..],
            v: &qkv[base + 2 * c..],
            stride: 3 * c,
            d,
        }
    }

    /// Rows `rows` of `x` (one of q, k, v) as a matrix.
    fn rows(&self, x: &'a [T], rows: std::ops::Range<usize>) -> Mat<'a, T> {
        Mat::strided(
            &x[rows.start * self.stride..],
            rows.len(),
            self.d,
            self.stride,
        )
    }
}

/// Runs `job(b, h)` for every (sequence, head) pair across the pool,
/// compiled for the CPU's widest SIMD.
#[inline(always)]
fn each_head(dims: Dims, job: impl Fn(usize, usize) + Sync) {
    parallel::for_each(dims.batch * dims.heads, &|p| {
        vectorized(
            #[inline(always)]
            || job(p / dims.heads, p % dims.heads),
        )
    });
}

/// The query blocks of a sequence of `t`: each block's rows, which see the
/// keys `0..rows.end`.
fn blocks(t: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..t).step_by(BLOCK).map(move |r0| r0..(r0 + BLOCK).min(t))
}

/// `row[..=i]` ← softmax(`row[..=i]` · scale), and zeros after it.
#[inline(always)]
fn causal_softmax<T: Real>(row: &mut [T], i: usize, scale: T) {
    let (seen, masked) = row.split_at_mut(i + 1);
    let max = seen.iter().copied().fold(seen[0], T::max);
    seen.iter_mut()
        .for_each(|s| *s = ((*s - max) * scale).exp());
    let inverse = T::of(1.0) / lanes::sum(seen);
    seen.iter_mut().for_each(|s| *s *= inverse);
    masked.iter_mut().for_each(|s| *s = T::default());
}

/// `out` and `probs` from `qkv`.
pub fn forward<T: Real>(qkv: &[T], dims: Dims, out: &mut [T], probs: &mut [T]) {
    let (t, c, d) = (dims.seq, dims.width, dims.head_dim());
    let scale = T::of(1.0 / (d as f64).sqrt());
    let (out_s, probs_s) = (Shared::new(out), Shared::new(probs));
    each_head(
        dims,
        #[inline(always)]
        |b, h| {
            let head = Head::of(qkv, dims, b, h);
            // SAFETY: block (b, h) of probs belongs to this job alone.
            let p = unsafe { probs_s.range((b * dims.heads + h) * t * t, t * t) };
            let mut o = vec![T::default(); t * d];
            for rows in blocks(t) {
                let seen = rows.end;
                // S = Q·Kᵀ for these rows and the keys they see, then P.
                let q = head.rows(head.q, rows.clone());
                let k = head.rows(head.k, 0..seen);
                gemm_strided(q, Op::N, k, Op::T, &mut p[rows.start * t..], t, false);
                for i in rows.clone() {
                    causal_softmax(&mut p[i * t..(i + 1) * t], i, scale);
                }
                // O = P·V.
                let p_rows = Mat::strided(&p[rows.start * t..], rows.len(), seen, t);
                let v = head.rows(head.v, 0..seen);
                gemm(
                    p_rows,
                    Op::N,
                    v,
                    Op::N,
                    &mut o[rows.start * d..rows.end * d],
                    false,
                );
            }
            for i in 0..t {
                // SAFETY: head h's columns of sequence b's rows belong to this
                // job alone.
                let dst = unsafe { out_s.range((b * t + i) * c + h * d, d) };
                dst.copy_from_slice(&o[i * d..(i + 1) * d]);
            }
        },
    );
}

/// Adds the gradient of `qkv` given `dout` and the saved `probs`.
pub fn backward<T: Real>(dout: &[T], qkv: &[T], probs: &[T], dims: Dims, dqkv: &mut [T]) {
    let (t, c, d) = (dims.seq, dims.width, dims.head_dim());
    let scale = T::of(1.0 / (d as f64).sqrt());
    let dqkv_s = Shared::new(dqkv);
    each_head(
        dims,
        #[inline(always)]
        |b, h| {
            let head = Head::of(qkv, dims, b, h);
            let p = &probs[(b * dims.heads + h) * t * t..][..t * t];
            let dout = &dout[b * t * c + h * d..];
            let (mut dq, mut dk, mut dv) = (
                vec![T::default(); t * d],
                vec![T::default(); t * d],
                vec![T::default(); t * d],
            );
            let mut ds = vec![T::default(); BLOCK * t];
            for rows in blocks(t) {
                let (seen, n) = (rows.end, rows.len());
                let p_rows = Mat::strided(&p[rows.start * t..], n, seen, t);
                let g = Mat::strided(&dout[rows.start * c..], n, d, c);
                // dV += Pᵀ·dO;  dP = dO·Vᵀ.
                gemm(p_rows, Op::T, g, Op::N, &mut dv[..seen * d], true);
                let ds = &mut ds[..n * seen];
                gemm(g, Op::N, head.rows(head.v, 0..seen), Op::T, ds, false);
                // dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale (zero where masked).
                for (r, i) in rows.clone().enumerate() {
                    let (pr, dr) = (&p[i * t..i * t + seen], &mut ds[r * seen..(r + 1) * seen]);
                    let dot = lanes::dot(&pr[..=i], &dr[..=i]);
                    for (j, g) in dr.iter_mut().enumerate() {
                        *g = if j <= i {
                            pr[j] * (*g - dot) * scale
                        } else {
                            T::default()
                        };
                    }
                }
                // dQ = dS·K;  dK += dSᵀ·Q.
                let ds = Mat::new(ds, n, seen);
                let dq_rows = &mut dq[rows.start * d..rows.end * d];
                gemm(ds, Op::N, head.rows(head.k, 0..seen), Op::N, dq_rows, false);
                gemm(
                    ds,
                    Op::T,
                    head.rows(head.q, rows.clone()),
                    Op::N,
                    &mut dk[..seen * d],
                    true,
                );
            }

            let base = b * t * 3 * c + h * d;
            for (o, part) in [0, c, 2 * c].into_iter().zip([&dq, &dk, &dv]) {
                for i in 0..t {
                    // SAFETY: head h's q, k and v columns of sequence b's rows
                    // belong to this job alone.
                    let dst = unsafe { dqkv_s.range(base + i * 3 * c + o, d) };
                    dst.iter_mut()
                        .zip(&part[i * d..(i + 1) * d])
                        .for_each(|(a, b)| *a += *b);
                }
            }
        },
    );
}
