//! A GRU layer run over a window of positions, with RMSNorm on the hidden
//! state before it enters the gates.
//!
//! The input-side products `gx = W·x + b` (`[B·T, 3H]`, gates in the order
//! update z, reset r, candidate c) do not depend on the state, so the
//! caller computes them for the whole window in one matrix product. Only
//! the hidden-side product is sequential. At each position:
//!
//! ```text
//! ĥ  = RMSNorm(h_{t−1}) ⊙ g
//! gh = U·ĥ + bu                          [3H]
//! z  = σ(gx_z + gh_z)
//! r  = σ(gx_r + gh_r)
//! c  = tanh(gx_c + r ⊙ gh_c)             reset applied after the product, as in cuDNN
//! h_t = (1 − z) ⊙ h_{t−1} + z ⊙ c
//! ```
//!
//! The state entering the window is a constant (truncated
//! back-propagation through time); its gradient is still reported, so the
//! gradient checks can follow the recurrence all the way back.

use super::super::real::{gemm, Mat, Op, Real};
use super::norm;

/// Batch geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GruDims {
    pub batch: usize,
    pub seq: usize,
    pub hidden: usize,
}

/// What the forward keeps for the backward, time-major (`[T, B, ·]`).
#[derive(Debug, Clone, Default)]
pub struct GruSaved<T> {
    /// The state before each position.
    pub h_prev: Vec<T>,
    pub h_norm: Vec<T>,
    pub rstd: Vec<T>,
    /// `U·ĥ + bu`.
    pub gh: Vec<T>,
    /// The gates z, r and the candidate c.
    pub z: Vec<T>,
    pub r: Vec<T>,
    pub c: Vec<T>,
}

#[inline(always)]
fn sigmoid<T: Real>(x: T) -> T {
    x.logistic()
}

/// Hidden states `h` (`[B·T, H]`) from the input-side products `gx`, the
/// hidden-side weights `u` (`[3H, H]`) and bias `bu`, the norm weight `g`
/// and the incoming state `h0` (`[B, H]`). Returns what the backward needs;
/// the state after the window is the last position of each sequence.
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    gx: &[T],
    u: &[T],
    bu: &[T],
    g: &[T],
    h0: &[T],
    eps: f64,
    dims: GruDims,
    h: &mut [T],
) -> GruSaved<T> {
    let (bsz, seq, hid) = (dims.batch, dims.seq, dims.hidden);
    assert_eq!(gx.len(), bsz * seq * 3 * hid, "gru: input shape");
    let n = seq * bsz * hid;
    let mut saved = GruSaved {
        h_prev: Vec::with_capacity(n),
        h_norm: vec![T::default(); n],
        rstd: vec![T::default(); seq * bsz],
        gh: vec![T::default(); 3 * n],
        z: vec![T::default(); n],
        r: vec![T::default(); n],
        c: vec![T::default(); n],
    };
    let mut state = h0.to_vec();
    for t in 0..seq {
        let at = t * bsz * hid..(t + 1) * bsz * hid;
        saved.h_prev.extend_from_slice(&state);
        let hn = &mut saved.h_norm[at.clone()];
        norm::rmsnorm_forward(&state, g, eps, hn, &mut saved.rstd[t * bsz..(t + 1) * bsz]);
        let gh = &mut saved.gh[3 * at.start..3 * at.end];
        gemm(
            Mat::new(hn, bsz, hid),
            Op::N,
            Mat::new(u, 3 * hid, hid),
            Op::T,
            gh,
            false,
        );
        for b in 0..bsz {
            let x = &gx[(b * seq + t) * 3 * hid..][..3 * hid];
            let ghb = &mut gh[b * 3 * hid..(b + 1) * 3 * hid];
            ghb.iter_mut().zip(bu).for_each(|(a, b)| *a += *b);
            for i in 0..hid {
                let at = at.start + b * hid + i;
                let z = sigmoid(x[i] + ghb[i]);
                let r = sigmoid(x[hid + i] + ghb[hid + i]);
                let c = (x[2 * hid + i] + r * ghb[2 * hid + i]).tanh();
                let prev = state[b * hid + i];
                let next = (T::of(1.0) - z) * prev + z * c;
                (saved.z[at], saved.r[at], saved.c[at]) = (z, r, c);
                state[b * hid + i] = next;
                h[(b * seq + t) * hid + i] = next;
            }
        }
    }
    saved
}

/// Gradients given `dh` (of every output state), added into `dgx`, `du`,
/// `dbu`, `dg` and, when asked, `dh0`.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    dh: &[T],
    u: &[T],
    g: &[T],
    saved: &GruSaved<T>,
    dims: GruDims,
    dgx: &mut [T],
    du: &mut [T],
    dbu: &mut [T],
    dg: &mut [T],
    dh0: Option<&mut [T]>,
) {
    let (bsz, seq, hid) = (dims.batch, dims.seq, dims.hidden);
    // The gradient of each position's gh, kept to form dU in one product.
    let mut dgh_all = vec![T::default(); seq * bsz * 3 * hid];
    // The gradient of the state after the position being processed.
    let mut carry = vec![T::default(); bsz * hid];
    let mut dhn = vec![T::default(); bsz * hid];
    for t in (0..seq).rev() {
        let at = t * bsz * hid..(t + 1) * bsz * hid;
        let dgh = &mut dgh_all[3 * at.start..3 * at.end];
        let mut dprev = vec![T::default(); bsz * hid];
        for b in 0..bsz {
            let gh = &saved.gh[3 * (at.start + b * hid)..][..3 * hid];
            for i in 0..hid {
                let s = at.start + b * hid + i;
                let (z, r, c, prev) = (saved.z[s], saved.r[s], saved.c[s], saved.h_prev[s]);
                let d = dh[(b * seq + t) * hid + i] + carry[b * hid + i];
                let dz = d * (c - prev) * z * (T::of(1.0) - z);
                let dc = d * z * (T::of(1.0) - c * c);
                let dr = dc * gh[2 * hid + i] * r * (T::of(1.0) - r);
                let row = &mut dgx[(b * seq + t) * 3 * hid..][..3 * hid];
                row[i] += dz;
                row[hid + i] += dr;
                row[2 * hid + i] += dc;
                let dghb = &mut dgh[b * 3 * hid..(b + 1) * 3 * hid];
                (dghb[i], dghb[hid + i], dghb[2 * hid + i]) = (dz, dr, dc * r);
                dprev[b * hid + i] = d * (T::of(1.0) - z);
            }
        }
        for b in 0..bsz {
            let dghb = &dgh[b * 3 * hid..(b + 1) * 3 * hid];
            dbu.iter_mut().zip(dghb).for_each(|(a, b)| *a += *b);
        }
        gemm(
            Mat::new(dgh, bsz, 3 * hid),
            Op::N,
            Mat::new(u, 3 * hid, hid),
            Op::N,
            &mut dhn,
            false,
        );
        let (h_prev, rstd) = (
            &saved.h_prev[at.clone()],
            &saved.rstd[t * bsz..(t + 1) * bsz],
        );
        norm::rmsnorm_backward(&dhn, h_prev, g, rstd, Some(&mut dprev), dg);
        carry = dprev;
    }
    gemm(
        Mat::new(&dgh_all, seq * bsz, 3 * hid),
        Op::T,
        Mat::new(&saved.h_norm, seq * bsz, hid),
        Op::N,
        du,
        true,
    );
    if let Some(dh0) = dh0 {
        dh0.iter_mut().zip(&carry).for_each(|(a, b)| *a += *b);
    }
}
