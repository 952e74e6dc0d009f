//! GPU buffers: created from host data, zeroed, and read back.

use super::device::Gpu;
use crate::error::{Error, Result};
use wgpu::util::DeviceExt;

/// Usage for buffers kernels read and write, and that can be copied.
pub const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

impl Gpu {
    /// A storage buffer holding `data` (at least 4 bytes: WebGPU refuses
    /// empty bindings).
    pub fn upload(&self, label: &str, data: &[u8]) -> Result<wgpu::Buffer> {
        self.check_size(label, data.len() as u64)?;
        let padded;
        let contents = if data.len() < 4 || !data.len().is_multiple_of(4) {
            let mut v = data.to_vec();
            v.resize(data.len().max(4).next_multiple_of(4), 0);
            padded = v;
            &padded[..]
        } else {
            data
        };
        Ok(self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: STORAGE,
            }))
    }

    pub fn upload_f32(&self, label: &str, data: &[f32]) -> Result<wgpu::Buffer> {
        self.upload(label, bytemuck::cast_slice(data))
    }

    /// A zeroed storage buffer of `bytes` (rounded up to a word).
    pub fn zeros(&self, label: &str, bytes: u64) -> Result<wgpu::Buffer> {
        self.check_size(label, bytes)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4).next_multiple_of(4),
            usage: STORAGE,
            mapped_at_creation: false,
        }))
    }

    /// Refuse, with the reason, a buffer larger than one binding may be.
    fn check_size(&self, label: &str, bytes: u64) -> Result<()> {
        let most = self.limits.max_storage_buffer_binding_size;
        if bytes > most {
            return Err(Error::Invalid(format!(
                "{label}: {bytes} bytes exceed this GPU's largest storage binding ({most} bytes)"
            )));
        }
        Ok(())
    }

    /// Copies `bytes` bytes from `buffer` at `offset` back to the host
    /// (waiting for all submitted work first).
    pub fn read(&self, buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, staging.size());
        self.queue.submit([encoder.finish()]);
        self.read_mapped(&staging, bytes)
    }

    pub fn read_f32(&self, buffer: &wgpu::Buffer, offset: u64, len: usize) -> Result<Vec<f32>> {
        let bytes = self.read(buffer, offset, 4 * len as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Device memory bandwidth as a large buffer-to-buffer copy reaches it
    /// (bytes read plus bytes written, best of five), in GB/s: the yardstick
    /// for how much of the memory system decoding uses.
    pub fn copy_bandwidth_gbps(&self) -> Result<f64> {
        let bytes = (256u64 << 20).min(self.limits.max_storage_buffer_binding_size);
        let from = self.zeros("bandwidth source", bytes)?;
        let to = self.zeros("bandwidth target", bytes)?;
        let copy = || -> Result<f64> {
            let start = crate::profile::now_ns();
            let mut encoder = self.device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(&from, 0, &to, 0, bytes);
            self.queue.submit([encoder.finish()]);
            self.wait()?;
            Ok((crate::profile::now_ns() - start) as f64 * 1e-9)
        };
        copy()?; // first touch of the memory
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            best = best.min(copy()?);
        }
        self.check_errors()?;
        Ok(2.0 * bytes as f64 / best * 1e-9)
    }

    /// Maps a MAP_READ buffer once the queue is idle and copies out its first
    /// `bytes` bytes.
    pub(crate) fn read_mapped(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        if cfg!(target_arch = "wasm32") {
            // The browser maps buffers from its event loop, which a blocking
            // wait would never let run.
            return Err(Error::Invalid(
                "in the browser, GPU results are read asynchronously (forward passes go through gpu_submit)".into(),
            ));
        }
        pollster::block_on(self.read_mapped_async(staging, bytes))
    }

    /// [`Gpu::read_mapped`] as a future: on native the device is polled
    /// until the map completes; in the browser the page's event loop
    /// completes it while the caller awaits.
    pub(crate) async fn read_mapped_async(
        &self,
        staging: &wgpu::Buffer,
        bytes: u64,
    ) -> Result<Vec<u8>> {
        let (sender, receiver) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = sender.send(r);
        });
        if !cfg!(target_arch = "wasm32") {
            self.wait()?;
        }
        let mapped = receiver
            .await
            .map_err(|_| Error::Invalid("the GPU dropped a read-back".into()))?;
        if let Err(e) = mapped {
            self.check_errors()?;
            return Err(Error::Invalid(format!(
                "the GPU stopped answering (a lost device?): reading back a result failed: {e}"
            )));
        }
        let out = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| Error::Invalid(format!("reading back from the GPU: {e}")))?;
            view[..bytes as usize].to_vec()
        };
        staging.unmap();
        self.check_errors()?;
        Ok(out)
    }
}
