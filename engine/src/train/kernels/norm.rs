//! LayerNorm and RMSNorm over rows of `dim`, saving the per-row statistics
//! their backward passes need.
//!
//! Rows are independent and go to the pool in fixed jobs of whole rows.
//! The weight gradients are sums over rows: each job sums its own rows
//! into a partial, and the partials are added in job order, so the result
//! does not depend on the thread count.

use super::super::real::Real;
use super::lanes;
use super::parallel::{self, Shared};
use crate::backend::cpu::simd::vectorized;

/// `out = (x − mean) · rstd · w + b`; saves each row's mean and rstd.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward<T: Real>(
    x: &[T],
    w: &[T],
    b: &[T],
    eps: f64,
    out: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
) {
    let d = w.len();
    let n = T::of(d as f64);
    let (out_s, mean_s, rstd_s) = (Shared::new(out), Shared::new(mean), Shared::new(rstd));
    parallel::row_chunks(x.len() / d, d, &|_, rows| {
        // SAFETY: these rows of out, mean and rstd belong to this job.
        let (out, mean, rstd) = unsafe {
            (
                out_s.range(rows.start * d, rows.len() * d),
                mean_s.range(rows.start, rows.len()),
                rstd_s.range(rows.start, rows.len()),
            )
        };
        let x = &x[rows.start * d..rows.end * d];
        vectorized(
            #[inline(always)]
            || {
                for (r, (xr, or)) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)).enumerate() {
                    let m = lanes::sum(xr) / n;
                    // The centred row first, so the variance is a dot.
                    or.iter_mut().zip(xr).for_each(|(o, &v)| *o = v - m);
                    let s = T::of(1.0) / (lanes::dot(or, or) / n + T::of(eps)).sqrt();
                    for ((o, &w), &b) in or.iter_mut().zip(w).zip(b) {
                        *o = *o * s * w + b;
                    }
                    mean[r] = m;
                    rstd[r] = s;
                }
            },
        )
    });
}

/// Gradients of [`layernorm_forward`], added into `dx`, `dw`, `db`.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward<T: Real>(
    dout: &[T],
    x: &[T],
    w: &[T],
    mean: &[T],
    rstd: &[T],
    dx: Option<&mut [T]>,
    dw: &mut [T],
    db: &mut [T],
) {
    let d = w.len();
    let n = T::of(d as f64);
    let dx_s = dx.map(Shared::new);
    // Each job's partial: its rows' dw, then db.
    let sums = parallel::row_chunks_summed(x.len() / d, d, 2 * d, &|rows, partial| {
        let (pw, pb) = partial.split_at_mut(d);
        // SAFETY: these rows of dx belong to this job alone.
        let mut dx = dx_s
            .as_ref()
            .map(|s| unsafe { s.range(rows.start * d, rows.len() * d) });
        let (mut xhat, mut gw) = (vec![T::default(); d], vec![T::default(); d]);
        vectorized(
            #[inline(always)]
            || {
                for (j, r) in rows.enumerate() {
                    let (xr, gr) = (&x[r * d..(r + 1) * d], &dout[r * d..(r + 1) * d]);
                    let (m, s) = (mean[r], rstd[r]);
                    // dx = s · (g·w − mean(g·w) − x̂ · mean(g·w·x̂)), x̂ = (x − m) · s.
                    xhat.iter_mut().zip(xr).for_each(|(h, &v)| *h = (v - m) * s);
                    gw.iter_mut()
                        .zip(gr)
                        .zip(w)
                        .for_each(|((o, &g), &w)| *o = g * w);
                    let mean_g = lanes::sum(&gw) / n;
                    let mean_gx = lanes::dot(&gw, &xhat) / n;
                    let sums = pw.iter_mut().zip(pb.iter_mut());
                    for ((pw, pb), (&g, &h)) in sums.zip(gr.iter().zip(&xhat)) {
                        *pw += g * h;
                        *pb += g;
                    }
                    if let Some(dx) = dx.as_deref_mut() {
                        let dx = &mut dx[j * d..(j + 1) * d];
                        for ((o, &g), &h) in dx.iter_mut().zip(&gw).zip(&xhat) {
                            *o += s * (g - mean_g - h * mean_gx);
                        }
                    }
                }
            },
        )
    });
    let (sw, sb) = sums.split_at(d);
    dw.iter_mut().zip(sw).for_each(|(a, b)| *a += *b);
    db.iter_mut().zip(sb).for_each(|(a, b)| *a += *b);
}

/// `out = x · rstd · w` with `rstd = 1 / sqrt(mean(x²) + eps)`; saves rstd.
pub fn rmsnorm_forward<T: Real>(x: &[T], w: &[T], eps: f64, out: &mut [T], rstd: &mut [T]) {
    let d = w.len();
    let n = T::of(d as f64);
    let (out_s, rstd_s) = (Shared::new(out), Shared::new(rstd));
    parallel::row_chunks(x.len() / d, d, &|_, rows| {
        // SAFETY: these rows of out and rstd belong to this job.
        let (out, rstd) = unsafe {
            (
                out_s.range(rows.start * d, rows.len() * d),
                rstd_s.range(rows.start, rows.len()),
            )
        };
        let x = &x[rows.start * d..rows.end * d];
        vectorized(
            #[inline(always)]
            || {
                for (r, (xr, or)) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)).enumerate() {
                    let s = T::of(1.0) / (lanes::dot(xr, xr) / n + T::of(eps)).sqrt();
                    for ((o, &v), &w) in or.iter_mut().zip(xr).zip(w) {
                        *o = v * s * w;
                    }
                    rstd[r] = s;
                }
            },
        )
    });
}

