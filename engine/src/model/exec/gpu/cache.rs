//! The key/value cache of one conversation in GPU memory, and the scratch
//! buffers its forward passes reuse: everything a state needs is allocated
//! when the state is made, never per token.

use super::super::Slot;
use crate::backend::gpu::buffer::STORAGE;
use crate::backend::gpu::kernels::MAX_TOP_K;
use crate::backend::gpu::Gpu;
use crate::error::{Error, Result};
use crate::model::{DeviceCache, ModelInfo, State};
use crate::tensor::DType;
use std::sync::Arc;
use wgpu::Buffer;

/// Tokens per submission during prefill: bounds the scratch buffers (the
/// attention scores are `[chunk, heads, context]`).
const MAX_CHUNK: usize = 64;

#[derive(Debug)]
pub struct GpuCache {
    /// Where the buffers go back to when the conversation ends.
    gpu: Arc<Gpu>,
    /// Positions filled.
    pub(crate) len: usize,
    /// The highest position written since the cache was last emptied: a
    /// sliding-window layer's rows have been overwritten below
    /// `high - rows`.
    pub(crate) high: usize,
    /// Each layer's rows: the context, or for a sliding-window layer its
    /// window plus a chunk, position `p` in row `p % rows`.
    pub(crate) rows: Vec<usize>,
    windows: Vec<Option<usize>>,
    /// Tokens per submission.
    pub(crate) chunk: usize,
    pub(crate) keys: Vec<Buffer>,
    pub(crate) values: Vec<Buffer>,
    pub(crate) scratch: Scratch,
}

/// Activations of one chunk, `[chunk, width]` each.
#[derive(Debug)]
pub(crate) struct Scratch {
    /// Token ids, then their positions (GPT-2 looks positions up as ids).
    pub ids: Buffer,
    pub positions: Buffer,
    /// The residual stream.
    pub x: Buffer,
    /// Normed input of each block, and each block's output.
    pub h: Buffer,
    pub q: Buffer,
    pub k: Buffer,
    pub v: Buffer,
    pub attn: Buffer,
    /// The feed-forward hidden layer (SwiGLU's gate, or GPT-2's up), and
    /// SwiGLU's up projection.
    pub gate: Buffer,
    pub up: Buffer,
    pub scores: Buffer,
    pub normed: Buffer,
    pub logits: Buffer,
    /// The argmax of the last row of logits, or its top k (ids, then
    /// value bits).
    pub best: Buffer,
    /// Where results are copied to be read by the host.
    pub readback: Buffer,
}

impl Scratch {
    pub(crate) fn new(gpu: &Gpu, m: &ModelInfo, chunk: usize, capacity: usize) -> Result<Scratch> {
        let f = |label: &str, values: usize| gpu.take(label, 4 * (chunk * values) as u64, STORAGE);
        Ok(Scratch {
            ids: f("ids", 1)?,
            positions: f("positions", 1)?,
            x: f("x", m.d_model)?,
            h: f("h", m.d_model)?,
            q: f("q", m.n_heads * m.head_dim)?,
            k: f("k", m.n_kv_heads * m.head_dim)?,
            v: f("v", m.n_kv_heads * m.head_dim)?,
            attn: f("attention", m.n_heads * m.head_dim)?,
            gate: f("gate", m.d_ff)?,
            up: f("up", m.d_ff)?,
            scores: f("scores", m.n_heads * capacity)?,
            normed: f("normed", m.d_model)?,
            logits: f("logits", m.vocab_size)?,
            best: gpu.take("best", 8 * MAX_TOP_K as u64, STORAGE)?,
            readback: gpu.take(
                "read-back",
                (4 * chunk * m.vocab_size).max(8 * MAX_TOP_K) as u64,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            )?,
        })
    }

    /// The buffer holding `slot` (`attn` holds `Z`).
    pub fn slot(&self, slot: Slot) -> &Buffer {
        match slot {
            Slot::X => &self.x,
            Slot::H => &self.h,
            Slot::Q => &self.q,
            Slot::K => &self.k,
            Slot::V => &self.v,
            Slot::Z => &self.attn,
            Slot::Gate => &self.gate,
            Slot::Up => &self.up,
            Slot::Normed => &self.normed,
            Slot::Logits => &self.logits,
        }
    }

