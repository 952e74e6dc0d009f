//! Buffers that conversations give back when they end, kept for the next
//! one: a new chat on the same model takes its key/value cache and scratch
//! buffers from here instead of allocating them again.

use super::device::Gpu;
use crate::error::Result;
use std::collections::HashMap;
use std::sync::Mutex;

/// Free buffers by (size, usage).
#[derive(Default)]
pub(crate) struct BufferPool {
    free: Mutex<HashMap<(u64, wgpu::BufferUsages), Vec<wgpu::Buffer>>>,
}

impl Gpu {
    /// A buffer of `bytes` (rounded up to a word) for `usage`: one given
    /// back earlier if the pool has one of that size, else a new one. Its
    /// contents are whatever it last held.
    pub(crate) fn take(
        &self,
        label: &str,
        bytes: u64,
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer> {
        let size = bytes.max(4).next_multiple_of(4);
        let mut free = self.pool.free.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(buffer) = free.get_mut(&(size, usage)).and_then(Vec::pop) {
            return Ok(buffer);
        }
        drop(free);
        if usage.contains(wgpu::BufferUsages::STORAGE) {
            return self.zeros(label, size);
        }
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        }))
    }

    /// Keeps `buffers` for later [`Gpu::take`]s. Work already submitted
    /// that uses them still completes first: wgpu orders later uses after it.
    pub(crate) fn give_back(&self, buffers: impl IntoIterator<Item = wgpu::Buffer>) {
        let mut free = self.pool.free.lock().unwrap_or_else(|e| e.into_inner());
        for b in buffers {
            free.entry((b.size(), b.usage())).or_default().push(b);
        }
    }

    /// Bytes held by the pool, waiting to be reused.
    pub fn pooled_bytes(&self) -> u64 {
        let free = self.pool.free.lock().unwrap_or_else(|e| e.into_inner());
        free.iter()
            .map(|(&(size, _), v)| size * v.len() as u64)
            .sum()
    }
}
