//! The operations of the recurrent model: token shift, the WKV recurrence
//! and the GRU window, and the row gather/scatter that routes tokens to
//! experts. Each recurrent op takes the state its window starts from as a
//! constant and returns the state it ends in, for the caller to carry into
//! the next window: gradients stop at the window's edge (truncated
//! back-propagation through time).

use super::{shape_err, Graph, Step, Var};
use crate::error::Result;
use crate::ops::launch;
use crate::profile::Cost;
use crate::train::kernels::gru::{self, GruDims, GruSaved};
use crate::train::kernels::wkv::{self, WkvDims};
use crate::train::kernels::{elementwise, rows, token_shift};

pub(super) enum RecurrentStep {
    TokenShift {
        x: Var,
        mu: Var,
        carry: Vec<f32>,
        seq: usize,
    },
    Wkv {
        inputs: [Var; 4],
        u: Var,
        saved: Vec<f32>,
        dims: WkvDims,
    },
    Gru {
        gx: Var,
        weights: GruWeights,
        saved: GruSaved<f32>,
        dims: GruDims,
    },
    Gather {
        x: Var,
        rows: Vec<usize>,
    },
    Scatter {
        y: Var,
        gates: Var,
        rows: Vec<usize>,
        column: usize,
    },
}

/// The hidden-side parameters of a GRU: weights `u` (`[3H, H]`), bias `bu`
/// (`[3H]`) and the hidden state's RMSNorm weight `norm` (`[H]`).
#[derive(Debug, Clone, Copy)]
pub struct GruWeights {
    pub u: Var,
    pub bu: Var,
    pub norm: Var,
    pub eps: f64,
}

impl Graph {
    /// RWKV token shift of `x` (`[batch · seq, C]`) with mix `mu` (`[C]`);
    /// `carry` (`[batch, C]`) precedes each sequence.
    pub fn token_shift(&mut self, x: Var, carry: &[f32], mu: Var, batch: usize) -> Result<Var> {
        let c = self.last_dim(x);
        if self.shape(mu) != [c] || carry.len() != batch * c || !self.rows(x).is_multiple_of(batch)
        {
            return Err(shape_err(
                "token_shift",
                format!(
                    "input {:?}, mix {:?}, {} carried values for {batch} sequences",
                    self.shape(x),
                    self.shape(mu),
                    carry.len()
                ),
            ));
        }
        let seq = self.rows(x) / batch;
        let mut out = self.buffers.zeros(self.value(x).len());
        launch(
            "token_shift",
            Cost::elementwise(out.len(), 3),
            String::new,
            || token_shift::forward(self.value(x), carry, self.value(mu), seq, &mut out),
        );
        let needs = self.needs_grad(x) || self.needs_grad(mu);
        let step = RecurrentStep::TokenShift {
            x,
            mu,
            carry: carry.to_vec(),
            seq,
        };
        Ok(self.push(out, self.shape(x).to_vec(), Step::Recurrent(step), needs))
    }

    /// The WKV recurrence of receptance, key, value and decay logits (each
    /// `[batch · seq, C]`) with bonus `u` (`[C]`), from `state`
    /// (`[batch, heads, D, D]`). Returns the output and the state after.
    pub fn wkv(
        &mut self,
        inputs: [Var; 4],
        u: Var,
        state: &[f32],
        dims: WkvDims,
    ) -> Result<(Var, Vec<f32>)> {
        let want = [dims.batch * dims.seq, dims.width];
        let bad_input = inputs.iter().any(|&v| self.shape(v) != want);
        if bad_input
            || dims.heads == 0
            || !dims.width.is_multiple_of(dims.heads)
            || self.shape(u) != [dims.width]
            || state.len() != dims.state_len()
        {
            return Err(shape_err(
                "wkv",
                format!(
                    "inputs {:?}, bonus {:?}, {} state values for {dims:?}",
                    inputs.map(|v| self.shape(v).to_vec()),
                    self.shape(u),
                    state.len()
                ),
            ));
        }
        let mut y = vec![0.0; want[0] * want[1]];
        let mut saved = vec![0.0; dims.saved_len()];
        let mut end = vec![0.0; dims.state_len()];
        let cost = Cost::elementwise(y.len() * 4 * dims.head_dim(), 5);
        launch(
            "wkv",
            cost,
            || format!("{dims:?}"),
            || {
                let [r, k, v, d] = inputs.map(|v| self.value(v));
                let u = self.value(u);
                wkv::forward(r, k, v, d, u, state, dims, &mut y, &mut saved, &mut end)
            },
        );
        let needs = inputs.iter().any(|&v| self.needs_grad(v)) || self.needs_grad(u);
        let step = RecurrentStep::Wkv {
            inputs,
            u,
            saved,
            dims,
        };
        let out = self.push(y, want.to_vec(), Step::Recurrent(step), needs);
        Ok((out, end))
    }

