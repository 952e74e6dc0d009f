//! Operations on frozen weights kept as they were loaded (a quantized
//! GGUF's blocks, a memory-mapped f32 file): LoRA fine-tuning trains small
//! adapters beside them, so they need no gradient, no f32 copy and no
//! optimizer state, and a 1B model trains in the memory its inference
//! takes.
//!
//! The forward pass goes through the inference kernels. The gradient of
//! the input, `dx = dy · W`, reads W by rows of output, which no quantized
//! kernel does: W is widened to f32 a tile of rows at a time and each tile
//! enters one gemm, so the f32 copy of W never exists whole.

use super::{shape_err, Graph, Step, Var};
use crate::error::Result;
use crate::ops::launch;
use crate::profile::Cost;
use crate::tensor::Tensor;
use crate::train::kernels::linear;
use crate::train::real::{gemm, Mat, Op};
use std::sync::Arc;

pub(super) enum FrozenStep {
    Linear {
        x: Var,
        w: Arc<Tensor>,
        b: Option<Var>,
    },
}

/// Rows of W widened to f32 at a time in the backward pass.
const TILE_ROWS: usize = 256;

impl Graph {
    /// `x · Wᵀ + b` for a frozen `W` (`[out, in]`, any type the engine
    /// computes with).
    pub fn linear_frozen(&mut self, x: Var, w: Arc<Tensor>, b: Option<Var>) -> Result<Var> {
        let &[m, k] = w.dims() else {
            return Err(shape_err(
                "linear",
                format!("frozen weight must be 2-D, not {}", w.shape()),
            ));
        };
        if self.last_dim(x) != k || b.is_some_and(|b| self.shape(b) != [m]) {
            return Err(shape_err(
                "linear",
                format!("input {:?} against frozen weight [{m}, {k}]", self.shape(x)),
            ));
        }
        // Its rows must widen to f32 for the backward pass: check now, so
        // that the backward cannot fail.
        w.narrow_rows(0, m.min(1))?.to_f32_vec()?;
        let n = self.rows(x);
        let mut out = self.buffers.overwritten(n * m);
        let bias = b.map(|b| self.value(b).to_vec());
        crate::model::exec::linear::linear(self.value(x), n, &w, bias.as_deref(), &mut out)?;
        let mut shape = self.shape(x).to_vec();
        *shape.last_mut().unwrap_or(&mut 0) = m;
        let needs = self.needs_grad(x) || b.is_some_and(|b| self.needs_grad(b));
        let step = Step::Frozen(FrozenStep::Linear { x, w, b });
        Ok(self.push(out, shape, step, needs))
    }

    /// Rows `ids` of a frozen table: a constant.
    pub fn embedding_frozen(&mut self, table: &Tensor, ids: &[u32]) -> Result<Var> {
        let &[_, dim] = table.dims() else {
            return Err(shape_err("embedding", "table must be 2-D".into()));
        };
        let mut out = self.buffers.overwritten(ids.len() * dim);
        crate::ops::embedding::embedding(table, ids, &mut out)?;
        self.input(out, &[ids.len(), dim])
    }

    pub(super) fn backward_frozen(&mut self, step: &FrozenStep, g: &[f32]) {
        match step {
            FrozenStep::Linear { x, w, b } => {
                let (x, m) = (*x, w.dims()[0]);
                let k = w.dims()[1];
                let n = g.len() / m;
                let cost = Cost::matmul(n, m, k);
                self.add_grad(x, |_, dx| {
                    launch("linear_frozen_backward_input", cost, String::new, || {
                        input_gradient(g, w, n, dx)
                    })
                });
                if let Some(b) = *b {
                    self.add_grad(b, |gr, db| {
                        linear::backward(g, gr.value(x), &[], k, m, None, None, Some(db))
                    });
                }
            }
        }
    }
}

/// `dx += dy · W`, W widened a tile of rows at a time.
fn input_gradient(dy: &[f32], w: &Tensor, n: usize, dx: &mut [f32]) {
    let (m, k) = (w.dims()[0], w.dims()[1]);
    for r0 in (0..m).step_by(TILE_ROWS) {
        let rows = TILE_ROWS.min(m - r0);
        // The forward pass checked that rows widen; should one not, the
        // gradient turns NaN, and the step refuses to apply it.
        let Ok(tile) = w.narrow_rows(r0, rows).and_then(|t| t.to_f32_vec()) else {
            dx.fill(f32::NAN);
            return;
        };
        let dy_cols = Mat::strided(&dy[r0..], n, rows, m);
        gemm(dy_cols, Op::N, Mat::new(&tile, rows, k), Op::N, dx, true);
    }
}
