//! A third executor for the architectures of [`crate::model`]: the
//! autograd tape. The forward pass a model file writes once (`llama.rs`,
//! `gpt2.rs`) runs here as graph operations, so the model that generates
//! text is, op for op, the model that is fine-tuned: no second copy of
//! Llama to drift from the first.
//!
//! - [`Tape`] is the weight store: every matrix and vector a model loads
//!   becomes a parameter of a [`Graph`], in f32 (quantized weights are
//!   dequantized once), under the file's tensor name.
//! - [`TapeExec`] runs one pass over a batch of equal-length sequences:
//!   each slot of the model file names the graph value it holds now, and
//!   an op "in place" records a new value and points the slot at it.
//!
//! Differences from inference, by design: there is no KV cache (every
//! sequence is read whole, from position 0), and every row is a head row
//! (teacher forcing scores every position).

use super::graph::{Graph, Rope, Var};
use super::kernels::activation::Activation;
use super::kernels::attention;
use super::kernels::rope::Heads;
use crate::error::{Error, Result};
use crate::model::exec::{Dims, Exec, Proj, Rotary, Slot, Store};
use crate::model::site::Site;
use crate::ops::attention::Scope;
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::sync::Arc;

/// Weights as parameters of a graph being built. Loading a model through
/// it fills the graph; [`Tape::into_graph`] hands the graph over.
#[derive(Default)]
pub struct Tape {
    graph: RefCell<Graph>,
}

impl Tape {
    pub fn new() -> Tape {
        Tape::default()
    }

    pub fn into_graph(self) -> Graph {
        self.graph.into_inner()
    }

    fn param(&self, name: &str, shape: &[usize], values: Vec<f32>) -> Result<Var> {
        self.graph.borrow_mut().param(name, shape, values)
    }
}

impl Store for Tape {
    type Matrix = Var;
    type Vector = Var;
    type Rope = Rotary;

    fn matrix(&self, name: &str, tensor: Tensor) -> Result<Var> {
        let values = tensor.to_f32_vec()?;
        self.param(name, tensor.dims(), values)
    }

    fn vector(&self, name: &str, values: Vec<f32>) -> Result<Var> {
        let len = values.len();
        self.param(name, &[len], values)
    }

    fn rope(&self, rope: Rotary) -> Result<Rotary> {
        Ok(rope)
    }
}

/// One forward pass of `batch` sequences of `seq` tokens on the tape.
pub struct TapeExec<'a> {
    graph: &'a mut Graph,
    dims: Dims,
    ids: &'a [u32],
    batch: usize,
    seq: usize,
    /// Each row's position in its document.
    positions: Arc<Vec<usize>>,
    /// Where each row's document starts in its sequence (empty: every
    /// sequence is one document).
    starts: Arc<Vec<usize>>,
    slots: [Option<Var>; Slot::ALL.len()],
    /// What the model offered at each site, in order (for inspection).
    pub offered: Vec<(Site, Var)>,
}

impl<'a> TapeExec<'a> {
    /// A pass over `ids`, `batch` rows of equal length; `starts` says
    /// where each row's document begins in its sequence, when sequences
    /// are packed from several (empty: one document each). Positions
    /// restart, and attention stops, at each document's start.
    pub fn new(
        graph: &'a mut Graph,
        dims: Dims,
        ids: &'a [u32],
        batch: usize,
        starts: Arc<Vec<usize>>,
    ) -> Result<Self> {
        let seq = ids.len() / batch.max(1);
        if batch == 0 || seq == 0 || seq * batch != ids.len() {
            return Err(Error::Invalid(format!(
                "forward: {} tokens do not make {batch} equal sequences",
                ids.len()
            )));
        }
        if !starts.is_empty() && starts.len() != ids.len() {
            return Err(Error::Invalid(format!(
                "forward: {} document starts for {} tokens",
                starts.len(),
                ids.len()
            )));
        }
        // Row t of a sequence sits at t − its document's start (the
        // attention op checks that a start never lies after its row).
        let positions = (0..ids.len())
            .map(|r| (r % seq).saturating_sub(starts.get(r).copied().unwrap_or(0)))
            .collect();
        Ok(TapeExec {
            graph,
            dims,
            ids,
            batch,
            seq,
            positions: Arc::new(positions),
            starts,
            slots: [None; Slot::ALL.len()],
            offered: Vec::new(),
        })
    }

    /// The value in `slot`.
    pub fn get(&self, slot: Slot) -> Result<Var> {
        self.slots[slot.index()].ok_or_else(|| {
            Error::Invalid(format!(
                "forward: slot {slot:?} is read before it is written"
            ))
        })
    }

