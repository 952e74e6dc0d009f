//! Fetching a model's tensors by name with the shape the architecture
//! expects, so that a wrong file fails at load time with a message naming
//! the tensor, instead of producing garbage or a panic mid-forward.

use crate::error::{Error, Result};
use crate::io::ModelFile;
use crate::tensor::{AlignedBuf, DType, Storage, Tensor};

/// A model file plus the load options that apply to every tensor.
pub struct Weights<'a> {
    pub file: &'a ModelFile,
    /// Quantize float matrices to this block format while loading.
    pub quantize: Option<DType>,
    /// Changes every tensor passes through as it is fetched: LoRA adapters
    /// merged into the matrices they adapt, or the weights of a model being
    /// trained in place of the file's.
    pub patch: Option<&'a dyn Patch>,
}

/// A change to a model's tensors as they load, by name. It sees (and
/// returns) each tensor as the file stores it.
pub trait Patch: Sync {
    fn tensor(&self, name: &str, stored: Tensor) -> Result<Tensor>;
}

impl Weights<'_> {
    pub fn has(&self, name: &str) -> bool {
        self.file.tensors().iter().any(|t| t.name == name)
    }

    /// A tensor that must have exactly `shape` (outermost first).
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        if !self.has(name) {
            return Err(Error::NotFound(format!(
                "{}: tensor {name} is missing",
                self.file.path()
            )));
        }
        let tensor = self.file.tensor(name)?;
        let tensor = match self.patch {
            Some(patch) => patch.tensor(name, tensor)?,
            None => tensor,
        };
        if tensor.dims() != shape {
            return Err(Error::Invalid(format!(
                "{}: tensor {name}: expected shape {:?}, file has {}",
                self.file.path(),
                shape,
                tensor.shape()
            )));
        }
        Ok(tensor)
    }

    /// A weight matrix `[rows, cols]`, quantized on load when asked and when
    /// its rows are a whole number of blocks.
    pub fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Tensor> {
        let tensor = self.tensor(name, &[rows, cols])?;
        self.maybe_quantize(tensor)
    }

    /// A weight matrix the file stores as `[cols, rows]` (`[in, out]`, as
    /// Hugging Face's `Conv1D` in GPT-2 does), returned as `[rows, cols]`
    /// like [`matrix`](Self::matrix): transposed once into owned storage of
    /// the same float type, then quantized when asked.
    pub fn matrix_transposed(&self, name: &str, rows: usize, cols: usize) -> Result<Tensor> {
        let stored = self.tensor(name, &[cols, rows])?;
        self.maybe_quantize(transpose(&stored)?)
    }

    /// Quantize a float matrix to the requested type; where its rows are
    /// not a whole number of that type's blocks, to the 32-weight format
    /// llama.cpp falls back to (Q4_K → Q5_0, …), or not at all.
    fn maybe_quantize(&self, tensor: Tensor) -> Result<Tensor> {
        let cols = tensor.dims().last().copied().unwrap_or(0);
        let Some(wanted) = self.quantize.filter(|_| !tensor.dtype().is_quantized()) else {
            return Ok(tensor);
        };
        let fits = |d: &DType| cols.is_multiple_of(d.block_len());
        match Some(wanted)
            .filter(fits)
            .or(wanted.short_row_fallback().filter(fits))
        {
            Some(dtype) => quantize(&tensor, dtype),
            None => Ok(tensor),
        }
    }

    /// A vector (norm weights, biases) as f32 on the heap: small, and read
    /// on every token, so converting once is worth the copy.
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        self.tensor(name, &[len])?.to_f32_vec()
    }

    pub fn optional_vector(&self, name: &str, len: usize) -> Result<Option<Vec<f32>>> {
        if self.has(name) {
            self.vector(name, len).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A 2-D float tensor's transpose in new storage, element bytes moved as
/// they are (no conversion, so F16 and BF16 stay half the size of F32).
fn transpose(tensor: &Tensor) -> Result<Tensor> {
    let &[rows, cols] = tensor.dims() else {
        return Err(Error::Invalid(format!(
            "transpose: expected a matrix, got shape {}",
            tensor.shape()
        )));
    };
    let width = match tensor.dtype() {
        DType::F32 => 4,
        DType::F16 | DType::BF16 => 2,
        other => {
            return Err(Error::DType {
                op: "transpose".into(),
                dtype: other.to_string(),
            })
        }
    };
    let src = tensor.as_bytes()?;
    let mut buf = AlignedBuf::zeroed(src.len());
    let dst = buf.as_mut_slice();
    for r in 0..rows {
        for c in 0..cols {
            let (from, to) = ((r * cols + c) * width, (c * rows + r) * width);
            dst[to..to + width].copy_from_slice(&src[from..from + width]);
        }
    }
    Tensor::from_storage(Storage::owned(buf), tensor.dtype(), [cols, rows])
}

fn quantize(tensor: &Tensor, dtype: DType) -> Result<Tensor> {
    let values = tensor.to_f32_vec()?;
    let bytes = dtype.bytes_for(values.len()).ok_or_else(|| {
        Error::Invalid(format!(
            "cannot quantize {} values to {dtype}",
            values.len()
        ))
    })?;
    let mut buf = AlignedBuf::zeroed(bytes);
    crate::quant::quantize(dtype, &values, buf.as_mut_slice())?;
    Tensor::from_storage(Storage::owned(buf), dtype, tensor.shape().clone())
}
