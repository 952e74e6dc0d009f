//! The WKV recurrence of RWKV-style linear attention (the matrix-state form
//! of RWKV 5/6), with a decay that depends on the input.
//!
//! Channels split into heads of `D`. Each head of each sequence keeps a
//! `D × D` state `S` (keys × values). At every position, with receptance
//! `r`, key `k`, value `v`, decay logit `d` and a learned bonus `u` for the
//! current token:
//!
//! ```text
//! y_j = Σ_i r_i · (S_ij + u_i · k_i · v_j)       read, the current token boosted by u
//! S_ij ← w_i · S_ij + k_i · v_j,  w_i = exp(−exp(d_i))   forget, then write
//! ```
//!
//! `w` lies in (0, 1) for any `d`, so the state cannot blow up. Rows of
//! `r`, `k`, `v`, `d` and `y` are `[B·T, C]`; states are `[B, heads, D, D]`.
//! The forward saves the state before every position for the backward
//! pass, which runs the recurrence in reverse. The incoming state is a
//! constant (truncated back-propagation through time).

use super::super::real::Real;
use super::parallel::{self, Shared};

/// Batch geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WkvDims {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    /// Channels C (= heads · D).
    pub width: usize,
}

impl WkvDims {
    pub fn head_dim(&self) -> usize {
        self.width / self.heads
    }

    /// Elements of one state `[B, heads, D, D]`.
    pub fn state_len(&self) -> usize {
        self.batch * self.width * self.head_dim()
    }

    /// Elements of the states the forward saves: one per position.
    pub fn saved_len(&self) -> usize {
        self.state_len() * self.seq
    }

    fn check(&self, rows: usize) {
        assert!(self.heads > 0 && self.width.is_multiple_of(self.heads));
        assert_eq!(rows, self.batch * self.seq * self.width, "wkv: input shape");
    }
}

/// The decay factor `w = exp(−exp(d))` and its derivative `dw/dd`, written
/// so that neither overflows for large `d`.
fn decay<T: Real>(d: T) -> (T, T) {
    let e = d.exp();
    ((-e).exp(), -(d - e).exp())
}

/// The inputs of one position, for head `h` of sequence `b` (offsets into
/// the `[B·T, C]` rows).
fn row_offset(dims: WkvDims, b: usize, t: usize, h: usize) -> usize {
    (b * dims.seq + t) * dims.width + h * dims.head_dim()
}

/// `y`, the state after the window (`state_out`), and the saved states.
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    r: &[T],
    k: &[T],
    v: &[T],
    d: &[T],
    u: &[T],
    state_in: &[T],
    dims: WkvDims,
    y: &mut [T],
    saved: &mut [T],
    state_out: &mut [T],
) {
    dims.check(r.len());
    let hd = dims.head_dim();
    let block = hd * hd;
    let (y_s, saved_s, out_s) = (Shared::new(y), Shared::new(saved), Shared::new(state_out));
    parallel::for_each(dims.batch * dims.heads, &|job| {
        let (b, h) = (job / dims.heads, job % dims.heads);
        let mut s = state_in[job * block..(job + 1) * block].to_vec();
        let u = &u[h * hd..(h + 1) * hd];
        for t in 0..dims.seq {
            let o = row_offset(dims, b, t, h);
            let (r, k, v, d) = (&r[o..o + hd], &k[o..o + hd], &v[o..o + hd], &d[o..o + hd]);
            // SAFETY: position t of job (b, h) owns this saved block and
            // these output columns; no other job writes them.
            let keep = unsafe { saved_s.range((t * dims.batch * dims.heads + job) * block, block) };
            keep.copy_from_slice(&s);
            let yo = unsafe { y_s.range(o, hd) };
            let bonus: T = (0..hd).map(|i| r[i] * u[i] * k[i]).sum();
            for j in 0..hd {
                yo[j] = bonus * v[j] + (0..hd).map(|i| r[i] * s[i * hd + j]).sum::<T>();
            }
            for i in 0..hd {
                let w = decay(d[i]).0;
                for j in 0..hd {
                    s[i * hd + j] = w * s[i * hd + j] + k[i] * v[j];
                }
            }
        }
        // SAFETY: job (b, h) owns its block of the final state.
        unsafe { out_s.range(job * block, block) }.copy_from_slice(&s);
    });
}

/// Gradients of [`forward`]'s inputs, added into `dr`, `dk`, `dv`, `dd`
/// and `du`.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    dy: &[T],
    r: &[T],
    k: &[T],
    v: &[T],
    d: &[T],
    u: &[T],
    saved: &[T],
    dims: WkvDims,
    grads: [&mut [T]; 4],
    du: &mut [T],
) {
    dims.check(r.len());
    let hd = dims.head_dim();
    let block = hd * hd;
    let [dr, dk, dv, dd] = grads;
    let shared = [dr, dk, dv, dd].map(Shared::new);
    // Each sequence sums its own share of du; they are added at the end.
    let mut du_parts = vec![T::default(); dims.batch * dims.width];
    let du_s = Shared::new(&mut du_parts);
    parallel::for_each(dims.batch * dims.heads, &|job| {
        let (b, h) = (job / dims.heads, job % dims.heads);
        let u = &u[h * hd..(h + 1) * hd];
        // SAFETY: job (b, h) alone owns head h's slice of sequence b's du.
        let du = unsafe { du_s.range(b * dims.width + h * hd, hd) };
        // The gradient of the state after position t, flowing back.
        let mut ds = vec![T::default(); block];
        for t in (0..dims.seq).rev() {
            let o = row_offset(dims, b, t, h);
            let (r, k, v, d, g) = (
                &r[o..o + hd],
                &k[o..o + hd],
                &v[o..o + hd],
                &d[o..o + hd],
                &dy[o..o + hd],
            );
            let s = &saved[(t * dims.batch * dims.heads + job) * block..][..block];
            // SAFETY: these columns of position t belong to job (b, h).
            let [gr, gk, gv, gd] = [0, 1, 2, 3].map(|n| unsafe { shared[n].range(o, hd) });
            let gv_dot: T = (0..hd).map(|j| g[j] * v[j]).sum();
            let bonus: T = (0..hd).map(|i| r[i] * u[i] * k[i]).sum();
            for i in 0..hd {
                let (w, dw_dd) = decay(d[i]);
                let row = &s[i * hd..(i + 1) * hd];
                let ds_row = &mut ds[i * hd..(i + 1) * hd];
                let read: T = (0..hd).map(|j| g[j] * row[j]).sum();
                let write_v: T = (0..hd).map(|j| ds_row[j] * v[j]).sum();
                let forget: T = (0..hd).map(|j| ds_row[j] * row[j]).sum();
                gr[i] += read + u[i] * k[i] * gv_dot;
                gk[i] += r[i] * u[i] * gv_dot + write_v;
                du[i] += r[i] * k[i] * gv_dot;
                gd[i] += forget * dw_dd;
                for j in 0..hd {
                    gv[j] += ds_row[j] * k[i];
                }
                // Now the gradient of the state before position t.
                for j in 0..hd {
                    ds_row[j] = w * ds_row[j] + r[i] * g[j];
                }
            }
            for j in 0..hd {
                gv[j] += bonus * g[j];
            }
        }
    });
    for part in du_parts.chunks_exact(dims.width) {
        du.iter_mut().zip(part).for_each(|(a, b)| *a += *b);
    }
}
