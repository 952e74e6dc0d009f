//! Arithmetic on whole tensors, as a person at a REPL or in a notebook uses
//! them: element-wise operations with numpy's broadcasting, matmul, softmax
//! and reductions along a dimension. Results are new contiguous f32 tensors;
//! the heavy ones (matmul, softmax over the last dimension) go through
//! the ops kernels, so the profiler sees them like any model kernel.
//! (The methods are `Tensor`'s; they live here because they run ops, which
//! sit above the tensor type.)

use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::{Shape, Tensor};

/// An element-wise operation on two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }
}

/// A dimension given as an index that may count from the end (-1 is the
/// last), checked against the rank.
pub fn resolve_dim(dim: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let d = if dim < 0 { dim + r } else { dim };
    if d < 0 || d >= r.max(1) {
        return Err(Error::Invalid(format!(
            "dimension {dim} is out of range for a tensor of rank {rank} (use 0..{} or -{}..-1)",
            rank.max(1),
            rank.max(1)
        )));
    }
    Ok(d as usize)
}

/// The shape two shapes broadcast to (numpy's rules: align from the right;
/// a dimension of 1 stretches).
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i < rank - a.len() {
            1
        } else {
            a[i - (rank - a.len())]
        };
        let db = if i < rank - b.len() {
            1
        } else {
            b[i - (rank - b.len())]
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Strides that read `dims` (right-aligned inside `out_rank` dimensions) as
/// if stretched: a stretched dimension has stride 0.
fn broadcast_strides(dims: &[usize], out: &[usize]) -> Vec<usize> {
    let own = Shape::new(dims.to_vec()).contiguous_strides();
    let pad = out.len() - dims.len();
    (0..out.len())
        .map(|i| {
            if i < pad || dims[i - pad] == 1 {
                0
            } else {
                own[i - pad]
            }
        })
        .collect()
}

/// The most elements a tensor computed here may have (1 GiB of f32): a
/// broadcast or a product of two modest tensors can ask for far more memory
/// than the machine has, and that must be an error, not an abort.
pub const MAX_RESULT_ELEMENTS: usize = 1 << 28;

/// The element count of a result of shape `dims`, if it is allowed.
fn result_len(dims: &[usize], what: &str) -> Result<usize> {
    Shape::new(dims.to_vec())
        .checked_numel()
        .filter(|&n| n <= MAX_RESULT_ELEMENTS)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{what} of shape {dims:?} would exceed the limit of {MAX_RESULT_ELEMENTS} elements"
            ))
        })
}

impl Tensor {
    /// A contiguous f32 tensor from values in row-major order.
    pub fn from_vec(data: Vec<f32>, shape: impl Into<Shape>) -> Result<Tensor> {
        Tensor::from_f32(&data, shape)
    }

    /// `self op other`, broadcasting as numpy does.
    pub fn binary(&self, op: BinaryOp, other: &Tensor) -> Result<Tensor> {
        let (a_dims, b_dims) = (self.dims(), other.dims());
        let out_dims = broadcast_shape(a_dims, b_dims).ok_or_else(|| {
            Error::shape(
                format!("element-wise {}", op.symbol()),
                a_dims,
                format!("{b_dims:?}, which does not broadcast with it"),
            )
        })?;
        let (a, b) = (self.to_f32_vec()?, other.to_f32_vec()?);
        if a_dims == b_dims {
            let out = a.iter().zip(&b).map(|(&x, &y)| op.apply(x, y)).collect();
            return Tensor::from_vec(out, out_dims);
        }
        let (sa, sb) = (
            broadcast_strides(a_dims, &out_dims),
            broadcast_strides(b_dims, &out_dims),
        );
        let n = result_len(&out_dims, "element-wise result")?;
        let mut out = Vec::with_capacity(n);
        let mut index = vec![0usize; out_dims.len()];
        let (mut ia, mut ib) = (0usize, 0usize);
        for _ in 0..n {
            out.push(op.apply(a[ia], b[ib]));
            // Odometer step, keeping both flat offsets current.
            for d in (0..out_dims.len()).rev() {
                index[d] += 1;
                ia += sa[d];
                ib += sb[d];
                if index[d] < out_dims[d] {
                    break;
                }
                ia -= sa[d] * out_dims[d];
                ib -= sb[d] * out_dims[d];
                index[d] = 0;
            }
        }
        Tensor::from_vec(out, out_dims)
    }

