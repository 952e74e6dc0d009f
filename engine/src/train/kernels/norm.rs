//! LayerNorm and RMSNorm over rows of `dim`, saving the per-row statistics
//! their backward passes need.

use super::super::real::Real;

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
    for (r, (xr, or)) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)).enumerate() {
        let m = xr.iter().copied().sum::<T>() / n;
        let var = xr.iter().map(|&v| (v - m) * (v - m)).sum::<T>() / n;
        let s = T::of(1.0) / (var + T::of(eps)).sqrt();
        for i in 0..d {
            or[i] = (xr[i] - m) * s * w[i] + b[i];
        }
        mean[r] = m;
        rstd[r] = s;
    }
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
    let mut dx = dx;
    for r in 0..x.len() / d {
        let (xr, gr) = (&x[r * d..(r + 1) * d], &dout[r * d..(r + 1) * d]);
        let (m, s) = (mean[r], rstd[r]);
        // dx = s · (g·w − mean(g·w) − x̂ · mean(g·w·x̂)), x̂ = (x − m) · s.
        let mut mean_g = T::default();
        let mut mean_gx = T::default();
        for i in 0..d {
            let xhat = (xr[i] - m) * s;
            let g = gr[i] * w[i];
            mean_g += g;
            mean_gx += g * xhat;
            dw[i] += gr[i] * xhat;
            db[i] += gr[i];
        }
        mean_g /= n;
        mean_gx /= n;
        if let Some(dx) = dx.as_deref_mut() {
            for i in 0..d {
                let xhat = (xr[i] - m) * s;
                dx[r * d + i] += s * (gr[i] * w[i] - mean_g - xhat * mean_gx);
            }
        }
    }
}

/// `out = x · rstd · w` with `rstd = 1 / sqrt(mean(x²) + eps)`; saves rstd.
pub fn rmsnorm_forward<T: Real>(x: &[T], w: &[T], eps: f64, out: &mut [T], rstd: &mut [T]) {
    let d = w.len();
    for (r, (xr, or)) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)).enumerate() {
        let ms = xr.iter().map(|&v| v * v).sum::<T>() / T::of(d as f64);
        let s = T::of(1.0) / (ms + T::of(eps)).sqrt();
        for i in 0..d {
            or[i] = xr[i] * s * w[i];
        }
        rstd[r] = s;
    }
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
    let mut dx = dx;
    for r in 0..x.len() / d {
        let (xr, gr) = (&x[r * d..(r + 1) * d], &dout[r * d..(r + 1) * d]);
        let s = rstd[r];
        // dx = s · (g·w − x̂ · mean(g·w·x̂)), x̂ = x · s.
        let mut mean_gx = T::default();
        for i in 0..d {
            let xhat = xr[i] * s;
            mean_gx += gr[i] * w[i] * xhat;
            dw[i] += gr[i] * xhat;
        }
        mean_gx /= T::of(d as f64);
        if let Some(dx) = dx.as_deref_mut() {
            for i in 0..d {
                dx[r * d + i] += s * (gr[i] * w[i] - xr[i] * s * mean_gx);
            }
        }
    }
}
