//! Causal multi-head self-attention over a batch of sequences, with
//! grouped-query attention (several query heads share one key/value head)
//! and an optional sliding window.
//!
//! Queries are `[B·T, H·D]`, keys and values `[B·T, KV·D]`; query head `h`
//! reads key/value head `h / (H / KV)`. The output is `[B·T, H·D]`.
//!
//! Memory: the forward pass keeps only each query row's log-sum-exp
//! `[B, H, T]`, not the probabilities `[B, H, T, T]`; the backward pass
//! recomputes a block's scores from Q and K (one more product) and turns
//! them back into probabilities with it. Fine-tuning a 30-layer model on
//! 512-token sequences would otherwise hold gigabytes of probabilities.
//!
//! Causality halves the work: query rows go in blocks of [`BLOCK`], and a
//! block's products stop at the last key it may see (and, with a window,
//! start at the first), so the masked triangle is (nearly) never computed.
//! Each job owns one (sequence, key/value head) pair and the query heads
//! that read it, so the gradients of a shared key/value head are summed
//! inside one job, in a fixed order.

use super::super::real::{gemm, Mat, Op, Real};
use super::lanes;
use super::parallel::{self, Shared};
use crate::backend::cpu::simd::vectorized;
use std::ops::Range;

/// Query rows per block: small enough to skip most of the masked
/// triangle, large enough to keep gemm efficient.
pub const BLOCK: usize = 64;

/// Batch geometry and what a query sees.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub batch: usize,
    pub seq: usize,
    /// Query heads H, and the key/value heads KV they share (H % KV = 0).
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// The factor on every score (1/√D unless the model says otherwise).
    pub scale: f64,
    /// A query sees only its last `window` keys, itself included.
    pub window: Option<usize>,
}

impl Dims {
    /// GPT-2's attention: `heads` heads over a width `width`, each with its
    /// own keys, scores scaled by 1/√D.
    pub fn multi_head(batch: usize, seq: usize, heads: usize, width: usize) -> Dims {
        let head_dim = width / heads.max(1);
        Dims {
            batch,
            seq,
            heads,
            kv_heads: heads,
            head_dim,
            scale: 1.0 / (head_dim as f64).sqrt(),
            window: None,
        }
    }

    /// Whether the sizes make sense (the graph checks before calling).
    pub fn is_valid(&self) -> bool {
        self.heads > 0
            && self.kv_heads > 0
            && self.heads.is_multiple_of(self.kv_heads)
            && self.head_dim > 0
            && self.window != Some(0)
    }

    pub fn q_width(&self) -> usize {
        self.heads * self.head_dim
    }

    pub fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim
    }

    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }
}

/// Which keys each query row sees: causally, within the window, and from
/// the start of its document on (sequences packed from several documents
/// attend within each document only).
#[derive(Clone, Copy)]
pub struct Visibility<'a> {
    pub dims: Dims,
    /// Per row of `[B·T]`, the position in its sequence where the row's
    /// document starts; empty when each sequence is one document. The
    /// caller checks that starts never decrease inside a sequence and that
    /// row `i` starts at or before `i`.
    pub starts: &'a [usize],
}

impl<'a> Visibility<'a> {
    /// The keys query row `i` of sequence `b` sees.
    fn of(&self, b: usize, i: usize) -> Range<usize> {
        let window = self.dims.window.map_or(0, |w| (i + 1).saturating_sub(w));
        let document = self.starts.get(b * self.dims.seq + i).copied().unwrap_or(0);
        window.max(document)..i + 1
    }

    /// The query blocks of sequence `b`: each block's rows and the keys
    /// any of them sees (both ends only grow along a sequence).
    fn blocks(self, b: usize) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + 'a {
        (0..self.dims.seq).step_by(BLOCK).map(move |r0| {
            let rows = r0..(r0 + BLOCK).min(self.dims.seq);
            let keys = self.of(b, r0).start..rows.end;
            (rows, keys)
        })
    }
}

/// One head's rows of one sequence: a strided view into an activation.
#[derive(Clone, Copy)]
struct HeadView<'a, T> {
    data: &'a [T],
    stride: usize,
    d: usize,
}

impl<'a, T> HeadView<'a, T> {
    /// Head `head` of sequence `b` in `x` (`[B·T, heads·D]`).
    fn of(x: &'a [T], dims: Dims, b: usize, head: usize, heads: usize) -> Self {
        let (d, stride) = (dims.head_dim, heads * dims.head_dim);
        HeadView {
            data: &x[b * dims.seq * stride + head * d..],
            stride,
            d,
        }
    }

    fn rows(&self, rows: Range<usize>) -> Mat<'a, T> {
        Mat::strided(
            &self.data[rows.start * self.stride..],
            rows.len(),
            self.d,
            self.stride,
        )
    }
}

