//! The GPU executor: each op is recorded as WGSL dispatches into a batch
//! that is submitted once per chunk of tokens. An activation someone
//! listens to is read back (the batch so far is submitted first) and, if a
//! hook changed it, written back before the rest of the pass is recorded.

use super::cache::Scratch;
use crate::backend::gpu::batch::Batch;
use crate::backend::gpu::kernels::{self, AttentionBuffers, AttentionDims, RopeTables};
use crate::backend::gpu::{Gpu, GpuWeight};
use crate::error::{Error, Result};
use crate::model::exec::{Dims, Exec, Proj, Slot};
use crate::model::hooks::{Activation, Hooks};
use crate::model::site::{Point, Site};
use crate::ops::attention::Scope;
use std::ops::Range;
use wgpu::Buffer;

use super::Device;

/// One chunk's forward pass being recorded.
pub struct GpuExec<'a, H: Hooks + ?Sized> {
    gpu: &'a Gpu,
    batch: Batch<'a>,
    /// Each block's key and value cache (none when only the head runs).
    keys: &'a [Buffer],
    values: &'a [Buffer],
    /// Each block's cache rows (position `p` in row `p % rows`).
    cache_rows: &'a [usize],
    scratch: &'a Scratch,
    dims: Dims,
    /// Tokens in the chunk, and the position of the first.
    tokens: usize,
    pos0: usize,
    /// The rows of `X` whose logits are computed.
    head_rows: Range<usize>,
    hooks: &'a mut H,
}

impl<'a, H: Hooks + ?Sized> GpuExec<'a, H> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        gpu: &'a Gpu,
        (keys, values, cache_rows): (&'a [Buffer], &'a [Buffer], &'a [usize]),
        scratch: &'a Scratch,
        dims: Dims,
        tokens: usize,
        pos0: usize,
        head_rows: Range<usize>,
        hooks: &'a mut H,
    ) -> Self {
        GpuExec {
            gpu,
            batch: Batch::new(gpu),
            keys,
            values,
            cache_rows,
            scratch,
            dims,
            tokens,
            pos0,
            head_rows,
            hooks,
        }
    }

    /// The batch, to record what follows the forward pass (argmax, top-k,
    /// copies for the read-back).
    pub fn batch(&mut self) -> &mut Batch<'a> {
        &mut self.batch
    }

    /// Submits everything recorded.
    pub fn submit(self) -> Result<()> {
        self.batch.submit()
    }

    /// Submits what is recorded so far and starts a new batch, so that the
    /// host can read what it computed.
    fn flush(&mut self) -> Result<()> {
        std::mem::replace(&mut self.batch, Batch::new(self.gpu)).submit()
    }

    fn buf(&self, slot: Slot) -> &'a Buffer {
        self.scratch.slot(slot)
    }

    /// Rows in `slot`.
    fn rows(&self, slot: Slot) -> usize {
        if slot.is_head() {
            self.head_rows.len()
        } else {
            self.tokens
        }
    }

    /// The attention probabilities of block `layer` (just computed in the
    /// scratch's scores, `[T, heads, K]`), offered as `[heads, T, K]`; a
    /// pattern a hook changed replaces them before the values are mixed.
    fn offer_pattern(&mut self, layer: usize) -> Result<()> {
        let (t, heads) = (self.tokens, self.dims.heads);
        let keys = self.pos0 + t;
        self.flush()?;
        let probs = self
            .gpu
            .read_f32(&self.scratch.scores, 0, t * heads * keys)?;
        let mut pattern = vec![0f32; probs.len()];
        for q in 0..t {
            for h in 0..heads {
                pattern[(h * t + q) * keys..][..keys]
                    .copy_from_slice(&probs[(q * heads + h) * keys..][..keys]);
            }
        }
        let mut act = Activation {
            data: &mut pattern,
            shape: vec![heads, t, keys],
            pos0: self.pos0,
            changed: false,
        };
        self.hooks
            .visit(Site::block(layer, Point::AttnPattern), &mut act)?;
        if act.changed {
            let mut back = probs;
            for q in 0..t {
                for h in 0..heads {
                    back[(q * heads + h) * keys..][..keys]
                        .copy_from_slice(&pattern[(h * t + q) * keys..][..keys]);
                }
            }
            self.gpu
                .queue
                .write_buffer(&self.scratch.scores, 0, bytemuck::cast_slice(&back));
        }
        Ok(())
    }
}

