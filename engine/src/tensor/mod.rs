//! Tensors: a dtype, a shape, strides and a window of [`Storage`].
//!
//! Plain-float tensors may be strided views (transpose, narrow). Quantized
//! tensors are always contiguous along their innermost dimension, because a
//! block packs consecutive elements of one row; views may only select rows.

mod dtype;
mod format;
mod ggml_type;
mod shape;
mod storage;

pub use dtype::DType;
pub use ggml_type::GgmlType;
pub use shape::Shape;
pub use storage::{AlignedBuf, Storage, StorageKind};

use crate::error::{Error, Result};

#[derive(Clone)]
pub struct Tensor {
    storage: Storage,
    dtype: DType,
    shape: Shape,
    /// Element strides; for quantized tensors always contiguous.
    strides: Vec<usize>,
    /// Offset of the first element, in elements (a multiple of the block length).
    offset: usize,
}

impl Tensor {
    /// A contiguous tensor over `storage`, which must hold exactly the bytes
    /// that `shape` needs in `dtype`.
    pub fn from_storage(storage: Storage, dtype: DType, shape: impl Into<Shape>) -> Result<Self> {
        let shape = shape.into();
        if shape.last() % dtype.block_len() != 0 {
            return Err(Error::Invalid(format!(
                "a {dtype} tensor's innermost dimension must be a multiple of {} (the block length), shape is {shape}",
                dtype.block_len()
            )));
        }
        let needed = shape
            .checked_numel()
            .and_then(|n| dtype.bytes_for(n))
            .ok_or_else(|| Error::Invalid(format!("shape {shape} of {dtype} is too large")))?;
        if needed != storage.len() {
            return Err(Error::Invalid(format!(
                "a {dtype} tensor of shape {shape} needs {needed} bytes, storage has {}",
                storage.len()
            )));
        }
        let strides = shape.contiguous_strides();
        Ok(Tensor {
            storage,
            dtype,
            shape,
            strides,
            offset: 0,
        })
    }

    pub fn from_f32(data: &[f32], shape: impl Into<Shape>) -> Result<Self> {
        Tensor::from_storage(Storage::from_f32(data), DType::F32, shape)
    }