/// Runs `job(b, kv_head)` for every pair across the pool, compiled for the
/// CPU's widest SIMD.
#[inline(always)]
fn each_group(dims: Dims, job: impl Fn(usize, usize) + Sync) {
    parallel::for_each(dims.batch * dims.kv_heads, &|p| {
        vectorized(
            #[inline(always)]
            || job(p / dims.kv_heads, p % dims.kv_heads),
        )
    });
}

/// The (b, h) entry of a `[B, H, T]` row statistic.
fn stat_at(dims: Dims, b: usize, h: usize) -> usize {
    (b * dims.heads + h) * dims.seq
}

/// Scores of row `i` over `keys` → probabilities, zero where `i` does not
/// see the key; returns the row's log-sum-exp (of the scaled scores).
#[inline(always)]
fn softmax_row<T: Real>(row: &mut [T], seen: Range<usize>, keys: &Range<usize>, dims: Dims) -> T {
    let (lo, hi) = (seen.start - keys.start, seen.end - keys.start);
    let scale = T::of(dims.scale);
    let live = &mut row[lo..hi];
    let max = live.iter().copied().fold(live[0], T::max);
    live.iter_mut()
        .for_each(|s| *s = ((*s - max) * scale).exp());
    let sum = lanes::sum(live);
    let inverse = T::of(1.0) / sum;
    live.iter_mut().for_each(|s| *s *= inverse);
    row[..lo].iter_mut().for_each(|s| *s = T::default());
    row[hi..].iter_mut().for_each(|s| *s = T::default());
    max * scale + sum.ln()
}

/// Scores of row `i` → the probabilities the forward pass had, from its
/// log-sum-exp.
#[inline(always)]
fn probabilities_row<T: Real>(
    row: &mut [T],
    seen: Range<usize>,
    keys: &Range<usize>,
    dims: Dims,
    lse: T,
) {
    let (lo, hi) = (seen.start - keys.start, seen.end - keys.start);
    let scale = T::of(dims.scale);
    row[lo..hi]
        .iter_mut()
        .for_each(|s| *s = (*s * scale - lse).exp());
    row[..lo].iter_mut().for_each(|s| *s = T::default());
    row[hi..].iter_mut().for_each(|s| *s = T::default());
}

/// `out` and each row's log-sum-exp `lse` (`[B, H, T]`) from `q`, `k`, `v`.
pub fn forward<T: Real>(q: &[T], k: &[T], v: &[T], seen: Visibility, out: &mut [T], lse: &mut [T]) {
    let dims = seen.dims;
    let (t, d) = (dims.seq, dims.head_dim);
    let (out_s, lse_s) = (Shared::new(out), Shared::new(lse));
    each_group(
        dims,
        #[inline(always)]
        |b, kv| {
            let keys_of = HeadView::of(k, dims, b, kv, dims.kv_heads);
            let values_of = HeadView::of(v, dims, b, kv, dims.kv_heads);
            let mut scores = vec![T::default(); BLOCK * t];
            let mut o = vec![T::default(); BLOCK * d];
            for h in kv * dims.group()..(kv + 1) * dims.group() {
                let queries = HeadView::of(q, dims, b, h, dims.heads);
                // SAFETY: head h of sequence b belongs to this job alone.
                let lse = unsafe { lse_s.range(stat_at(dims, b, h), t) };
                for (rows, keys) in seen.blocks(b) {
                    let (n, width) = (rows.len(), keys.len());
                    // S = Q·Kᵀ for these rows and the keys they see, then P.
                    let s = &mut scores[..n * width];
                    gemm(
                        queries.rows(rows.clone()),
                        Op::N,
                        keys_of.rows(keys.clone()),
                        Op::T,
                        s,
                        false,
                    );
                    for (r, i) in rows.clone().enumerate() {
                        lse[i] = softmax_row(
                            &mut s[r * width..(r + 1) * width],
                            seen.of(b, i),
                            &keys,
                            dims,
                        );
                    }
                    // O = P·V, then into head h's columns of these rows.
                    let o = &mut o[..n * d];
                    gemm(
                        Mat::new(s, n, width),
                        Op::N,
                        values_of.rows(keys.clone()),
                        Op::N,
                        o,
                        false,
                    );
                    for (r, i) in rows.enumerate() {
                        let at = (b * t + i) * dims.q_width() + h * d;
                        // SAFETY: head h's columns of sequence b's rows
                        // belong to this job alone.
                        unsafe { out_s.range(at, d) }.copy_from_slice(&o[r * d..(r + 1) * d]);
                    }
                }
            }
        },
    );
}

/// The gradients an attention backward pass adds into.
pub struct Grads<'a, T> {
    pub dq: &'a mut [T],
    pub dk: &'a mut [T],
    pub dv: &'a mut [T],
}

