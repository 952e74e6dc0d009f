//! A linear layer: `y[n, m] = x[n, k] · Wᵀ + b`, with `W` stored `[m, k]`
//! (`[out, in]`, as in the inference models and GGUF).

use super::super::real::{gemm, Mat, Op, Real};
use super::parallel::{self, Shared};
use crate::backend::cpu::simd::vectorized;

/// `y = x · Wᵀ (+ b)`.
pub fn forward<T: Real>(x: &[T], w: &[T], b: Option<&[T]>, k: usize, m: usize, y: &mut [T]) {
    let n = x.len() / k;
    gemm(Mat::new(x, n, k), Op::N, Mat::new(w, m, k), Op::T, y, false);
    if let Some(b) = b {
        let y_s = Shared::new(y);
        parallel::row_chunks(n, m, &|_, rows| {
            // SAFETY: these rows of y belong to this job.
            let y = unsafe { y_s.range(rows.start * m, rows.len() * m) };
            vectorized(
                #[inline(always)]
                || {
                    for row in y.chunks_exact_mut(m) {
                        row.iter_mut().zip(b).for_each(|(y, b)| *y += *b);
                    }
                },
            )
        });
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
        column_sums(dy, m, db);
    }
}

/// `sums[j] += Σ_rows x[row, j]`.
fn column_sums<T: Real>(x: &[T], m: usize, sums: &mut [T]) {
    let total = parallel::row_chunks_summed(x.len() / m, m, m, &|rows, p| {
        let x = &x[rows.start * m..rows.end * m];
        vectorized(
            #[inline(always)]
            || {
                for row in x.chunks_exact(m) {
                    p.iter_mut().zip(row).for_each(|(p, x)| *p += *x);
                }
            },
        )
    });
    sums.iter_mut().zip(&total).for_each(|(s, t)| *s += *t);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bias_gradient_over_many_row_jobs_is_the_column_sum() {
        let m = 48;
        let rows = 3 * parallel::rows_per_job(m) + 5;
        let dy: Vec<f64> = (0..rows * m).map(|i| ((i * 7) % 19) as f64 - 9.0).collect();
        let mut db = vec![1.0; m];
        column_sums(&dy, m, &mut db);
        for (j, got) in db.iter().enumerate() {
            let want: f64 = 1.0 + (0..rows).map(|r| dy[r * m + j]).sum::<f64>();
            assert_eq!(*got, want, "column {j}");
        }
    }
}