    fn set(&mut self, slot: Slot, v: Var) -> Result<()> {
        self.slots[slot.index()] = Some(v);
        Ok(())
    }

    /// `out = f(graph, value of x)`.
    fn map(
        &mut self,
        x: Slot,
        out: Slot,
        f: impl FnOnce(&mut Graph, Var) -> Result<Var>,
    ) -> Result<()> {
        let v = f(self.graph, self.get(x)?)?;
        self.set(out, v)
    }

    /// `gate = act(gate) ⊙ up`.
    fn gated(&mut self, gate: Slot, up: Slot, act: Activation) -> Result<()> {
        let (g, u) = (self.get(gate)?, self.get(up)?);
        let a = self.graph.activation(g, act)?;
        let v = self.graph.mul(a, u)?;
        self.set(gate, v)
    }
}

impl Exec<Tape> for TapeExec<'_> {
    fn embed(&mut self, table: &Var, out: Slot) -> Result<()> {
        let v = self.graph.embedding(*table, self.ids)?;
        self.set(out, v)
    }

    fn embed_positions(&mut self, table: &Var, out: Slot) -> Result<()> {
        let ids: Vec<u32> = self.positions.iter().map(|&p| p as u32).collect();
        let v = self.graph.embedding(*table, &ids)?;
        self.set(out, v)
    }

    fn rmsnorm(&mut self, x: Slot, weight: &Var, eps: f32, out: Slot) -> Result<()> {
        self.map(x, out, |g, x| g.rmsnorm(x, *weight, eps as f64))
    }

    fn rmsnorm_in_place(&mut self, x: Slot, weight: &Var, eps: f32) -> Result<()> {
        self.rmsnorm(x, weight, eps, x)
    }

    fn layernorm(&mut self, x: Slot, weight: &Var, bias: &Var, eps: f32, out: Slot) -> Result<()> {
        self.map(x, out, |g, x| g.layernorm(x, *weight, *bias, eps as f64))
    }

    fn linear(&mut self, x: Slot, w: &Var, bias: Option<&Var>, out: Slot) -> Result<()> {
        self.map(x, out, |g, x| g.linear(x, *w, bias.copied()))
    }

    fn linears(&mut self, x: Slot, projections: &[Proj<'_, Tape>]) -> Result<()> {
        for p in projections {
            self.linear(x, p.w, p.bias, p.out)?;
        }
        Ok(())
    }

    fn rope(&mut self, x: Slot, rope: &Rotary) -> Result<()> {
        let reached = self.seq;
        let rope = Rope {
            tables: rope.cache.covering(reached)?,
            rot: rope.cache.rot_dim(),
            layout: rope.layout,
            positions: self.positions.clone(),
            heads: Heads {
                heads: self.dims.heads_in(x),
                head_dim: self.dims.head_dim,
            },
        };
        self.map(x, x, |g, x| g.rope(x, rope))
    }

    fn attention(
        &mut self,
        _layer: usize,
        scope: Scope,
        q: Slot,
        k: Slot,
        v: Slot,
        out: Slot,
    ) -> Result<()> {
        let dims = attention::Dims {
            batch: self.batch,
            seq: self.seq,
            heads: self.dims.heads,
            kv_heads: self.dims.kv_heads,
            head_dim: self.dims.head_dim,
            scale: scope.scale as f64,
            window: scope.window,
        };
        let (q, k, v) = (self.get(q)?, self.get(k)?, self.get(v)?);
        let z = self
            .graph
            .attention_in_documents(q, k, v, dims, self.starts.clone())?;
        self.set(out, z)
    }

    fn add(&mut self, x: Slot, y: Slot) -> Result<()> {
        let (a, b) = (self.get(x)?, self.get(y)?);
        let v = self.graph.add(a, b)?;
        self.set(x, v)
    }

    fn scale(&mut self, x: Slot, factor: f32) -> Result<()> {
        self.map(x, x, |g, x| g.scale(x, factor))
    }

    fn swiglu(&mut self, gate: Slot, up: Slot) -> Result<()> {
        self.gated(gate, up, Activation::Silu)
    }

    fn geglu(&mut self, gate: Slot, up: Slot) -> Result<()> {
        self.gated(gate, up, Activation::Gelu)
    }

    fn gelu(&mut self, x: Slot) -> Result<()> {
        self.map(x, x, |g, x| g.activation(x, Activation::Gelu))
    }

    fn offer(&mut self, site: Site, slot: Slot) -> Result<()> {
        let v = self.get(slot)?;
        self.offered.push((site, v));
        Ok(())
    }
}