/// Gradients of [`rmsnorm_forward`], added into `dx` and `dw`.
pub fn rmsnorm_backward<T: Real>(
    dout: &[T],
    x: &[T],
    w: &[T],
    rstd: &[T],
    dx: Option<&mut [T]>,
    dw: &mut [T],
) {
    let d = w.len();
    let n = T::of(d as f64);
    let dx_s = dx.map(Shared::new);
    let sums = parallel::row_chunks_summed(x.len() / d, d, d, &|rows, pw| {
        // SAFETY: these rows of dx belong to this job alone.
        let mut dx = dx_s
            .as_ref()
            .map(|s| unsafe { s.range(rows.start * d, rows.len() * d) });
        let (mut xhat, mut gw) = (vec![T::default(); d], vec![T::default(); d]);
        vectorized(
            #[inline(always)]
            || {
                for (j, r) in rows.enumerate() {
                    let (xr, gr) = (&x[r * d..(r + 1) * d], &dout[r * d..(r + 1) * d]);
                    let s = rstd[r];
                    // dx = s · (g·w − x̂ · mean(g·w·x̂)), x̂ = x · s.
                    xhat.iter_mut().zip(xr).for_each(|(h, &v)| *h = v * s);
                    gw.iter_mut()
                        .zip(gr)
                        .zip(w)
                        .for_each(|((o, &g), &w)| *o = g * w);
                    let mean_gx = lanes::dot(&gw, &xhat) / n;
                    pw.iter_mut()
                        .zip(gr)
                        .zip(&xhat)
                        .for_each(|((p, &g), &h)| *p += g * h);
                    if let Some(dx) = dx.as_deref_mut() {
                        let dx = &mut dx[j * d..(j + 1) * d];
                        for ((o, &g), &h) in dx.iter_mut().zip(&gw).zip(&xhat) {
                            *o += s * (g - h * mean_gx);
                        }
                    }
                }
            },
        )
    });
    dw.iter_mut().zip(&sums).for_each(|(a, b)| *a += *b);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enough rows for several jobs, so the partial sums are merged.
    fn many_rows(d: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let rows = 3 * parallel::rows_per_job(d) + 1;
        let wave = |i: usize, k: usize| ((i * k) % 17) as f64 / 8.0 - 1.0;
        let x = (0..rows * d).map(|i| wave(i, 7)).collect();
        let g = (0..rows * d).map(|i| wave(i, 5)).collect();
        let w = (0..d).map(|i| wave(i, 3) + 2.0).collect();
        (x, g, w)
    }

    #[test]
    fn layernorm_gradients_over_many_jobs_equal_row_by_row() {
        let d = 64;
        let (x, g, w) = many_rows(d);
        let (rows, b) = (x.len() / d, vec![0.5; d]);
        let (mut out, mut mean, mut rstd) = (vec![0.0; x.len()], vec![0.0; rows], vec![0.0; rows]);
        layernorm_forward(&x, &w, &b, 1e-5, &mut out, &mut mean, &mut rstd);
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; d], vec![0.0; d]);
        layernorm_backward(&g, &x, &w, &mean, &rstd, Some(&mut dx), &mut dw, &mut db);

        let (mut dw1, mut db1) = (vec![0.0; d], vec![0.0; d]);
        for r in 0..rows {
            let span = r * d..(r + 1) * d;
            let (mut o, mut m, mut s) = (vec![0.0; d], [0.0], [0.0]);
            layernorm_forward(&x[span.clone()], &w, &b, 1e-5, &mut o, &mut m, &mut s);
            assert_eq!((m[0], s[0]), (mean[r], rstd[r]), "row {r}'s statistics");
            assert_eq!(o, out[span.clone()], "row {r}'s output");
            let mut dx1 = vec![0.0; d];
            let (xs, gs) = (&x[span.clone()], &g[span.clone()]);
            layernorm_backward(gs, xs, &w, &m, &s, Some(&mut dx1), &mut dw1, &mut db1);
            assert_eq!(dx1, dx[span], "row {r}'s input gradient");
        }
        for (got, want) in dw.iter().zip(&dw1).chain(db.iter().zip(&db1)) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
    }

    #[test]
    fn rmsnorm_gradients_over_many_jobs_equal_row_by_row() {
        let d = 64;
        let (x, g, w) = many_rows(d);
        let rows = x.len() / d;
        let (mut out, mut rstd) = (vec![0.0; x.len()], vec![0.0; rows]);
        rmsnorm_forward(&x, &w, 1e-6, &mut out, &mut rstd);
        let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; d]);
        rmsnorm_backward(&g, &x, &w, &rstd, Some(&mut dx), &mut dw);

        let mut dw1 = vec![0.0; d];
        for r in 0..rows {
            let span = r * d..(r + 1) * d;
            let (mut o, mut s) = (vec![0.0; d], [0.0]);
            rmsnorm_forward(&x[span.clone()], &w, 1e-6, &mut o, &mut s);
            assert_eq!(o, out[span.clone()], "row {r}'s output");
            let mut dx1 = vec![0.0; d];
            let (xs, gs) = (&x[span.clone()], &g[span.clone()]);
            rmsnorm_backward(gs, xs, &w, &s, Some(&mut dx1), &mut dw1);
            assert_eq!(dx1, dx[span], "row {r}'s input gradient");
        }
        for (got, want) in dw.iter().zip(&dw1) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
    }
}