impl<H: Hooks + ?Sized> Exec<Device> for GpuExec<'_, H> {
    fn embed(&mut self, table: &GpuWeight, out: Slot) -> Result<()> {
        let (ids, out) = (&self.scratch.ids, self.buf(out));
        kernels::embedding(&mut self.batch, table, ids, self.tokens, out)
    }

    fn embed_positions(&mut self, table: &GpuWeight, out: Slot) -> Result<()> {
        let (positions, out) = (&self.scratch.positions, self.buf(out));
        kernels::embedding(&mut self.batch, table, positions, self.tokens, out)
    }

    // A norm writing `Normed` normalizes every row of the chunk; the head's
    // product then starts at the first head row.
    fn rmsnorm(&mut self, x: Slot, weight: &Buffer, eps: f32, out: Slot) -> Result<()> {
        let (xb, ob, d) = (self.buf(x), self.buf(out), self.dims.width(x));
        kernels::rmsnorm(&mut self.batch, xb, weight, ob, self.tokens, d, eps)
    }

    fn rmsnorm_in_place(&mut self, x: Slot, weight: &Buffer, eps: f32) -> Result<()> {
        let cols = (weight.size() / 4) as usize;
        let len = self.rows(x) * self.dims.width(x);
        if cols == 0 || !len.is_multiple_of(cols) {
            return Err(Error::Invalid(format!(
                "rmsnorm: {len} values are not whole rows of {cols}"
            )));
        }
        let xb = self.buf(x);
        kernels::rmsnorm_inplace(&mut self.batch, xb, weight, len / cols, cols, eps)
    }

    fn layernorm(
        &mut self,
        x: Slot,
        weight: &Buffer,
        bias: &Buffer,
        eps: f32,
        out: Slot,
    ) -> Result<()> {
        let (xb, ob, d) = (self.buf(x), self.buf(out), self.dims.width(x));
        kernels::layernorm(&mut self.batch, xb, weight, bias, ob, self.tokens, d, eps)
    }

    fn linear(&mut self, x: Slot, w: &GpuWeight, bias: Option<&Buffer>, out: Slot) -> Result<()> {
        let first = if x.is_head() { self.head_rows.start } else { 0 };
        let rows = self.rows(out);
        let (xb, yb) = (self.buf(x), self.buf(out));
        kernels::matmul(&mut self.batch, w, xb, first, rows, yb)?;
        match bias {
            Some(b) => kernels::add_rows(&mut self.batch, yb, b, rows * w.rows, w.rows),
            None => Ok(()),
        }
    }

    fn linears(&mut self, x: Slot, projections: &[Proj<'_, Device>]) -> Result<()> {
        projections
            .iter()
            .try_for_each(|p| self.linear(x, p.w, p.bias, p.out))
    }

    fn rope(&mut self, x: Slot, rope: &RopeTables) -> Result<()> {
        let (heads, hd) = (self.dims.heads_in(x), self.dims.head_dim);
        let xb = self.buf(x);
        kernels::rope(&mut self.batch, xb, rope, self.tokens, heads, hd, self.pos0)
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
        let (Some(k_cache), Some(v_cache)) = (self.keys.get(layer), self.values.get(layer)) else {
            return Err(Error::Invalid(format!(
                "attention: block {layer} has no cache (the state holds {})",
                self.keys.len()
            )));
        };
        let dims = AttentionDims {
            tokens: self.tokens,
            heads: self.dims.heads,
            kv_heads: self.dims.kv_heads,
            head_dim: self.dims.head_dim,
            pos0: self.pos0,
            scale: scope.scale,
            window: scope.window,
            cache_rows: self.cache_rows.get(layer).copied().unwrap_or(0),
        };
        let buffers = AttentionBuffers {
            q: self.buf(q),
            k_new: self.buf(k),
            v_new: self.buf(v),
            k_cache,
            v_cache,
            scores: &self.scratch.scores,
            out: self.buf(out),
        };
        kernels::attention_probabilities(&mut self.batch, dims, &buffers)?;
        if self.hooks.wants(Site::block(layer, Point::AttnPattern)) {
            self.offer_pattern(layer)?;
        }
        kernels::attention_mix(&mut self.batch, dims, &buffers)
    }

    fn add(&mut self, x: Slot, y: Slot) -> Result<()> {
        let len = self.rows(x) * self.dims.width(x);
        let (xb, yb) = (self.buf(x), self.buf(y));
        kernels::add(&mut self.batch, xb, yb, len)
    }

    fn scale(&mut self, x: Slot, factor: f32) -> Result<()> {
        let len = self.rows(x) * self.dims.width(x);
        let xb = self.buf(x);
        kernels::scale(&mut self.batch, xb, factor, len)
    }

    fn swiglu(&mut self, gate: Slot, up: Slot) -> Result<()> {
        let len = self.rows(gate) * self.dims.width(gate);
        let (gb, ub) = (self.buf(gate), self.buf(up));
        kernels::swiglu(&mut self.batch, gb, ub, len)
    }

    fn geglu(&mut self, gate: Slot, up: Slot) -> Result<()> {
        let len = self.rows(gate) * self.dims.width(gate);
        let (gb, ub) = (self.buf(gate), self.buf(up));
        kernels::geglu(&mut self.batch, gb, ub, len)
    }

    fn gelu(&mut self, x: Slot) -> Result<()> {
        let len = self.rows(x) * self.dims.width(x);
        let xb = self.buf(x);
        kernels::gelu(&mut self.batch, xb, len)
    }

    #[inline(always)]
    fn offer(&mut self, site: Site, slot: Slot) -> Result<()> {
        if !self.hooks.wants(site) {
            return Ok(());
        }
        let (first, rows, pos) = if slot.is_head() {
            let r = &self.head_rows;
            (r.start, r.len(), self.pos0 + r.start)
        } else {
            (0, self.tokens, self.pos0)
        };
        let width = self.dims.width(slot);
        let buffer = self.buf(slot);
        let offset = 4 * (first * width) as u64;
        self.flush()?;
        let before = self.gpu.read_f32(buffer, offset, rows * width)?;
        let mut data = before.clone();
        let mut act = Activation {
            data: &mut data,
            shape: self.dims.shape(slot, rows),
            pos0: pos,
            changed: false,
        };
        self.hooks.visit(site, &mut act)?;
        // A hook changes an activation in place (as on the CPU): whatever
        // differs goes back before the pass goes on.
        let changed =
            bytemuck::cast_slice::<f32, u32>(&data) != bytemuck::cast_slice::<f32, u32>(&before);
        if changed {
            self.gpu
                .queue
                .write_buffer(buffer, offset, bytemuck::cast_slice(&data));
        }
        Ok(())
    }
}
