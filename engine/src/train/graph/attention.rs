//! The operations of attention: slicing a fused projection into its
//! parts, rotary position embeddings, and causal (grouped-query,
//! optionally windowed) attention itself.

use super::{shape_err, Graph, Step, Var};
use crate::error::Result;
use crate::ops::launch;
use crate::ops::rope::{RopeLayout, RopeTables};
use crate::profile::Cost;
use crate::train::kernels::attention::{self, Dims, Grads, Visibility};
use crate::train::kernels::elementwise;
use crate::train::kernels::rope::{self, Angles, Heads};
use std::ops::Range;
use std::sync::Arc;

pub(super) enum AttentionStep {
    Columns {
        x: Var,
        columns: Range<usize>,
    },
    Rope {
        x: Var,
        rope: Rope,
    },
    Attention {
        q: Var,
        k: Var,
        v: Var,
        dims: Dims,
        starts: Arc<Vec<usize>>,
        /// Each query row's log-sum-exp, `[B, H, T]`.
        lse: Vec<f32>,
    },
}

/// A rotation by position: the tables, how a head pairs its dimensions,
/// and the position of each row (shared by every layer of a pass).
#[derive(Clone)]
pub struct Rope {
    pub tables: Arc<RopeTables>,
    pub rot: usize,
    pub layout: RopeLayout,
    pub positions: Arc<Vec<usize>>,
    pub heads: Heads,
}

impl Rope {
    fn angles(&self) -> Angles<'_, f32> {
        Angles {
            cos: self.tables.cos(),
            sin: self.tables.sin(),
            rot: self.rot,
            layout: self.layout,
        }
    }
}

impl Graph {
    /// Columns `columns` of every row of `x` (one part of a fused
    /// projection).
    pub fn columns(&mut self, x: Var, columns: Range<usize>) -> Result<Var> {
        let width = self.last_dim(x);
        if columns.start >= columns.end || columns.end > width {
            return Err(shape_err(
                "columns",
                format!("{columns:?} of rows {width} wide"),
            ));
        }
        let mut out = self.buffers.overwritten(self.rows(x) * columns.len());
        for (o, row) in out
            .chunks_exact_mut(columns.len())
            .zip(self.value(x).chunks_exact(width))
        {
            o.copy_from_slice(&row[columns.clone()]);
        }
        let mut shape = self.shape(x).to_vec();
        *shape.last_mut().unwrap_or(&mut 0) = columns.len();
        let needs = self.needs_grad(x);
        let step = Step::Attention(AttentionStep::Columns { x, columns });
        Ok(self.push(out, shape, step, needs))
    }

    /// `x` (`[rows, heads · head_dim]`) with each row's heads rotated to
    /// its position.
    pub fn rope(&mut self, x: Var, rope: Rope) -> Result<Var> {
        let Heads { heads, head_dim } = rope.heads;
        let rows = rope.positions.len();
        let half = rope.rot / 2;
        let reached = rope.positions.iter().max().map_or(0, |p| p + 1);
        if self.value(x).len() != rows * heads * head_dim
            || rope.rot > head_dim
            || rope.tables.cos().len() < reached * half
        {
            return Err(shape_err(
                "rope",
                format!(
                    "input {:?} for {rows} positions of {heads} heads of {head_dim} (rotating {}, tables for {} positions)",
                    self.shape(x),
                    rope.rot,
                    rope.tables.positions()
                ),
            ));
        }
        let mut out = self.buffers.overwritten(self.value(x).len());
        launch("rope", Cost::elementwise(out.len(), 3), String::new, || {
            rope::forward(
                self.value(x),
                &rope.positions,
                rope.heads,
                rope.angles(),
                &mut out,
            )
        });
        let needs = self.needs_grad(x);
        let shape = self.shape(x).to_vec();
        Ok(self.push(
            out,
            shape,
            Step::Attention(AttentionStep::Rope { x, rope }),
            needs,
        ))
    }

    /// Causal attention of queries `q` (`[B·T, H·D]`) over keys `k` and
    /// values `v` (`[B·T, KV·D]`): `[B·T, H·D]`.
    pub fn attention(&mut self, q: Var, k: Var, v: Var, dims: Dims) -> Result<Var> {
        self.attention_in_documents(q, k, v, dims, Arc::default())
    }