    /// A GRU over a window: `gx` (`[batch · seq, 3H]`) are the input-side
    /// products, `h0` (`[batch, H]`) the state before. Returns every
    /// position's state `[batch · seq, H]` and the state after.
    pub fn gru(
        &mut self,
        gx: Var,
        weights: GruWeights,
        h0: &[f32],
        batch: usize,
    ) -> Result<(Var, Vec<f32>)> {
        let hidden = self.shape(weights.norm).first().copied().unwrap_or(0);
        let rows = self.rows(gx);
        let ok = self.shape(weights.u) == [3 * hidden, hidden]
            && self.shape(weights.bu) == [3 * hidden]
            && self.shape(weights.norm) == [hidden]
            && self.last_dim(gx) == 3 * hidden
            && batch > 0
            && rows.is_multiple_of(batch)
            && h0.len() == batch * hidden;
        if !ok {
            return Err(shape_err(
                "gru",
                format!(
                    "input {:?}, weights {:?}, bias {:?}, norm {:?}, {} state values for {batch} sequences",
                    self.shape(gx),
                    self.shape(weights.u),
                    self.shape(weights.bu),
                    self.shape(weights.norm),
                    h0.len()
                ),
            ));
        }
        let dims = GruDims {
            batch,
            seq: rows / batch,
            hidden,
        };
        let mut h = self.buffers.zeros(rows * hidden);
        let cost = Cost::matmul(rows, hidden, 3 * hidden);
        let saved = launch(
            "gru",
            cost,
            || format!("{dims:?}"),
            || {
                let (u, bu, g) = (
                    self.value(weights.u),
                    self.value(weights.bu),
                    self.value(weights.norm),
                );
                gru::forward(self.value(gx), u, bu, g, h0, weights.eps, dims, &mut h)
            },
        );
        let end: Vec<f32> = (0..batch)
            .flat_map(|b| {
                let last = (b + 1) * dims.seq - 1;
                h[last * hidden..(last + 1) * hidden].to_vec()
            })
            .collect();
        let needs = [gx, weights.u, weights.bu, weights.norm]
            .iter()
            .any(|&v| self.needs_grad(v));
        let step = RecurrentStep::Gru {
            gx,
            weights,
            saved,
            dims,
        };
        let out = self.push(h, vec![rows, hidden], Step::Recurrent(step), needs);
        Ok((out, end))
    }

    /// Rows `rows` of `x`: `[rows.len(), C]`.
    pub fn gather_rows(&mut self, x: Var, rows: &[usize]) -> Result<Var> {
        let (total, c) = (self.rows(x), self.last_dim(x));
        if let Some(bad) = rows.iter().find(|&&r| r >= total) {
            return Err(shape_err("gather_rows", format!("row {bad} of {total}")));
        }
        let mut out = self.buffers.zeros(rows.len() * c);
        rows::gather_forward(self.value(x), rows, c, &mut out);
        let step = RecurrentStep::Gather {
            x,
            rows: rows.to_vec(),
        };
        let needs = self.needs_grad(x);
        Ok(self.push(out, vec![rows.len(), c], Step::Recurrent(step), needs))
    }

    /// Scatters `y`'s rows back to rows `rows` of a `[gates rows, C]`
    /// result, each scaled by its gate in column `column` of `gates`;
    /// other rows are zero.
    pub fn scatter_rows(
        &mut self,
        y: Var,
        rows: &[usize],
        gates: Var,
        column: usize,
    ) -> Result<Var> {
        let (total, columns, c) = (self.rows(gates), self.last_dim(gates), self.last_dim(y));
        if self.rows(y) != rows.len() || column >= columns || rows.iter().any(|&r| r >= total) {
            return Err(shape_err(
                "scatter_rows",
                format!(
                    "{} rows of {:?} into gates {:?}, column {column}",
                    rows.len(),
                    self.shape(y),
                    self.shape(gates)
                ),
            ));
        }
        let mut out = self.buffers.zeros(total * c);
        let (yv, gv) = (self.value(y), self.value(gates));
        rows::scatter_forward(yv, rows, gv, (column, columns), c, &mut out);
        let needs = self.needs_grad(y) || self.needs_grad(gates);
        let step = RecurrentStep::Scatter {
            y,
            gates,
            rows: rows.to_vec(),
            column,
        };
        Ok(self.push(out, vec![total, c], Step::Recurrent(step), needs))
    }

