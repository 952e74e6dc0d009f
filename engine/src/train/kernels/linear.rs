//! A linear layer: `y[n, m] = x[n, k] · Wᵀ + b`, with `W` stored `[m, k]`
//! (`[out, in]`, as in the inference models and GGUF).

use super::super::real::{gemm, Mat, Op, Real};

/// `y = x · Wᵀ (+ b)`.
pub fn forward<T: Real>(x: &[T], w: &[T], b: Option<&[T]>, k: usize, m: usize, y: &mut [T]) {
    let n = x.len() / k;
    gemm(Mat::new(x, n, k), Op::N, Mat::new(w, m, k), Op::T, y, false);
    if let Some(b) = b {
        for row in y.chunks_exact_mut(m) {
            row.iter_mut().zip(b).for_each(|(y, b)| *y += *b);
        }
    }
}

/// `dx += dy · W`, `dw += dyᵀ · x`, `db += Σ_rows dy`.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    dy: &[T],
    x: &[T],
    w: &[T],
    k: usize,
    m: usize,
    dx: Option<&mut [T]>,
    dw: Option<&mut [T]>,
    db: Option<&mut [T]>,
) {
    let n = x.len() / k;
    if let Some(dx) = dx {
        gemm(
            Mat::new(dy, n, m),
            Op::N,
            Mat::new(w, m, k),
            Op::N,
            dx,
            true,
        );
    }
    if let Some(dw) = dw {
        gemm(
            Mat::new(dy, n, m),
            Op::T,
            Mat::new(x, n, k),
            Op::N,
            dw,
            true,
        );
    }
    if let Some(db) = db {
        for row in dy.chunks_exact(m) {
            db.iter_mut().zip(row).for_each(|(d, g)| *d += *g);
        }
    }
}
