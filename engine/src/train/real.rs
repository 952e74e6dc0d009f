//! The number types training kernels are written over: f32 for training,
//! f64 for checking gradients against finite differences to ten digits.

use crate::backend::cpu::pool;
use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

pub trait Real:
    Copy
    + Default
    + Debug
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
{
    fn of(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// e^x: the engine's branch-free, vectorising exp for f32 (within a
    /// few ulp of libm's), exact libm for f64.
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn max(self, other: Self) -> Self;
    /// 1 / (1 + e^-x), through [`Real::exp`], so activation loops over it
    /// vectorise.
    fn logistic(self) -> Self;

    /// `C = A · B + beta · C` over raw strided matrices (matrixmultiply's
    /// contract). Natively the `gemm` crate computes it (its AVX-512
    /// kernels train ~15% faster); wasm32 keeps matrixmultiply.
    ///
    /// # Safety
    /// Every index the strides reach must lie inside its buffer, and `c`
    /// must not overlap `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        a_strides: (isize, isize),
        b: *const Self,
        b_strides: (isize, isize),
        beta: Self,
        c: *mut Self,
        c_strides: (isize, isize),
    );
}

macro_rules! real {
    ($t:ty, $gemm:path, $exp:path) => {
        impl Real for $t {
            fn of(v: f64) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn logistic(self) -> Self {
                1.0 / (1.0 + Real::exp(-self))
            }
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                a: *const Self,
                (rsa, csa): (isize, isize),
                b: *const Self,
                (rsb, csb): (isize, isize),
                beta: Self,
                c: *mut Self,
                (rsc, csc): (isize, isize),
            ) {
                #[cfg(not(target_arch = "wasm32"))]
                {
                    let _ = $gemm;
                    // gemm's contract: dst = alpha·dst + beta·lhs·rhs, dst
                    // read only when asked; (column, row) strides.
                    gemm::gemm(
                        m,
                        n,
                        k,
                        c,
                        csc,
                        rsc,
                        beta != 0.0,
                        a,
                        csa,
                        rsa,
                        b,
                        csb,
                        rsb,
                        beta,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
                #[cfg(target_arch = "wasm32")]
                $gemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
            }
        }
    };
}

real!(f32, matrixmultiply::sgemm, crate::backend::cpu::vector::exp);
real!(f64, matrixmultiply::dgemm, f64::exp);

/// A row-major `[rows, cols]` matrix in a slice whose rows start `stride`
/// elements apart (a head's columns inside a wider activation), read as is
/// or transposed.
#[derive(Clone, Copy)]
pub struct Mat<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

impl<'a, T> Mat<'a, T> {
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Mat::strided(data, rows, cols, cols)
    }

    pub fn strided(data: &'a [T], rows: usize, cols: usize, stride: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            stride,
        }
    }

    /// Elements the last row ends at.
    fn extent(&self) -> usize {
        if self.rows == 0 {
            0
        } else {
            (self.rows - 1) * self.stride + self.cols
        }
    }
}

/// Which way a [`Mat`] enters a product.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    N,
    T,
}

/// `c[m, n] (+)= op(a) · op(b)`: `accumulate` adds to `c` (gradients),
/// otherwise overwrites it. f32 products of many rows are split over the
/// kernel thread pool by rows of `c`.
///
/// Panics if the shapes do not agree: callers check their operands first,
/// and a mismatch here is a bug in the caller.
pub fn gemm<T: Real>(a: Mat<T>, op_a: Op, b: Mat<T>, op_b: Op, c: &mut [T], accumulate: bool) {
    let n = match op_b {
        Op::N => b.cols,
        Op::T => b.rows,
    };
    gemm_strided(a, op_a, b, op_b, c, n, accumulate)
}

