//! The CPU executor: each op runs at once through [`crate::ops`] on host
//! buffers, and hooks see (and may change) the activations in place.

use super::linear::{linear, linear_many};
use super::{Architecture, Dims, Exec, Proj, Rotary, Slot, Store};
use crate::error::{Error, Result};
use crate::model::hooks::{offer, offer_pattern, Hooks, NoHooks};
use crate::model::site::{Point, Site};
use crate::model::{Logits, Model, ModelInfo, State};
use crate::ops::{self, attention::KvCache, attention::Scope};
use crate::tensor::{DType, Tensor};
use std::ops::Range;

/// Weights kept in host memory as loaded (memory-mapped where the file
/// allows).
pub struct Host;

impl Store for Host {
    type Matrix = Tensor;
    type Vector = Vec<f32>;
    type Rope = Rotary;

    fn matrix(&self, _name: &str, tensor: Tensor) -> Result<Tensor> {
        Ok(tensor)
    }

    fn vector(&self, _name: &str, values: Vec<f32>) -> Result<Vec<f32>> {
        Ok(values)
    }

    fn rope(&self, rope: Rotary) -> Result<Rotary> {
        Ok(rope)
    }
}

/// One forward pass on the CPU.
pub struct CpuExec<'a, H: Hooks + ?Sized> {
    dims: Dims,
    tokens: &'a [u32],
    pos0: usize,
    /// The new tokens' positions.
    positions: Vec<usize>,
    /// The rows of `X` whose logits are computed.
    head_rows: Range<usize>,
    slots: [Vec<f32>; Slot::ALL.len()],
    caches: &'a mut [KvCache],
    hooks: &'a mut H,
}

impl<'a, H: Hooks + ?Sized> CpuExec<'a, H> {
    fn new(
        dims: Dims,
        tokens: &'a [u32],
        pos0: usize,
        head_rows: Range<usize>,
        caches: &'a mut [KvCache],
        hooks: &'a mut H,
    ) -> Self {
        let t = tokens.len();
        // Zeroed allocations are lazily backed: a slot an architecture
        // never touches costs nothing.
        let slots = Slot::ALL.map(|s| {
            let rows = if s.is_head() { head_rows.len() } else { t };
            vec![0f32; rows * dims.width(s)]
        });
        CpuExec {
            dims,
            tokens,
            pos0,
            positions: (pos0..pos0 + t).collect(),
            head_rows,
            slots,
            caches,
            hooks,
        }
    }

    /// Rows of `x` an op writing `out` reads: the head rows when `out`
    /// holds only those.
    fn input(&self, x: Slot, out: Slot) -> &[f32] {
        let data = &self.slots[x.index()];
        if out.is_head() && !x.is_head() {
            let w = self.dims.width(x);
            &data[self.head_rows.start * w..self.head_rows.end * w]
        } else {
            data
        }
    }

    /// Runs `op` on the input rows of `x` and the whole of `out`.
    fn unary(
        &mut self,
        x: Slot,
        out: Slot,
        op: impl FnOnce(&[f32], &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        let mut y = std::mem::take(&mut self.slots[out.index()]);
        let result = op(self.input(x, out), &mut y);
        self.slots[out.index()] = y;
        result
    }

    fn take(&mut self, slot: Slot) -> Vec<f32> {
        std::mem::take(&mut self.slots[slot.index()])
    }
}

impl<H: Hooks + ?Sized> Exec<Host> for CpuExec<'_, H> {
    fn embed(&mut self, table: &Tensor, out: Slot) -> Result<()> {
        ops::embedding::embedding(table, self.tokens, &mut self.slots[out.index()])
    }

    fn embed_positions(&mut self, table: &Tensor, out: Slot) -> Result<()> {
        // Position ids index the table like token ids (the state's
        // capacity keeps them in range).
        let ids: Vec<u32> = self.positions.iter().map(|&p| p as u32).collect();
        ops::embedding::embedding(table, &ids, &mut self.slots[out.index()])
    }

    fn rmsnorm(&mut self, x: Slot, weight: &Vec<f32>, eps: f32, out: Slot) -> Result<()> {
        self.unary(x, out, |x, y| ops::norm::rmsnorm(x, weight, eps, y))
    }

