//! `y = x · Wᵀ (+ b)` for a batch of `T` rows, whatever `W`'s storage: the
//! one place a model decides between the quantized kernels and dense GEMM.

use crate::error::Result;
use crate::ops;
use crate::tensor::Tensor;

/// `x` is `[t, in]`, `w` is `[out, in]`, `y` is `[t, out]`.
pub fn linear(x: &[f32], t: usize, w: &Tensor, bias: Option<&[f32]>, y: &mut [f32]) -> Result<()> {
    if w.dtype().is_quantized() {
        if t == 1 {
            ops::quant::matvec(w, x, y)?;
        } else {
            ops::quant::matmul(w, x, t, y)?;
        }
    } else {
        ops::gemm::linear(x, w, y)?;
    }
    if let Some(b) = bias {
        ops::elementwise::add_inplace(y, b)?;
    }
    Ok(())
}