    pub fn zeros(shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        let storage = Storage::owned(AlignedBuf::zeroed(shape.numel() * 4));
        Tensor::from_storage(storage, DType::F32, shape).expect("zeroed storage has the right size")
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    pub fn rank(&self) -> usize {
        self.shape.rank()
    }

    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn is_contiguous(&self) -> bool {
        self.strides == self.shape.contiguous_strides()
    }

    /// The tensor's bytes, if it is contiguous.
    pub fn as_bytes(&self) -> Result<&[u8]> {
        if !self.is_contiguous() {
            return Err(Error::Invalid(
                "tensor is a strided view; call .contiguous() first".into(),
            ));
        }
        let start = self.offset / self.dtype.block_len() * self.dtype.block_bytes();
        let len = self.dtype.bytes_for(self.numel()).unwrap_or(0);
        Ok(&self.storage.as_bytes()[start..start + len])
    }

    /// The elements of a contiguous f32 tensor, without copying.
    pub fn as_f32(&self) -> Result<&[f32]> {
        if self.dtype != DType::F32 {
            return Err(Error::DType {
                op: "as_f32".into(),
                dtype: self.dtype.to_string(),
            });
        }
        bytemuck::try_cast_slice(self.as_bytes()?)
            .map_err(|e| Error::Invalid(format!("f32 tensor bytes are not usable as f32: {e}")))
    }

    /// Rows `start..start + len` of the outermost dimension, without copying.
    pub fn narrow_rows(&self, start: usize, len: usize) -> Result<Tensor> {
        self.narrow(0, start, len)
    }

    /// A view of `len` indices of dimension `dim` from `start`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Tensor> {
        let Some(&size) = self.dims().get(dim) else {
            return Err(Error::Invalid(format!(
                "narrow: dimension {dim} does not exist in shape {}",
                self.shape
            )));
        };
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::Invalid(format!(
                "narrow: {start}..{} is out of range for dimension {dim} of shape {}",
                start.saturating_add(len),
                self.shape
            )));
        }
        if self.dtype.is_quantized() && dim + 1 == self.rank() {
            return Err(Error::Invalid(format!(
                "narrow: a {} tensor can only be narrowed along its rows, not its innermost dimension",
                self.dtype
            )));
        }
        let mut dims = self.dims().to_vec();
        dims[dim] = len;
        Ok(Tensor {
            storage: self.storage.clone(),
            dtype: self.dtype,
            shape: Shape::new(dims),
            strides: self.strides.clone(),
            offset: self.offset + start * self.strides[dim],
        })
    }

    /// Swap two dimensions (a view; plain floats only).
    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor> {
        if a >= self.rank() || b >= self.rank() {
            return Err(Error::Invalid(format!(
                "transpose({a}, {b}) on a tensor of rank {}",
                self.rank()
            )));
        }
        if self.dtype.is_quantized() {
            return Err(Error::DType {
                op: "transpose".into(),
                dtype: self.dtype.to_string(),
            });
        }
        let mut dims = self.dims().to_vec();
        let mut strides = self.strides.clone();
        dims.swap(a, b);
        strides.swap(a, b);
        Ok(Tensor {
            shape: Shape::new(dims),
            strides,
            ..self.clone()
        })
    }

    /// The same elements with another shape (contiguous tensors only).
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        // Checked: a shape whose product wraps around could otherwise
        // match this tensor's element count.
        if shape.checked_numel() != Some(self.numel()) {
            return Err(Error::shape("reshape", &self.shape, &shape));
        }
        if !self.is_contiguous() {
            return self.contiguous()?.reshape(shape);
        }
        if shape.last() % self.dtype.block_len() != 0 {
            return Err(Error::Invalid(format!(
                "reshape: a {} tensor needs an innermost dimension that is a multiple of {}",
                self.dtype,
                self.dtype.block_len()
            )));
        }
        Ok(Tensor {
            strides: shape.contiguous_strides(),
            shape,
            ..self.clone()
        })
    }

    /// All elements as f32, in row-major order (dequantizing or converting).
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        if self.is_contiguous() {
            let mut out = vec![0f32; self.numel()];
            crate::quant::dequantize(self.dtype, self.as_bytes()?, &mut out)?;
            return Ok(out);
        }
        // A strided float view: convert the underlying window, then gather.
        let base = Tensor {
            shape: Shape::new([self.storage.len() / self.dtype.block_bytes()]),
            strides: vec![1],
            offset: 0,
            ..self.clone()
        };
        let all = base.to_f32_vec()?;
        let mut out = Vec::with_capacity(self.numel());
        let mut index = vec![0usize; self.rank()];
        for _ in 0..self.numel() {
            let at: usize = self.offset
                + index
                    .iter()
                    .zip(&self.strides)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            out.push(all[at]);
            for d in (0..self.rank()).rev() {
                index[d] += 1;
                if index[d] < self.dims()[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(out)
    }

    /// A contiguous copy (or the tensor itself when already contiguous).
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        Tensor::from_f32(&self.to_f32_vec()?, self.shape.clone())
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor({} {}, {:?})",
            self.dtype,
            self.shape,
            self.storage.kind()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_gather_the_right_elements() {
        let t = Tensor::from_f32(&[1., 2., 3., 4., 5., 6.], [2, 3]).unwrap();
        assert_eq!(
            t.transpose(0, 1).unwrap().to_f32_vec().unwrap(),
            [1., 4., 2., 5., 3., 6.]
        );
        assert_eq!(
            t.narrow(1, 1, 2).unwrap().to_f32_vec().unwrap(),
            [2., 3., 5., 6.]
        );
        assert_eq!(t.narrow_rows(1, 1).unwrap().as_f32().unwrap(), [4., 5., 6.]);
        assert!(t.narrow(1, 2, 2).is_err());
        assert!(t.reshape([4]).is_err());
    }

    #[test]
    fn storage_size_must_match_shape() {
        let err =
            Tensor::from_storage(Storage::from_f32(&[0.0; 5]), DType::F32, [2, 3]).unwrap_err();
        assert!(err.to_string().contains("needs 24 bytes"), "{err}");
        let err =
            Tensor::from_storage(Storage::from_f32(&[0.0; 8]), DType::Q4_0, [1, 16]).unwrap_err();
        assert!(err.to_string().contains("multiple of 32"), "{err}");
    }
}