    fn rmsnorm_in_place(&mut self, x: Slot, weight: &Vec<f32>, eps: f32) -> Result<()> {
        ops::norm::rmsnorm_inplace(&mut self.slots[x.index()], weight, eps)
    }

    fn layernorm(
        &mut self,
        x: Slot,
        weight: &Vec<f32>,
        bias: &Vec<f32>,
        eps: f32,
        out: Slot,
    ) -> Result<()> {
        self.unary(x, out, |x, y| {
            ops::norm::layernorm(x, weight, Some(bias), eps, y)
        })
    }

    fn linear(&mut self, x: Slot, w: &Tensor, bias: Option<&Vec<f32>>, out: Slot) -> Result<()> {
        let rows = self.rows(out);
        self.unary(x, out, |x, y| linear(x, rows, w, bias.map(|b| &b[..]), y))
    }

    fn linears(&mut self, x: Slot, projections: &[Proj<'_, Host>]) -> Result<()> {
        let rows = self.rows(x);
        let mut outs: Vec<Vec<f32>> = projections.iter().map(|p| self.take(p.out)).collect();
        let ws: Vec<&Tensor> = projections.iter().map(|p| p.w).collect();
        let biases: Vec<Option<&[f32]>> =
            projections.iter().map(|p| p.bias.map(|b| &b[..])).collect();
        let mut ys: Vec<&mut [f32]> = outs.iter_mut().map(|y| &mut y[..]).collect();
        let result = linear_many(&self.slots[x.index()], rows, &ws, &biases, &mut ys);
        for (p, y) in projections.iter().zip(outs) {
            self.slots[p.out.index()] = y;
        }
        result
    }

    fn rope(&mut self, x: Slot, rope: &Rotary) -> Result<()> {
        let heads = self.dims.heads_in(x);
        ops::rope::rope(
            &mut self.slots[x.index()],
            &self.positions,
            heads,
            self.dims.head_dim,
            rope.layout,
            &rope.cache,
        )
    }

    fn attention(
        &mut self,
        layer: usize,
        scope: Scope,
        q: Slot,
        k: Slot,
        v: Slot,
        out: Slot,
    ) -> Result<()> {
        let n_caches = self.caches.len();
        let cache = self.caches.get_mut(layer).ok_or_else(|| {
            Error::Invalid(format!(
                "attention: block {layer} has no cache (the state holds {n_caches})"
            ))
        })?;
        let (t, heads, pos0) = (self.tokens.len(), self.dims.heads, self.pos0);
        let mut probs = self
            .hooks
            .wants(Site::block(layer, Point::AttnPattern))
            .then(|| vec![0f32; t * heads * (pos0 + t)]);
        let mut z = std::mem::take(&mut self.slots[out.index()]);
        let s = &self.slots;
        let mut result = ops::attention::attention(
            &s[q.index()],
            &s[k.index()],
            &s[v.index()],
            cache,
            pos0,
            scope,
            &mut z,
            probs.as_deref_mut(),
        );
        if let (Ok(()), Some(probs)) = (&result, &probs) {
            result = offer_pattern(self.hooks, layer, probs, heads, pos0, cache, &mut z);
        }
        self.slots[out.index()] = z;
        result
    }

    fn add(&mut self, x: Slot, y: Slot) -> Result<()> {
        let mut sum = self.take(x);
        let result = ops::elementwise::add_inplace(&mut sum, &self.slots[y.index()]);
        self.slots[x.index()] = sum;
        result
    }

    fn scale(&mut self, x: Slot, factor: f32) -> Result<()> {
        ops::elementwise::scale(&mut self.slots[x.index()], factor);
        Ok(())
    }

    fn swiglu(&mut self, gate: Slot, up: Slot) -> Result<()> {
        let mut g = self.take(gate);
        let result = ops::activation::swiglu_inplace(&mut g, &self.slots[up.index()]);
        self.slots[gate.index()] = g;
        result
    }

    fn geglu(&mut self, gate: Slot, up: Slot) -> Result<()> {
        let mut g = self.take(gate);
        let result = ops::activation::geglu_inplace(&mut g, &self.slots[up.index()]);
        self.slots[gate.index()] = g;
        result
    }

    fn gelu(&mut self, x: Slot) -> Result<()> {
        ops::activation::gelu(&mut self.slots[x.index()]);
        Ok(())
    }

    #[inline(always)]
    fn offer(&mut self, site: Site, slot: Slot) -> Result<()> {
        if !self.hooks.wants(site) {
            return Ok(());
        }
        let (rows, pos) = if slot.is_head() {
            (self.head_rows.len(), self.pos0 + self.head_rows.start)
        } else {
            (self.tokens.len(), self.pos0)
        };
        let dims = self.dims;
        offer(
            self.hooks,
            site,
            &mut self.slots[slot.index()],
            || dims.shape(slot, rows),
            pos,
        )
    }
}

impl<H: Hooks + ?Sized> CpuExec<'_, H> {
    /// Rows in `slot`.
    fn rows(&self, slot: Slot) -> usize {
        if slot.is_head() {
            self.head_rows.len()
        } else {
            self.tokens.len()
        }
    }
}

