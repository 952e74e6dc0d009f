//! Per-kernel GPU timestamps, turned into profile rows.
//!
//! Natively a profiled batch waits for its timestamps at once. A browser
//! cannot wait on its GPU, so there the timestamps of each profiled batch
//! are left pending on the [`Gpu`] and read when the pass's result is
//! awaited ([`Gpu::collect_timings`], called by `Readback::read`): the
//! browser's kernel table has the same rows as the native one.

use super::device::Gpu;
use crate::error::Result;
use crate::profile::{self, Cost, KernelRecord};

/// What a profile row says of one dispatch, besides its time.
pub(crate) struct TimedKernel {
    pub name: &'static str,
    pub shapes: String,
    pub cost: Cost,
}

/// A profiled batch whose timestamps (two per kernel, resolved into
/// `readable`) are still on the GPU.
pub(crate) struct PendingTimings {
    pub readable: wgpu::Buffer,
    pub kernels: Vec<TimedKernel>,
    /// When the batch was submitted, on the profile's clock.
    pub submitted_ns: u64,
}

impl PendingTimings {
    fn bytes(&self) -> u64 {
        16 * self.kernels.len() as u64
    }

    /// Pushes one profile row per kernel from its `stamps` (GPU ticks,
    /// start and end per kernel), placed on the profile's clock from the
    /// moment of submission so GPU rows line up with CPU ones.
    fn record(&self, gpu: &Gpu, stamps: &[u64]) {
        let period = gpu.queue.get_timestamp_period() as f64;
        let origin = stamps.first().copied().unwrap_or(0);
        for (k, pair) in self.kernels.iter().zip(stamps.chunks_exact(2)) {
            let (start, end) = (pair[0], pair[1]);
            profile::push(KernelRecord {
                name: k.name,
                backend: "wgpu",
                shapes: k.shapes.clone(),
                bytes: k.cost.bytes,
                flops: k.cost.flops,
                start_ns: self.submitted_ns + (start.saturating_sub(origin) as f64 * period) as u64,
                duration_ns: (end.saturating_sub(start) as f64 * period) as u64,
            });
        }
    }
}

impl Gpu {
    /// Records `timings` now (blocking on the GPU) natively; in a browser,
    /// keeps them for [`Gpu::collect_timings`].
    pub(crate) fn take_timings(&self, timings: PendingTimings) -> Result<()> {
        if cfg!(target_arch = "wasm32") {
            self.pending_timings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(timings);
            return Ok(());
        }
        let bytes = self.read_mapped(&timings.readable, timings.bytes())?;
        timings.record(self, &bytemuck::pod_collect_to_vec(&bytes));
        Ok(())
    }

    /// Reads the timestamps of every profiled batch still pending and
    /// records them (nothing to do natively, where they are read at once).
    pub async fn collect_timings(&self) -> Result<()> {
        let pending = std::mem::take(
            &mut *self
                .pending_timings
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for timings in pending {
            let bytes = self
                .read_mapped_async(&timings.readable, timings.bytes())
                .await?;
            timings.record(self, &bytemuck::pod_collect_to_vec(&bytes));
        }
        Ok(())
    }
}