/// [`gemm`] into a `c` whose rows start `ldc` elements apart (a block of a
/// wider matrix); the elements between rows are left alone.
pub fn gemm_strided<T: Real>(
    a: Mat<T>,
    op_a: Op,
    b: Mat<T>,
    op_b: Op,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
) {
    let (m, k) = match op_a {
        Op::N => (a.rows, a.cols),
        Op::T => (a.cols, a.rows),
    };
    let (k2, n) = match op_b {
        Op::N => (b.rows, b.cols),
        Op::T => (b.cols, b.rows),
    };
    assert_eq!(k, k2, "gemm: inner dimensions differ");
    assert!(a.data.len() >= a.extent() && b.data.len() >= b.extent());
    assert!(a.stride >= a.cols && b.stride >= b.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        ldc >= n && c.len() >= (m - 1) * ldc + n,
        "gemm: output too small"
    );
    // Row and column strides of op(x) for a row-major x.
    let strides = |x: &Mat<T>, op| match op {
        Op::N => (x.stride as isize, 1),
        Op::T => (1, x.stride as isize),
    };
    let (sa, sb) = (strides(&a, op_a), strides(&b, op_b));
    let beta = if accumulate { T::of(1.0) } else { T::of(0.0) };
    if k == 0 {
        if !accumulate {
            for row in c.chunks_mut(ldc).take(m) {
                row[..n].iter_mut().for_each(|v| *v = T::default());
            }
        }
        return;
    }
    let threads = pool::global().threads();
    // Below this much work a second thread costs more than it saves.
    let parallel = std::mem::size_of::<T>() == 4 && threads > 1 && m * n * k >= 1 << 18 && m >= 8;
    let c_ptr = SendPtr(c.as_mut_ptr());
    let rows = |range: std::ops::Range<usize>| {
        let c_ptr = &c_ptr;
        if range.is_empty() {
            return;
        }
        // SAFETY: shapes were checked above; `range` rows of `c` belong to
        // this call alone, and a, b are only read.
        unsafe {
            T::gemm_raw(
                range.len(),
                k,
                n,
                a.data.as_ptr().offset(range.start as isize * sa.0),
                sa,
                b.data.as_ptr(),
                sb,
                beta,
                c_ptr.0.add(range.start * ldc),
                (ldc as isize, 1),
            )
        }
    };
    if parallel {
        pool::global().run(&|i, parts| rows(pool::split_range(m, i, parts, 4)));
    } else {
        rows(0..m);
    }
}

struct SendPtr<T>(*mut T);
// SAFETY: each thread writes a disjoint range of rows through it.
unsafe impl<T> Sync for SendPtr<T> {}
unsafe impl<T> Send for SendPtr<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_handles_every_transpose() {
        // a = [[1, 2, 3], [4, 5, 6]] (2×3), b = [[1, 0], [0, 1], [1, 1]] (3×2).
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0f64];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0f64];
        let mut c = [0.0; 4];
        gemm(
            Mat::new(&a, 2, 3),
            Op::N,
            Mat::new(&b, 3, 2),
            Op::N,
            &mut c,
            false,
        );
        assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
        // aᵀ (3×2) · a (2×3) = 3×3.
        let mut c = [0.0; 9];
        gemm(
            Mat::new(&a, 2, 3),
            Op::T,
            Mat::new(&a, 2, 3),
            Op::N,
            &mut c,
            false,
        );
        assert_eq!(c, [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]);
        // a (2×3) · aᵀ (3×2), accumulated onto ones.
        let mut c = [1.0; 4];
        gemm(
            Mat::new(&a, 2, 3),
            Op::N,
            Mat::new(&a, 2, 3),
            Op::T,
            &mut c,
            true,
        );
        assert_eq!(c, [15.0, 33.0, 33.0, 78.0]);
    }

    #[test]
    fn large_f32_products_match_f64_in_every_transpose() {
        // Large enough for the threaded path.
        let (m, k, n) = (96, 80, 72);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let a64: Vec<f64> = a.iter().map(|&v| v as f64).collect();
        let b64: Vec<f64> = b.iter().map(|&v| v as f64).collect();
        for (op_a, op_b) in [
            (Op::N, Op::N),
            (Op::T, Op::N),
            (Op::N, Op::T),
            (Op::T, Op::T),
        ] {
            // Shapes so that op(a) is m×k and op(b) is k×n.
            let (ar, ac) = if op_a == Op::N { (m, k) } else { (k, m) };
            let (br, bc) = if op_b == Op::N { (k, n) } else { (n, k) };
            let mut c = vec![1f32; m * n];
            let mut c64 = vec![1f64; m * n];
            gemm(
                Mat::new(&a, ar, ac),
                op_a,
                Mat::new(&b, br, bc),
                op_b,
                &mut c,
                true,
            );
            gemm(
                Mat::new(&a64, ar, ac),
                op_a,
                Mat::new(&b64, br, bc),
                op_b,
                &mut c64,
                true,
            );
            for (x, y) in c.iter().zip(&c64) {
                assert_eq!(*x as f64, *y);
            }
        }
    }

    #[test]
    fn parallel_f32_gemm_equals_one_thread() {
        let (m, k, n) = (67, 129, 33);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let mut c = vec![0f32; m * n];
        gemm(
            Mat::new(&a, m, k),
            Op::N,
            Mat::new(&b, k, n),
            Op::N,
            &mut c,
            false,
        );
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert_eq!(c[i * n + j], want, "[{i}, {j}]");
            }
        }
    }
}