/// An architecture whose forward pass runs on the CPU.
pub struct OnCpu<A>(pub A);

impl<A: Architecture<Host>> OnCpu<A> {
    /// One forward pass of `tokens` at `pos0..`, through `hooks`.
    fn run<H: Hooks + ?Sized>(
        &self,
        state: &mut State,
        pos0: usize,
        tokens: &[u32],
        logits: Logits,
        hooks: &mut H,
    ) -> Result<Vec<f32>> {
        let info = self.0.info();
        let caches = state.host_caches(info.n_layers)?;
        let t = tokens.len();
        // Only the rows whose logits were asked for go through the head.
        let head_rows = match logits {
            Logits::Last => t - 1..t,
            Logits::All => 0..t,
        };
        let mut e = CpuExec::new(Dims::of(info), tokens, pos0, head_rows, caches, hooks);
        self.0.body(&mut e)?;
        self.0.head(&mut e)?;
        Ok(e.take(Slot::Logits))
    }
}

impl<A: Architecture<Host>> Model for OnCpu<A> {
    fn info(&self) -> &ModelInfo {
        self.0.info()
    }

    fn new_state_with(&self, capacity: usize, kv_dtype: DType) -> Result<State> {
        let m = self.0.info();
        if capacity > m.context_length {
            return Err(Error::Invalid(format!(
                "a context of {capacity} exceeds the model's {} positions",
                m.context_length
            )));
        }
        State::new(m.n_layers, capacity, m.n_kv_heads, m.head_dim, kv_dtype)
    }

    fn forward(&self, state: &mut State, tokens: &[u32], logits: Logits) -> Result<Vec<f32>> {
        state.run_guarded(tokens, |state, pos0| {
            self.run(state, pos0, tokens, logits, &mut NoHooks)
        })
    }

    fn forward_hooked(
        &self,
        state: &mut State,
        tokens: &[u32],
        logits: Logits,
        hooks: &mut dyn Hooks,
    ) -> Result<Vec<f32>> {
        state.run_guarded(tokens, |state, pos0| {
            self.run(state, pos0, tokens, logits, hooks)
        })
    }

    fn unembed(&self, resid: &[f32]) -> Result<Vec<f32>> {
        let dims = Dims::of(self.0.info());
        if resid.is_empty() {
            return Ok(Vec::new());
        }
        if !resid.len().is_multiple_of(dims.d_model) {
            return Err(Error::Invalid(format!(
                "unembed: {} values are not whole rows of the model width {}",
                resid.len(),
                dims.d_model
            )));
        }
        let rows = resid.len() / dims.d_model;
        // No tokens and no cache: the head alone, over the given rows.
        let ids = vec![0u32; rows];
        let mut no_hooks = NoHooks;
        let mut e = CpuExec::new(dims, &ids, 0, 0..rows, &mut [], &mut no_hooks);
        e.slots[Slot::X.index()].copy_from_slice(resid);
        self.0.head(&mut e)?;
        Ok(e.take(Slot::Logits))
    }
}
