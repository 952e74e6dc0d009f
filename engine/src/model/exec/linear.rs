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

/// [`linear`] for several weights applied to the same input (a layer's Q, K
/// and V, or its gate and up projections): one fused launch when decoding
/// through quantized weights of one type, otherwise one `linear` each.
pub fn linear_many(
    x: &[f32],
    t: usize,
    ws: &[&Tensor],
    biases: &[Option<&[f32]>],
    ys: &mut [&mut [f32]],
) -> Result<()> {
    let fused = t == 1
        && ws.first().is_some_and(|w| {
            let d = w.dtype();
            d.is_quantized() && ws.iter().all(|w| w.dtype() == d)
        });
    if fused {
        ops::quant::matvec_many(ws, x, ys)?;
        for (y, b) in ys.iter_mut().zip(biases) {
            if let Some(b) = b {
                ops::elementwise::add_inplace(y, b)?;
            }
        }
        return Ok(());
    }
    for ((w, b), y) in ws.iter().zip(biases).zip(ys.iter_mut()) {
        linear(x, t, w, *b, y)?;
    }
    Ok(())
}
