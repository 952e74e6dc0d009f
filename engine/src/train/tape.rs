//! A third executor for the architectures of [`crate::model`]: the
//! autograd tape. The forward pass a model file writes once (`llama.rs`,
//! `gpt2.rs`) runs here as graph operations, so the model that generates
//! text is, op for op, the model that is fine-tuned: no second copy of
//! Llama to drift from the first.
//!
//! - [`Tape`] is the weight store: every matrix and vector a model loads
//!   becomes a parameter of a [`Graph`], in f32 (quantized weights are
//!   dequantized once), under the file's tensor name; with LoRA
//!   ([`super::lora`]) the matrices stay frozen as loaded and small
//!   adapters beside them are the parameters.
//! - [`TapeExec`] runs one pass over a batch of equal-length sequences:
//!   each slot of the model file names the graph value it holds now, and
//!   an op "in place" records a new value and points the slot at it.
//!
//! Differences from inference, by design: there is no KV cache (every
//! sequence is read whole, from position 0), and every row is a head row
//! (teacher forcing scores every position).

use super::graph::{Graph, LowRank, Rope, Var};
use super::kernels::activation::Activation;
use super::kernels::attention;
use super::kernels::rope::Heads;
use super::lora::{AdapterInfo, LoraConfig};
use crate::error::{Error, Result};
use crate::generate::Rng;
use crate::model::exec::{Dims, Exec, Proj, Rotary, Slot, Store};
use crate::model::site::Site;
use crate::model::{Naming, ADAPTABLE};
use crate::ops::attention::Scope;
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::sync::Arc;

/// A weight matrix on the tape: trained in f32, or frozen as loaded, with
/// a LoRA adapter beside it or not.
#[derive(Clone)]
pub struct Weight {
    pub base: Base,
    pub adapter: Option<Adapter>,
}

#[derive(Clone)]
pub enum Base {
    Trained(Var),
    /// Kept in the file's own format (quantized blocks, or a view of the
    /// memory-mapped file): no gradient, no f32 copy.
    Frozen(Arc<Tensor>),
}

/// `s · dropout(x) · Aᵀ · Bᵀ`, added to the base's output.
#[derive(Clone, Copy)]
pub struct Adapter {
    pub a: Var,
    pub b: Var,
    pub scale: f32,
    pub dropout: f32,
}

/// The weights of a model being loaded onto a graph. Without LoRA every
/// matrix and vector becomes a trained f32 parameter; with LoRA matrices
/// stay frozen as loaded, vectors become frozen parameters, and each
/// targeted projection gets an adapter. [`Tape::finish`] hands the graph
/// (and the adapters) over.
pub struct Tape {
    graph: RefCell<Graph>,
    lora: Option<(LoraConfig, Naming)>,
    rng: RefCell<Rng>,
    adapters: RefCell<Vec<AdapterInfo>>,
}

impl Tape {
    /// Full fine-tuning: every weight trains.
    pub fn new() -> Tape {
        Tape {
            graph: RefCell::default(),
            lora: None,
            rng: RefCell::new(Rng::new(0)),
            adapters: RefCell::default(),
        }
    }

    /// LoRA: adapters on the `lora.targets` projections of a model whose
    /// tensors are named by `naming`.
    pub fn with_lora(lora: LoraConfig, naming: Naming) -> Result<Tape> {
        lora.validate()?;
        Ok(Tape {
            rng: RefCell::new(Rng::new(lora.seed)),
            lora: Some((lora, naming)),
            ..Tape::new()
        })
    }

    pub fn finish(self) -> (Graph, Vec<AdapterInfo>) {
        (self.graph.into_inner(), self.adapters.into_inner())
    }

    fn param(&self, name: &str, shape: &[usize], values: Vec<f32>, trained: bool) -> Result<Var> {
        let mut graph = self.graph.borrow_mut();
        let v = graph.param(name, shape, values)?;
        if let Var::Param(i) = v {
            graph.params[i].trainable = trained;
        }
        Ok(v)
    }

