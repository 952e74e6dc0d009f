//! Architectures on the GPU: weights uploaded in their formats
//! ([`Device`]), the forward pass recorded by [`exec::GpuExec`], and the
//! key/value cache and scratch buffers of each conversation in GPU memory
//! (`cache`). `run` feeds tokens in chunks and reads back what was asked.

mod cache;
pub mod exec;
mod run;

pub use run::{Readback, Submit};

use super::{Architecture, Rotary, Store};
use crate::backend::gpu::kernels::RopeTables;
use crate::backend::gpu::{Gpu, GpuOptions, GpuWeight};
use crate::error::{Error, Result};
use crate::model::hooks::{Hooks, NoHooks};
use crate::model::{Logits, Model, ModelInfo, Need, State};
use crate::ops::rope::RopeLayout;
use crate::tensor::{DType, Tensor};
use cache::GpuCache;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The most positions a GPU state may hold (the RoPE tables uploaded: a
/// file may claim billions of positions).
const GPU_ROPE_POSITIONS: usize = 32_768;

/// Weights uploaded to a GPU, kept in their formats.
pub struct Device {
    gpu: Arc<Gpu>,
    /// The fewest positions any uploaded RoPE table covers.
    positions: AtomicUsize,
}

impl Device {
    /// The GPU `options` name (opened once per process and shared).
    pub fn open(options: &GpuOptions) -> Result<Device> {
        Ok(Device {
            gpu: Gpu::shared(options)?,
            positions: AtomicUsize::new(usize::MAX),
        })
    }
}

impl Store for Device {
    type Matrix = GpuWeight;
    type Vector = wgpu::Buffer;
    type Rope = RopeTables;

    fn matrix(&self, name: &str, tensor: Tensor) -> Result<GpuWeight> {
        GpuWeight::upload(&self.gpu, name, &tensor)
    }

    fn vector(&self, name: &str, values: Vec<f32>) -> Result<wgpu::Buffer> {
        self.gpu.upload_f32(name, &values)
    }

    fn rope(&self, rope: Rotary) -> Result<RopeTables> {
        let tables = rope
            .cache
            .covering(rope.cache.max_pos().min(GPU_ROPE_POSITIONS))?;
        self.positions
            .fetch_min(tables.positions(), Ordering::Relaxed);
        Ok(RopeTables {
            cos: self.gpu.upload_f32("rope cos", tables.cos())?,
            sin: self.gpu.upload_f32("rope sin", tables.sin())?,
            half: rope.cache.rot_dim() / 2,
            max_pos: tables.positions(),
            neox: rope.layout == RopeLayout::NeoX,
        })
    }
}

/// An architecture whose forward pass runs on the GPU.
pub struct OnGpu<A> {
    arch: A,
    gpu: Arc<Gpu>,
    /// The most positions a state may hold (RoPE tables uploaded).
    max_positions: usize,
}

impl<A> OnGpu<A> {
    /// `arch`, loaded into `store`.
    pub fn new(arch: A, store: &Device) -> Result<Self> {
        Ok(OnGpu {
            arch,
            gpu: store.gpu.clone(),
            max_positions: store.positions.load(Ordering::Relaxed),
        })
    }
}

impl<A: Architecture<Device>> Model for OnGpu<A> {
    fn info(&self) -> &ModelInfo {
        self.arch.info()
    }

    fn new_state_with(&self, capacity: usize, kv_dtype: DType) -> Result<State> {
        if capacity > self.max_positions {
            return Err(Error::Invalid(format!(
                "a context of {capacity} exceeds the {} positions the GPU backend holds",
                self.max_positions
            )));
        }
        GpuCache::new_state(&self.gpu, self.info(), capacity, kv_dtype)
    }

    fn forward(&self, state: &mut State, tokens: &[u32], logits: Logits) -> Result<Vec<f32>> {
        run::forward(&self.arch, &self.gpu, state, tokens, logits, &mut NoHooks)
    }

    fn forward_hooked(
        &self,
        state: &mut State,
        tokens: &[u32],
        logits: Logits,
        hooks: &mut dyn Hooks,
    ) -> Result<Vec<f32>> {
        run::forward(&self.arch, &self.gpu, state, tokens, logits, hooks)
    }

    fn forward_argmax(&self, state: &mut State, tokens: &[u32]) -> Result<u32> {
        run::forward_argmax(&self.arch, &self.gpu, state, tokens)
    }

    fn forward_top_k(
        &self,
        state: &mut State,
        tokens: &[u32],
        k: usize,
    ) -> Result<Vec<(u32, f32)>> {
        run::forward_top_k(&self.arch, &self.gpu, state, tokens, k)
    }

    fn gpu_submit(&self) -> Option<&dyn Submit> {
        Some(self)
    }

    fn unembed(&self, resid: &[f32]) -> Result<Vec<f32>> {
        run::unembed(&self.arch, &self.gpu, resid)
    }
}

impl<A: Architecture<Device>> Submit for OnGpu<A> {
    fn submit(&self, state: &mut State, tokens: &[u32], need: Need) -> Result<Readback> {
        run::submit(&self.arch, &self.gpu, state, tokens, need)
    }
}
