//! Recording kernel launches and submitting them together.
//!
//! A forward pass records its dispatches into a [`Batch`], which encodes
//! them into one command buffer and one submission. When profiling is on,
//! each dispatch gets its own compute pass with timestamps at its start and
//! end (or, on an adapter without timestamp queries, its own submission
//! timed from submission to completion on the host, recorded under the
//! backend name `wgpu-wall`), and becomes a row of the profile beside the
//! CPU kernels.

use super::device::Gpu;
use super::shaders::KernelId;
use super::timings::{PendingTimings, TimedKernel};
use crate::error::{Error, Result};
use crate::profile::{self, Cost, KernelRecord};
use std::sync::Arc;

/// Uniform blocks are placed at this alignment (WebGPU's default minimum).
const UNIFORM_ALIGN: usize = 256;

/// One buffer (or a range of one) bound at `slot`. It holds a handle to
/// the buffer (wgpu buffers are shared handles), so a batch outlives the
/// borrows its kernels were recorded with.
pub struct Bind {
    pub slot: u32,
    pub buffer: wgpu::Buffer,
    pub offset: u64,
    pub size: Option<u64>,
}

/// The whole of `buffer` at `slot`.
pub fn bind(slot: u32, buffer: &wgpu::Buffer) -> Bind {
    Bind {
        slot,
        buffer: buffer.clone(),
        offset: 0,
        size: None,
    }
}

struct Dispatch {
    name: &'static str,
    shapes: String,
    cost: Cost,
    pipeline: Arc<wgpu::ComputePipeline>,
    binds: Vec<Bind>,
    /// Offset of this dispatch's parameters in the uniform block, if any.
    params: Option<usize>,
    groups: [u32; 3],
}

struct BufferCopy {
    from: wgpu::Buffer,
    from_offset: u64,
    to: wgpu::Buffer,
    to_offset: u64,
    bytes: u64,
}

/// Dispatches waiting to be submitted.
pub struct Batch<'a> {
    gpu: &'a Gpu,
    dispatches: Vec<Dispatch>,
    copies: Vec<BufferCopy>,
    /// Every dispatch's parameters, each at a multiple of UNIFORM_ALIGN.
    uniforms: Vec<u8>,
    profiling: bool,
}

impl<'a> Batch<'a> {
    pub fn new(gpu: &'a Gpu) -> Self {
        Batch {
            gpu,
            dispatches: Vec::new(),
            copies: Vec::new(),
            uniforms: Vec::new(),
            profiling: profile::is_enabled(),
        }
    }