    /// An adapter for the weight `name` (`[out, inp]`), if LoRA targets it.
    fn adapter(&self, name: &str, out: usize, inp: usize) -> Result<Option<Adapter>> {
        let Some((lora, naming)) = &self.lora else {
            return Ok(None);
        };
        let Some((part, layer)) = naming.adaptable(name) else {
            return Ok(None);
        };
        let module = ADAPTABLE.iter().find(|(p, _)| *p == part).map(|(_, m)| *m);
        if !module.is_some_and(|m| lora.targets.iter().any(|t| t == m)) {
            return Ok(None);
        }
        let r = lora.rank;
        let bound = 1.0 / (inp as f64).sqrt();
        let a_values = {
            let mut rng = self.rng.borrow_mut();
            (0..r * inp)
                .map(|_| ((2.0 * rng.next_f64() - 1.0) * bound) as f32)
                .collect()
        };
        let a = self.param(&format!("{name}.lora_A"), &[r, inp], a_values, true)?;
        let b = self.param(
            &format!("{name}.lora_B"),
            &[out, r],
            vec![0.0; out * r],
            true,
        )?;
        let (Var::Param(ai), Var::Param(bi)) = (a, b) else {
            unreachable!("parameters are Var::Param")
        };
        let path = Naming::HuggingFace.name(part, layer, "weight");
        self.adapters.borrow_mut().push(AdapterInfo {
            module: path.trim_end_matches(".weight").to_string(),
            weight: name.to_string(),
            a: ai,
            b: bi,
        });
        Ok(Some(Adapter {
            a,
            b,
            scale: lora.scale(),
            dropout: lora.dropout,
        }))
    }
}

impl Default for Tape {
    fn default() -> Self {
        Tape::new()
    }
}

impl Store for Tape {
    type Matrix = Weight;
    type Vector = Var;
    type Rope = Rotary;

    fn matrix(&self, name: &str, tensor: Tensor) -> Result<Weight> {
        if self.lora.is_none() {
            let values = tensor.to_f32_vec()?;
            let base = Base::Trained(self.param(name, tensor.dims(), values, true)?);
            return Ok(Weight {
                base,
                adapter: None,
            });
        }
        let (out, inp) = match tensor.dims() {
            &[out, inp] => (out, inp),
            other => {
                return Err(Error::Invalid(format!(
                    "{name}: a weight matrix of shape {other:?}"
                )))
            }
        };
        Ok(Weight {
            adapter: self.adapter(name, out, inp)?,
            base: Base::Frozen(Arc::new(tensor)),
        })
    }

    fn vector(&self, name: &str, values: Vec<f32>) -> Result<Var> {
        let len = values.len();
        self.param(name, &[len], values, self.lora.is_none())
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
    /// Draws LoRA's dropout masks while training (None: no dropout).
    dropout: Option<&'a mut Rng>,
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
            dropout: None,
        })
    }

    /// Applies LoRA's dropout, its masks drawn from `rng` (training).
    pub fn with_dropout(mut self, rng: &'a mut Rng) -> Self {
        self.dropout = Some(rng);
        self
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

    /// Rows `ids` of an embedding table.
    fn lookup(&mut self, table: &Weight, ids: &[u32]) -> Result<Var> {
        match &table.base {
            Base::Trained(v) => self.graph.embedding(*v, ids),
            Base::Frozen(t) => self.graph.embedding_frozen(t, ids),
        }
    }

    /// `x` through LoRA's dropout (while training; `x` itself otherwise).
    fn dropped(&mut self, x: Var, dropout: f32) -> Result<Var> {
        let Some(rng) = self.dropout.as_mut().filter(|_| dropout > 0.0) else {
            return Ok(x);
        };
        let keep = 1.0 - dropout;
        let n = self.graph.value(x).len();
        let mask: Vec<f32> = (0..n)
            .map(|_| {
                if rng.next_f64() < keep as f64 {
                    1.0 / keep
                } else {
                    0.0
                }
            })
            .collect();
        let shape = self.graph.shape(x).to_vec();
        let mask = self.graph.input(mask, &shape)?;
        self.graph.mul(x, mask)
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
    fn embed(&mut self, table: &Weight, out: Slot) -> Result<()> {
        let v = self.lookup(table, self.ids)?;
        self.set(out, v)
    }

    fn embed_positions(&mut self, table: &Weight, out: Slot) -> Result<()> {
        let ids: Vec<u32> = self.positions.iter().map(|&p| p as u32).collect();
        let v = self.lookup(table, &ids)?;
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

    fn linear(&mut self, x: Slot, w: &Weight, bias: Option<&Var>, out: Slot) -> Result<()> {
        let input = self.get(x)?;
        let y = match (&w.base, w.adapter) {
            (Base::Trained(v), None) => self.graph.linear(input, *v, bias.copied())?,
            (Base::Frozen(t), None) => self.graph.linear_frozen(input, t.clone(), bias.copied())?,
            (Base::Frozen(t), Some(adapter)) => {
                let x_adapter = self.dropped(input, adapter.dropout)?;
                let low_rank = LowRank {
                    a: adapter.a,
                    b: adapter.b,
                    scale: adapter.scale,
                };
                self.graph.linear_frozen_adapted(
                    input,
                    x_adapter,
                    t.clone(),
                    bias.copied(),
                    low_rank,
                )?
            }
            (Base::Trained(_), Some(_)) => {
                return Err(Error::Invalid(
                    "an adapter on a trained weight (LoRA keeps its base frozen)".into(),
                ))
            }
        };
        self.set(out, y)
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