/// Adds the gradients of `q`, `k` and `v` given `dout` and the forward
/// pass's `lse`.
pub fn backward<T: Real>(
    dout: &[T],
    q: &[T],
    k: &[T],
    v: &[T],
    lse: &[T],
    seen: Visibility,
    grads: Grads<T>,
) {
    let dims = seen.dims;
    let (t, d) = (dims.seq, dims.head_dim);
    let scale = T::of(dims.scale);
    let (dq_s, dk_s, dv_s) = (
        Shared::new(grads.dq),
        Shared::new(grads.dk),
        Shared::new(grads.dv),
    );
    each_group(
        dims,
        #[inline(always)]
        |b, kv| {
            let keys_of = HeadView::of(k, dims, b, kv, dims.kv_heads);
            let values_of = HeadView::of(v, dims, b, kv, dims.kv_heads);
            let (mut dk, mut dv) = (vec![T::default(); t * d], vec![T::default(); t * d]);
            let mut dq = vec![T::default(); t * d];
            let (mut p, mut ds) = (vec![T::default(); BLOCK * t], vec![T::default(); BLOCK * t]);
            for h in kv * dims.group()..(kv + 1) * dims.group() {
                let queries = HeadView::of(q, dims, b, h, dims.heads);
                let grad_out = HeadView::of(dout, dims, b, h, dims.heads);
                let lse = &lse[stat_at(dims, b, h)..][..t];
                for (rows, keys) in seen.blocks(b) {
                    let (n, width) = (rows.len(), keys.len());
                    let (p, ds) = (&mut p[..n * width], &mut ds[..n * width]);
                    // P again: S = Q·Kᵀ, through the forward pass's lse.
                    gemm(
                        queries.rows(rows.clone()),
                        Op::N,
                        keys_of.rows(keys.clone()),
                        Op::T,
                        p,
                        false,
                    );
                    for (r, i) in rows.clone().enumerate() {
                        probabilities_row(
                            &mut p[r * width..(r + 1) * width],
                            seen.of(b, i),
                            &keys,
                            dims,
                            lse[i],
                        );
                    }
                    let p_rows = Mat::new(&p[..], n, width);
                    let g = grad_out.rows(rows.clone());
                    // dV += Pᵀ·dO;  dP = dO·Vᵀ.
                    let dv_keys = &mut dv[keys.start * d..keys.end * d];
                    gemm(p_rows, Op::T, g, Op::N, dv_keys, true);
                    gemm(g, Op::N, values_of.rows(keys.clone()), Op::T, ds, false);
                    // dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale (zero where
                    // masked, as P is).
                    for r in 0..n {
                        let (pr, dr) = (
                            &p[r * width..(r + 1) * width],
                            &mut ds[r * width..(r + 1) * width],
                        );
                        let dot = lanes::dot(pr, dr);
                        dr.iter_mut()
                            .zip(pr)
                            .for_each(|(g, &p)| *g = p * (*g - dot) * scale);
                    }
                    // dQ = dS·K;  dK += dSᵀ·Q.
                    let ds_rows = Mat::new(&ds[..], n, width);
                    let dq_rows = &mut dq[rows.start * d..rows.end * d];
                    gemm(
                        ds_rows,
                        Op::N,
                        keys_of.rows(keys.clone()),
                        Op::N,
                        dq_rows,
                        false,
                    );
                    let dk_keys = &mut dk[keys.start * d..keys.end * d];
                    gemm(
                        ds_rows,
                        Op::T,
                        queries.rows(rows.clone()),
                        Op::N,
                        dk_keys,
                        true,
                    );
                }
                // SAFETY: query head h's columns of sequence b belong to this
                // job alone.
                unsafe { add_rows(&dq, &dq_s, dims, b, h, dims.heads) };
            }
            // SAFETY: key/value head kv's columns of sequence b belong to
            // this job alone.
            unsafe {
                add_rows(&dk, &dk_s, dims, b, kv, dims.kv_heads);
                add_rows(&dv, &dv_s, dims, b, kv, dims.kv_heads);
            }
        },
    );
}

/// Adds one head's `[T, D]` gradient into its columns of `[B·T, heads·D]`.
///
/// # Safety
/// No other job may touch head `head` of sequence `b` in `to` meanwhile.
unsafe fn add_rows<T: Real>(
    part: &[T],
    to: &Shared<T>,
    dims: Dims,
    b: usize,
    head: usize,
    heads: usize,
) {
    let (d, stride) = (dims.head_dim, heads * dims.head_dim);
    for (i, row) in part.chunks_exact(d).enumerate() {
        // SAFETY: the caller owns these columns.
        let dst = unsafe { to.range((b * dims.seq + i) * stride + head * d, d) };
        dst.iter_mut().zip(row).for_each(|(a, b)| *a += *b);
    }
}