    pub fn gpu(&self) -> &'a Gpu {
        self.gpu
    }

    /// Records one launch of `kernel` over `groups` workgroups. `params` is
    /// the kernel's uniform block (bound at slot 4); `shapes` describes the
    /// operands for the profile (only built when profiling).
    #[allow(clippy::too_many_arguments)]
    pub fn dispatch(
        &mut self,
        name: &'static str,
        kernel: KernelId,
        binds: Vec<Bind>,
        params: &[u32],
        groups: [u32; 3],
        cost: Cost,
        shapes: impl FnOnce() -> String,
    ) -> Result<()> {
        let most = self.gpu.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > most) {
            return Err(Error::Invalid(format!(
                "{name}: {groups:?} workgroups exceed this GPU's {most} per dimension"
            )));
        }
        if groups.contains(&0) {
            return Ok(());
        }
        let params = (!params.is_empty()).then(|| {
            let at = self.uniforms.len();
            self.uniforms
                .extend_from_slice(bytemuck::cast_slice(params));
            self.uniforms.resize(at + UNIFORM_ALIGN, 0);
            at
        });
        self.dispatches.push(Dispatch {
            name,
            shapes: if self.profiling {
                shapes()
            } else {
                String::new()
            },
            cost,
            pipeline: self.gpu.shaders.get(&self.gpu.device, kernel),
            binds,
            params,
            groups,
        });
        Ok(())
    }

    /// Records a buffer copy, done after every dispatch of the batch.
    pub fn copy_after(
        &mut self,
        from: &wgpu::Buffer,
        from_offset: u64,
        to: &wgpu::Buffer,
        to_offset: u64,
        bytes: u64,
    ) {
        self.copies.push(BufferCopy {
            from: from.clone(),
            from_offset,
            to: to.clone(),
            to_offset,
            bytes,
        });
    }

    /// Encodes and submits everything recorded; with profiling on, records
    /// each dispatch's time (natively waiting for the GPU; in a browser
    /// when the pass's result is awaited).
    pub fn submit(self) -> Result<()> {
        let gpu = self.gpu;
        let uniform = (!self.uniforms.is_empty()).then(|| {
            let buffer = gpu.uniform_buffer(self.uniforms.len() as u64);
            gpu.queue.write_buffer(&buffer, 0, &self.uniforms);
            buffer
        });
        let groups: Vec<wgpu::BindGroup> = self
            .dispatches
            .iter()
            .map(|d| bind_group(gpu, d, uniform.as_ref()))
            .collect();
        // Wall-clock timing waits for the GPU after each dispatch, which a
        // browser cannot do; there, without timestamps, the caller times
        // each whole step instead.
        let result = match (self.profiling, gpu.timestamps) {
            (false, _) => self.submit_plain(&groups),
            (true, true) => self.submit_timed(&groups),
            (true, false) if cfg!(target_arch = "wasm32") => self.submit_plain(&groups),
            (true, false) => self.submit_wall_timed(&groups),
        };
        result?;
        gpu.check_errors()
    }

    fn encode_copies(&self, encoder: &mut wgpu::CommandEncoder) {
        for c in &self.copies {
            encoder.copy_buffer_to_buffer(&c.from, c.from_offset, &c.to, c.to_offset, c.bytes);
        }
    }

    fn submit_plain(&self, groups: &[wgpu::BindGroup]) -> Result<()> {
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for (d, group) in self.dispatches.iter().zip(groups) {
                pass.set_pipeline(&d.pipeline);
                pass.set_bind_group(0, group, &[]);
                pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
            }
        }
        self.encode_copies(&mut encoder);
        self.gpu.queue.submit([encoder.finish()]);
        Ok(())
    }

    /// One pass per dispatch, with GPU timestamps around each.
    fn submit_timed(&self, groups: &[wgpu::BindGroup]) -> Result<()> {
        let gpu = self.gpu;
        let n = self.dispatches.len() as u32;
        if n == 0 {
            return self.submit_plain(groups);
        }
        let queries = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * n,
        });
        let bytes = 16 * n as u64;
        let resolved = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readable = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps read-back"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        for (i, (d, group)) in self.dispatches.iter().zip(groups).enumerate() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(d.name),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            pass.set_pipeline(&d.pipeline);
            pass.set_bind_group(0, group, &[]);
            pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
        }
        encoder.resolve_query_set(&queries, 0..2 * n, &resolved, 0);
        encoder.copy_buffer_to_buffer(&resolved, 0, &readable, 0, bytes);
        self.encode_copies(&mut encoder);
        let submitted_ns = profile::now_ns();
        gpu.queue.submit([encoder.finish()]);
        let kernels = self
            .dispatches
            .iter()
            .map(|d| TimedKernel {
                name: d.name,
                shapes: d.shapes.clone(),
                cost: d.cost,
            })
            .collect();
        gpu.take_timings(PendingTimings {
            readable,
            kernels,
            submitted_ns,
        })
    }

    /// Without timestamp queries: each dispatch submitted alone and timed
    /// on the host from submission to completion (which includes the
    /// submission's own overhead; the backend name says so).
    fn submit_wall_timed(&self, groups: &[wgpu::BindGroup]) -> Result<()> {
        let gpu = self.gpu;
        for (d, group) in self.dispatches.iter().zip(groups) {
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(&d.pipeline);
                pass.set_bind_group(0, group, &[]);
                pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
            }
            let start = profile::now_ns();
            gpu.queue.submit([encoder.finish()]);
            gpu.wait()?;
            profile::push(KernelRecord {
                name: d.name,
                backend: "wgpu-wall",
                shapes: d.shapes.clone(),
                bytes: d.cost.bytes,
                flops: d.cost.flops,
                start_ns: start,
                duration_ns: profile::now_ns() - start,
            });
        }
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        self.encode_copies(&mut encoder);
        gpu.queue.submit([encoder.finish()]);
        Ok(())
    }
}

fn bind_group(gpu: &Gpu, d: &Dispatch, uniform: Option<&wgpu::Buffer>) -> wgpu::BindGroup {
    let mut entries: Vec<wgpu::BindGroupEntry> = d
        .binds
        .iter()
        .map(|b| wgpu::BindGroupEntry {
            binding: b.slot,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &b.buffer,
                offset: b.offset,
                size: b.size.and_then(wgpu::BufferSize::new),
            }),
        })
        .collect();
    if let (Some(at), Some(uniform)) = (d.params, uniform) {
        entries.push(wgpu::BindGroupEntry {
            binding: 4,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: uniform,
                offset: at as u64,
                size: wgpu::BufferSize::new(UNIFORM_ALIGN as u64),
            }),
        });
    }
    gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(d.name),
        layout: &d.pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}
