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
use crate::train::kernels::{elementwise, linear};
use crate::train::real::{gemm, Mat, Op};
use std::sync::Arc;

pub(super) enum FrozenStep {
    Linear {
        x: Var,
        w: Arc<Tensor>,
        b: Option<Var>,
    },
    /// A frozen projection with a LoRA adapter, one node: only `x · Aᵀ`
    /// (`[n, r]`) is kept for the backward pass, where the adapter's
    /// output, its scaled copy and the sum would each be `[n, out]`.
    Adapted {
        x: Var,
        /// The adapter's input (`x` after dropout, or `x` itself).
        x_adapter: Var,
        w: Arc<Tensor>,
        b: Option<Var>,
        adapter: LowRank,
        down: Vec<f32>,
    },
}

/// A LoRA adapter's matrices, `A` `[r, in]` and `B` `[out, r]`, and the
/// factor on its output.
#[derive(Debug, Clone, Copy)]
pub struct LowRank {
    pub a: Var,
    pub b: Var,
    pub scale: f32,
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

    /// `x · Wᵀ + b + s · x_adapter · Aᵀ · Bᵀ` for a frozen `W`: a LoRA
    /// projection in one node.
    pub fn linear_frozen_adapted(
        &mut self,
        x: Var,
        x_adapter: Var,
        w: Arc<Tensor>,
        b: Option<Var>,
        adapter: LowRank,
    ) -> Result<Var> {
        let y = self.linear_frozen(x, w.clone(), b)?;
        let (m, k) = (w.dims()[0], w.dims()[1]);
        let r = self.shape(adapter.a).first().copied().unwrap_or(0);
        if self.shape(adapter.a) != [r, k]
            || self.shape(adapter.b) != [m, r]
            || self.shape(x_adapter) != self.shape(x)
        {
            return Err(shape_err(
                "lora",
                format!(
                    "A {:?} and B {:?} for a weight [{m}, {k}] and input {:?}",
                    self.shape(adapter.a),
                    self.shape(adapter.b),
                    self.shape(x_adapter)
                ),
            ));
        }
        // The plain projection's node becomes the adapted one: its value
        // gains the adapter's output, its step the adapter.
        let Var::Node(i) = y else {
            unreachable!("linear_frozen returns a node")
        };
        let n = self.rows(x);
        let mut down = vec![0.0; n * r];
        linear::forward(
            self.value(x_adapter),
            self.value(adapter.a),
            None,
            k,
            r,
            &mut down,
        );
        let mut up = self.buffers.overwritten(n * m);
        linear::forward(&down, self.value(adapter.b), None, r, m, &mut up);
        let scale = adapter.scale;
        self.nodes[i]
            .value
            .iter_mut()
            .zip(&up)
            .for_each(|(y, u)| *y += scale * u);
        self.buffers.recycle(up);
        self.nodes[i].step = Step::Frozen(FrozenStep::Adapted {
            x,
            x_adapter,
            w,
            b,
            adapter,
            down,
        });
        self.nodes[i].needs_grad |= self.needs_grad(adapter.a) || self.needs_grad(adapter.b);
        Ok(y)
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
            FrozenStep::Adapted {
                x,
                x_adapter,
                w,
                b,
                adapter,
                down,
            } => {
                let plain = FrozenStep::Linear {
                    x: *x,
                    w: w.clone(),
                    b: *b,
                };
                self.backward_frozen(&plain, g);
                let (k, m) = (w.dims()[1], w.dims()[0]);
                let r = self.shape(adapter.a)[0];
                let n = g.len() / m;
                // With g' = s · g: dB += g'ᵀ · down, d(down) = g' · B, then
                // dA += d(down)ᵀ · x_adapter and dx_adapter += d(down) · A.
                let scaled: Vec<f32> = g.iter().map(|v| v * adapter.scale).collect();
                let mut d_down = vec![0.0; n * r];
                let mut db = vec![0.0; m * r];
                let bv = self.value(adapter.b);
                linear::backward(
                    &scaled,
                    down,
                    bv,
                    r,
                    m,
                    Some(&mut d_down),
                    Some(&mut db),
                    None,
                );
                self.add_grad(adapter.b, |_, d| elementwise::accumulate(d, &db));
                let (xa, a) = (*x_adapter, adapter.a);
                self.add_grad(a, |gr, da| {
                    linear::backward(
                        &d_down,
                        gr.value(xa),
                        gr.value(a),
                        k,
                        r,
                        None,
                        Some(da),
                        None,
                    )
                });
                self.add_grad(xa, |gr, dx| {
                    linear::backward(
                        &d_down,
                        gr.value(xa),
                        gr.value(a),
                        k,
                        r,
                        Some(dx),
                        None,
                        None,
                    )
                });
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