    /// Handles to every buffer (wgpu buffers are shared handles).
    pub(crate) fn buffers(&self) -> [Buffer; 15] {
        let s = self;
        [
            &s.ids,
            &s.positions,
            &s.x,
            &s.h,
            &s.q,
            &s.k,
            &s.v,
            &s.attn,
            &s.gate,
            &s.up,
            &s.scores,
            &s.normed,
            &s.logits,
            &s.best,
            &s.readback,
        ]
        .map(Buffer::clone)
    }
}

impl Drop for GpuCache {
    fn drop(&mut self) {
        self.gpu
            .give_back(self.keys.drain(..).chain(self.values.drain(..)));
        self.gpu.give_back(self.scratch.buffers());
    }
}

impl DeviceCache for GpuCache {
    fn positions(&self) -> usize {
        self.len
    }

    fn truncate(&mut self, pos: usize) {
        if self.can_resume_at(pos.min(self.len)) {
            self.len = self.len.min(pos);
        } else {
            self.len = 0;
            self.high = 0;
        }
    }

    fn can_resume_at(&self, pos: usize) -> bool {
        pos == 0
            || pos <= self.len
                && self
                    .windows
                    .iter()
                    .zip(&self.rows)
                    .all(|(w, &rows)| match w {
                        Some(w) => {
                            pos.saturating_sub(w.saturating_sub(1))
                                >= self.high.saturating_sub(rows)
                        }
                        None => true,
                    })
    }

    fn bytes(&self) -> usize {
        self.keys
            .iter()
            .chain(&self.values)
            .map(|b| b.size() as usize)
            .sum()
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl GpuCache {
    /// A state of `capacity` positions for a model of shape `m` whose
    /// cache lives on `gpu`.
    pub(crate) fn new_state(
        gpu: &Arc<Gpu>,
        m: &ModelInfo,
        capacity: usize,
        kv_dtype: DType,
    ) -> Result<State> {
        if capacity > m.context_length {
            return Err(Error::Invalid(format!(
                "a context of {capacity} exceeds the model's {} positions",
                m.context_length
            )));
        }
        if kv_dtype != DType::F32 {
            return Err(Error::Invalid(format!(
                "the GPU backend keeps its key/value cache in F32, not {}",
                kv_dtype.name()
            )));
        }
        let chunk = chunk_for(gpu, m, capacity);
        // A sliding-window layer's queries in one chunk see at most
        // `window + chunk - 1` positions; between chunks that room lets a
        // chat go back up to a chunk without feeding everything again.
        let windows: Vec<Option<usize>> = (0..m.n_layers)
            .map(|l| m.windows.get(l).copied().flatten())
            .collect();
        let rows: Vec<usize> = windows
            .iter()
            .map(|w| w.map_or(capacity, |w| w.saturating_add(chunk).min(capacity)))
            .collect();
        // Positions past `len` are never read, so a reused buffer's old
        // contents do no harm.
        let layer = |what: &str, i: usize| {
            let bytes = 4 * (rows[i] * m.n_kv_heads * m.head_dim) as u64;
            gpu.take(&format!("blk.{i}.{what} cache"), bytes, STORAGE)
        };
        let cache = GpuCache {
            gpu: gpu.clone(),
            len: 0,
            high: 0,
            rows: rows.clone(),
            windows,
            chunk,
            keys: (0..m.n_layers)
                .map(|i| layer("k", i))
                .collect::<Result<_>>()?,
            values: (0..m.n_layers)
                .map(|i| layer("v", i))
                .collect::<Result<_>>()?,
            scratch: Scratch::new(gpu, m, chunk, capacity)?,
        };
        Ok(State::on_device(capacity, Box::new(cache)))
    }

    /// The GPU cache inside `state`, or an error naming the mix-up.
    pub(crate) fn of(state: &mut State) -> Result<&mut GpuCache> {
        state
            .device
            .as_mut()
            .and_then(|d| d.as_any_mut().downcast_mut::<GpuCache>())
            .ok_or_else(|| Error::Invalid("this state was not made by a GPU model".into()))
    }
}

/// Tokens per submission for a context of `capacity`, keeping the attention
/// scores and the logits each within one storage binding.
fn chunk_for(gpu: &Gpu, m: &ModelInfo, capacity: usize) -> usize {
    let per_token = 4 * (m.n_heads * capacity.max(1)).max(m.vocab_size) as u64;
    let most = gpu.limits.max_storage_buffer_binding_size / per_token;
    (most as usize).clamp(1, MAX_CHUNK)
}
