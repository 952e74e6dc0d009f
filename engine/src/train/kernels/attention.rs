//! Causal multi-head self-attention over a batch of sequences.
//!
//! The input is one `[B·T, 3C]` activation holding each token's query, key
//! and value (the fused `c_attn` of GPT-2); head `h` owns columns
//! `h·D..(h+1)·D` of each. The output is `[B·T, C]`. The forward saves the
//! attention probabilities `[B, H, T, T]` for the backward pass. Each
//! (sequence, head) pair is independent and runs on its own thread, its
//! products through gemm on strided views of the shared activation.

use super::super::real::{gemm, Mat, Op, Real};
use super::parallel::{self, Shared};
use super::softmax::softmax_row;

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

    /// Row offsets of sequence `b` in the activations, and element offsets
    /// of head `h`'s query, key and value columns.
    fn offsets(&self, b: usize, h: usize) -> (usize, [usize; 3]) {
        let (t, c, d) = (self.seq, self.width, self.head_dim());
        (b * t, [h * d, c + h * d, 2 * c + h * d])
    }
}

/// Runs `job(b, h)` for every (sequence, head) pair across the pool.
fn each_head(dims: Dims, job: &(dyn Fn(usize, usize) + Sync)) {
    parallel::for_each(dims.batch * dims.heads, &|p| {
        job(p / dims.heads, p % dims.heads)
    });
}

/// `out` and `probs` from `qkv`.
pub fn forward<T: Real>(qkv: &[T], dims: Dims, out: &mut [T], probs: &mut [T]) {
    let (t, c, d) = (dims.seq, dims.width, dims.head_dim());
    let scale = T::of(1.0 / (d as f64).sqrt());
    let (out_s, probs_s) = (Shared::new(out), Shared::new(probs));
    each_head(dims, &|b, h| {
        let (row0, [qo, ko, vo]) = dims.offsets(b, h);
        let base = row0 * 3 * c;
        let q = Mat::strided(&qkv[base + qo..], t, d, 3 * c);
        let k = Mat::strided(&qkv[base + ko..], t, d, 3 * c);
        let v = Mat::strided(&qkv[base + vo..], t, d, 3 * c);
        // SAFETY: block (b, h) of probs belongs to this job alone.
        let p = unsafe { probs_s.range((b * dims.heads + h) * t * t, t * t) };
        gemm(q, Op::N, k, Op::T, p, false);
        for i in 0..t {
            let row = &mut p[i * t..(i + 1) * t];
            let scores: Vec<T> = row[..=i].iter().map(|&s| s * scale).collect();
            softmax_row(&scores, &mut row[..=i]);
            row[i + 1..].iter_mut().for_each(|x| *x = T::default());
        }
        let mut o = vec![T::default(); t * d];
        gemm(Mat::new(p, t, t), Op::N, v, Op::N, &mut o, false);
        for i in 0..t {
            // SAFETY: head h's columns of sequence b's rows belong to this
            // job alone.
            let dst = unsafe { out_s.range((row0 + i) * c + h * d, d) };
            dst.copy_from_slice(&o[i * d..(i + 1) * d]);
        }
    });
}

/// Adds the gradient of `qkv` given `dout` and the saved `probs`.
pub fn backward<T: Real>(dout: &[T], qkv: &[T], probs: &[T], dims: Dims, dqkv: &mut [T]) {
    let (t, c, d) = (dims.seq, dims.width, dims.head_dim());
    let scale = T::of(1.0 / (d as f64).sqrt());
    let dqkv_s = Shared::new(dqkv);
    each_head(dims, &|b, h| {
        let (row0, offsets) = dims.offsets(b, h);
        let base = row0 * 3 * c;
        let view = |o: usize| Mat::strided(&qkv[base + o..], t, d, 3 * c);
        let (q, k, v) = (view(offsets[0]), view(offsets[1]), view(offsets[2]));
        let p = Mat::new(&probs[(b * dims.heads + h) * t * t..][..t * t], t, t);
        let g = Mat::strided(&dout[row0 * c + h * d..], t, d, c);

        // dV = Pᵀ · dO;  dP = dO · Vᵀ;  dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale.
        let mut dv = vec![T::default(); t * d];
        gemm(p, Op::T, g, Op::N, &mut dv, false);
        let mut ds = vec![T::default(); t * t];
        gemm(g, Op::N, v, Op::T, &mut ds, false);
        for i in 0..t {
            let (pr, dr) = (&p.data[i * t..(i + 1) * t], &mut ds[i * t..(i + 1) * t]);
            let dot: T = pr[..=i].iter().zip(&dr[..=i]).map(|(p, g)| *p * *g).sum();
            for j in 0..t {
                dr[j] = if j <= i {
                    pr[j] * (dr[j] - dot) * scale
                } else {
                    T::default()
                };
            }
        }
        // dQ = dS · K;  dK = dSᵀ · Q.
        let mut dq = vec![T::default(); t * d];
        gemm(Mat::new(&ds, t, t), Op::N, k, Op::N, &mut dq, false);
        let mut dk = vec![T::default(); t * d];
        gemm(Mat::new(&ds, t, t), Op::T, q, Op::N, &mut dk, false);

        for (o, part) in offsets.iter().zip([&dq, &dk, &dv]) {
            for i in 0..t {
                // SAFETY: head h's q, k and v columns of sequence b's rows
                // belong to this job alone.
                let dst = unsafe { dqkv_s.range(base + i * 3 * c + o, d) };
                dst.iter_mut()
                    .zip(&part[i * d..(i + 1) * d])
                    .for_each(|(a, b)| *a += *b);
            }
        }
    });
}