    /// [`Graph::attention`] over sequences packed from several documents:
    /// `starts[r]` is where row `r`'s document begins in its sequence, and
    /// a query sees only keys of its own document (empty `starts`: each
    /// sequence is one document).
    pub fn attention_in_documents(
        &mut self,
        q: Var,
        k: Var,
        v: Var,
        dims: Dims,
        starts: Arc<Vec<usize>>,
    ) -> Result<Var> {
        let rows = dims.batch * dims.seq;
        check_starts(&starts, dims)?;
        let want_q = [rows, dims.q_width()];
        let want_kv = [rows, dims.kv_width()];
        if !dims.is_valid()
            || self.shape(q) != want_q
            || self.shape(k) != want_kv
            || self.shape(v) != want_kv
        {
            return Err(shape_err(
                "attention",
                format!(
                    "q {:?}, k {:?}, v {:?} for {dims:?} (want {want_q:?} and {want_kv:?})",
                    self.shape(q),
                    self.shape(k),
                    self.shape(v)
                ),
            ));
        }
        let (b, t, h) = (dims.batch, dims.seq, dims.heads);
        let mut out = self.buffers.overwritten(rows * dims.q_width());
        let mut lse = self.buffers.overwritten(b * h * t);
        let cost = Cost::matmul(rows, t, 2 * dims.q_width());
        launch(
            "attention",
            cost,
            || {
                format!(
                    "q f32[{b}·{t}, {h}·{}], {} kv heads",
                    dims.head_dim, dims.kv_heads
                )
            },
            || {
                let (qv, kv, vv) = (self.value(q), self.value(k), self.value(v));
                let seen = Visibility {
                    dims,
                    starts: &starts,
                };
                attention::forward(qv, kv, vv, seen, &mut out, &mut lse)
            },
        );
        let needs = self.needs_grad(q) || self.needs_grad(k) || self.needs_grad(v);
        let step = Step::Attention(AttentionStep::Attention {
            q,
            k,
            v,
            dims,
            starts,
            lse,
        });
        Ok(self.push(out, want_q.to_vec(), step, needs))
    }

    pub(super) fn backward_attention(&mut self, step: &AttentionStep, g: &[f32]) {
        match step {
            AttentionStep::Columns { x, columns } => {
                let (x, width) = (*x, self.last_dim(*x));
                self.add_grad(x, |_, d| {
                    for (d, g) in d.chunks_exact_mut(width).zip(g.chunks_exact(columns.len())) {
                        elementwise::accumulate(&mut d[columns.clone()], g);
                    }
                });
            }
            AttentionStep::Rope { x, rope } => {
                self.add_grad(*x, |_, d| {
                    launch(
                        "rope_backward",
                        Cost::elementwise(g.len(), 3),
                        String::new,
                        || rope::backward(g, &rope.positions, rope.heads, rope.angles(), d),
                    )
                });
            }
            AttentionStep::Attention {
                q,
                k,
                v,
                dims,
                starts,
                lse,
            } => {
                let (q, k, v, dims) = (*q, *k, *v, *dims);
                let mut dq = self.buffers.zeros(self.value(q).len());
                let mut dk = self.buffers.zeros(self.value(k).len());
                let mut dv = self.buffers.zeros(self.value(v).len());
                let cost = Cost::matmul(dims.batch * dims.seq, dims.seq, 5 * dims.q_width());
                launch("attention_backward", cost, String::new, || {
                    let grads = Grads {
                        dq: &mut dq,
                        dk: &mut dk,
                        dv: &mut dv,
                    };
                    let (qv, kv, vv) = (self.value(q), self.value(k), self.value(v));
                    let seen = Visibility { dims, starts };
                    attention::backward(g, qv, kv, vv, lse, seen, grads)
                });
                for (var, grad) in [(q, dq), (k, dk), (v, dv)] {
                    self.add_grad(var, |_, d| elementwise::accumulate(d, &grad));
                    self.buffers.recycle(grad);
                }
            }
        }
    }
}

/// Document starts must be one per row, never after their row, and never
/// decrease inside a sequence (documents are packed one after another).
fn check_starts(starts: &[usize], dims: Dims) -> Result<()> {
    if starts.is_empty() {
        return Ok(());
    }
    let bad = |why: String| Err(shape_err("attention", why));
    if starts.len() != dims.batch * dims.seq {
        return bad(format!(
            "{} document starts for {} rows",
            starts.len(),
            dims.batch * dims.seq
        ));
    }
    for row in starts.chunks_exact(dims.seq.max(1)) {
        for (i, pair) in row.windows(2).enumerate() {
            if pair[1] < pair[0] {
                return bad(format!("document starts go back at position {}", i + 1));
            }
        }
        if let Some((i, s)) = row.iter().enumerate().find(|(i, s)| **s > *i) {
            return bad(format!(
                "position {i} starts its document at {s}, after itself"
            ));
        }
    }
    Ok(())
}