    pub(super) fn backward_recurrent(&mut self, step: &RecurrentStep, g: &[f32]) {
        match step {
            RecurrentStep::TokenShift { x, mu, carry, seq } => {
                let (x, mu, seq) = (*x, *mu, *seq);
                let mut dmu = vec![0.0; self.value(mu).len()];
                let cost = Cost::elementwise(g.len(), 4);
                if self.needs_grad(x) {
                    self.add_grad(x, |gr, dx| {
                        launch("token_shift_backward", cost, String::new, || {
                            let (xv, m) = (gr.value(x), gr.value(mu));
                            token_shift::backward(g, xv, carry, m, seq, Some(dx), &mut dmu)
                        })
                    });
                } else {
                    token_shift::backward(
                        g,
                        self.value(x),
                        carry,
                        self.value(mu),
                        seq,
                        None,
                        &mut dmu,
                    );
                }
                self.add_grad(mu, |_, d| elementwise::accumulate(d, &dmu));
            }
            RecurrentStep::Wkv {
                inputs,
                u,
                saved,
                dims,
            } => {
                let n = g.len();
                let mut grads = [0; 4].map(|_| vec![0.0; n]);
                let mut du = vec![0.0; dims.width];
                let cost = Cost::elementwise(n * 6 * dims.head_dim(), 6);
                launch("wkv_backward", cost, String::new, || {
                    let [r, k, v, d] = inputs.map(|v| self.value(v));
                    let [a, b, c, e] = &mut grads;
                    wkv::backward(
                        g,
                        r,
                        k,
                        v,
                        d,
                        self.value(*u),
                        saved,
                        *dims,
                        [a, b, c, e],
                        &mut du,
                    )
                });
                for (v, grad) in inputs.iter().zip(&grads) {
                    self.add_grad(*v, |_, d| elementwise::accumulate(d, grad));
                }
                self.add_grad(*u, |_, d| elementwise::accumulate(d, &du));
            }
            RecurrentStep::Gru {
                gx,
                weights,
                saved,
                dims,
            } => {
                let hidden = dims.hidden;
                let mut dgx = vec![0.0; self.value(*gx).len()];
                let (mut du, mut dbu) = (vec![0.0; 3 * hidden * hidden], vec![0.0; 3 * hidden]);
                let mut dnorm = vec![0.0; hidden];
                let cost = Cost::matmul(dims.batch * dims.seq, 3 * hidden, 2 * hidden);
                launch("gru_backward", cost, String::new, || {
                    let (u, norm) = (self.value(weights.u), self.value(weights.norm));
                    let grads = (&mut dgx, &mut du, &mut dbu, &mut dnorm);
                    gru::backward(
                        g, u, norm, saved, *dims, grads.0, grads.1, grads.2, grads.3, None,
                    )
                });
                for (v, grad) in [
                    (*gx, &dgx),
                    (weights.u, &du),
                    (weights.bu, &dbu),
                    (weights.norm, &dnorm),
                ] {
                    self.add_grad(v, |_, d| elementwise::accumulate(d, grad));
                }
            }
            RecurrentStep::Gather { x, rows } => {
                let c = self.last_dim(*x);
                self.add_grad(*x, |_, d| rows::gather_backward(g, rows, c, d));
            }
            RecurrentStep::Scatter {
                y,
                gates,
                rows,
                column,
            } => {
                let (y, gates, column) = (*y, *gates, *column);
                let (columns, c) = (self.last_dim(gates), self.last_dim(y));
                self.add_grad(y, |gr, d| {
                    let (yv, gv) = (gr.value(y), gr.value(gates));
                    rows::scatter_backward(g, yv, rows, gv, (column, columns), c, Some(d), None)
                });
                self.add_grad(gates, |gr, d| {
                    let (yv, gv) = (gr.value(y), gr.value(gates));
                    rows::scatter_backward(g, yv, rows, gv, (column, columns), c, None, Some(d))
                });
            }
        }
    }
}