    /// `self op scalar` (or `scalar op self` with `scalar_first`).
    pub fn scalar(&self, op: BinaryOp, scalar: f32, scalar_first: bool) -> Result<Tensor> {
        let out = self
            .to_f32_vec()?
            .into_iter()
            .map(|x| {
                if scalar_first {
                    op.apply(scalar, x)
                } else {
                    op.apply(x, scalar)
                }
            })
            .collect();
        Tensor::from_vec(out, self.shape().clone())
    }

    /// `f` applied to every element.
    pub fn map(&self, f: impl Fn(f32) -> f32) -> Result<Tensor> {
        let out = self.to_f32_vec()?.into_iter().map(f).collect();
        Tensor::from_vec(out, self.shape().clone())
    }

    /// Matrix product of `[m, k]` and `[k, n]` (a vector on either side is
    /// treated as one row / one column, as numpy does).
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        let (a, b) = (self.dims(), other.dims());
        let (m, k) = match a {
            [k] => (1, *k),
            [m, k] => (*m, *k),
            _ => return Err(Error::shape("matmul (left operand)", "rank 1 or 2", a)),
        };
        let (k2, n) = match b {
            [k] => (*k, 1),
            [k, n] => (*k, *n),
            _ => return Err(Error::shape("matmul (right operand)", "rank 1 or 2", b)),
        };
        if k != k2 {
            return Err(Error::shape(
                format!("matmul of {a:?} by {b:?}: inner dimensions"),
                k,
                k2,
            ));
        }
        result_len(&[m, n], "matmul result")?;
        let mut out = vec![0f32; m * n];
        ops::gemm::matmul_f32(
            &self.to_f32_vec()?,
            &other.to_f32_vec()?,
            (k, n),
            ops::gemm::BLayout::KN,
            &mut out,
        )?;
        let dims = match (a.len(), b.len()) {
            (1, 1) => vec![],
            (1, _) => vec![n],
            (_, 1) => vec![m],
            _ => vec![m, n],
        };
        Tensor::from_vec(out, dims)
    }

    /// Swap the two dimensions of a matrix (a copy).
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() != 2 {
            return Err(Error::shape("t() (transpose)", "a matrix", self.dims()));
        }
        self.transpose(0, 1)?.contiguous()
    }

    /// Softmax along `dim` (negative counts from the end).
    pub fn softmax(&self, dim: i64) -> Result<Tensor> {
        let d = resolve_dim(dim, self.rank())?;
        let moved = self.move_dim_last(d)?;
        let width = *moved.dims().last().unwrap_or(&1);
        let mut data = moved.to_f32_vec()?;
        if !data.is_empty() {
            ops::softmax::softmax(&mut data, width)?;
        }
        Tensor::from_vec(data, moved.shape().clone())?.move_last_dim_to(d)
    }

    /// Index of the largest element along `dim` (the first one on ties),
    /// as f32 values; `None` reduces over all elements to a scalar.
    pub fn argmax(&self, dim: Option<i64>) -> Result<Tensor> {
        self.reduce(dim, "argmax", |row| {
            let mut best = 0;
            for (i, &x) in row.iter().enumerate() {
                if x > row[best] {
                    best = i;
                }
            }
            best as f32
        })
    }

    pub fn sum(&self, dim: Option<i64>) -> Result<Tensor> {
        self.reduce(dim, "sum", |row| {
            row.iter().map(|&x| x as f64).sum::<f64>() as f32
        })
    }

    pub fn mean(&self, dim: Option<i64>) -> Result<Tensor> {
        self.reduce(dim, "mean", |row| {
            (row.iter().map(|&x| x as f64).sum::<f64>() / row.len() as f64) as f32
        })
    }

    pub fn max(&self, dim: Option<i64>) -> Result<Tensor> {
        self.reduce(dim, "max", |row| {
            row.iter().copied().fold(f32::NEG_INFINITY, f32::max)
        })
    }

    pub fn min(&self, dim: Option<i64>) -> Result<Tensor> {
        self.reduce(dim, "min", |row| {
            row.iter().copied().fold(f32::INFINITY, f32::min)
        })
    }

    /// Reduce rows along `dim` with `f`, dropping that dimension.
    fn reduce(&self, dim: Option<i64>, what: &str, f: impl Fn(&[f32]) -> f32) -> Result<Tensor> {
        if self.numel() == 0 {
            return Err(Error::Invalid(format!("{what} of an empty tensor")));
        }
        let Some(dim) = dim else {
            return Tensor::from_vec(vec![f(&self.to_f32_vec()?)], Vec::<usize>::new());
        };
        let d = resolve_dim(dim, self.rank())?;
        let moved = self.move_dim_last(d)?;
        let width = *moved.dims().last().unwrap_or(&1);
        let out: Vec<f32> = moved.to_f32_vec()?.chunks_exact(width).map(f).collect();
        let mut dims = self.dims().to_vec();
        dims.remove(d);
        Tensor::from_vec(out, dims)
    }

    /// The same elements with dimension `d` moved to the end (a view).
    fn move_dim_last(&self, d: usize) -> Result<Tensor> {
        let mut t = self.clone();
        for i in d..self.rank().saturating_sub(1) {
            t = t.transpose(i, i + 1)?;
        }
        Ok(t)
    }

    /// Undo [`Tensor::move_dim_last`]: the last dimension goes back to `d`.
    fn move_last_dim_to(&self, d: usize) -> Result<Tensor> {
        let mut t = self.clone();
        for i in (d..self.rank().saturating_sub(1)).rev() {
            t = t.transpose(i, i + 1)?;
        }
        t.contiguous()
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::shape("item()", "one element", self.dims()));
        }
        Ok(self.to_f32_vec()?[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(data: &[f32], dims: &[usize]) -> Tensor {
        Tensor::from_f32(data, dims.to_vec()).unwrap()
    }

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shape(&[2, 3], &[3]), Some(vec![2, 3]));
        assert_eq!(broadcast_shape(&[2, 1], &[1, 3]), Some(vec![2, 3]));
        assert_eq!(broadcast_shape(&[2, 3], &[2]), None);
        let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        let row = t(&[10., 20., 30.], &[3]);
        let col = t(&[100., 200.], &[2, 1]);
        assert_eq!(
            a.binary(BinaryOp::Add, &row).unwrap().to_f32_vec().unwrap(),
            [11., 22., 33., 14., 25., 36.]
        );
        assert_eq!(
            a.binary(BinaryOp::Mul, &col).unwrap().to_f32_vec().unwrap(),
            [100., 200., 300., 800., 1000., 1200.]
        );
        let err = a.binary(BinaryOp::Sub, &t(&[1., 2.], &[2])).unwrap_err();
        assert!(err.to_string().contains("does not broadcast"), "{err}");
    }

    #[test]
    fn matmul_softmax_and_reductions() {
        let a = t(&[1., 2., 3., 4.], &[2, 2]);
        assert_eq!(
            a.matmul(&a).unwrap().to_f32_vec().unwrap(),
            [7., 10., 15., 22.]
        );
        let v = t(&[1., 1.], &[2]);
        assert_eq!(a.matmul(&v).unwrap().dims(), [2]);
        let s = a.softmax(0).unwrap().to_f32_vec().unwrap();
        let e = (2f32).exp();
        assert!((s[0] - 1.0 / (1.0 + e)).abs() < 1e-6 && (s[2] - e / (1.0 + e)).abs() < 1e-6);
        assert_eq!(a.argmax(Some(-1)).unwrap().to_f32_vec().unwrap(), [1., 1.]);
        assert_eq!(a.sum(Some(0)).unwrap().to_f32_vec().unwrap(), [4., 6.]);
        assert_eq!(a.sum(None).unwrap().item().unwrap(), 10.);
        assert!(a.softmax(2).is_err());
    }
}
