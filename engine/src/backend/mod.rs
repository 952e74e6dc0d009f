//! Backends run kernels: the CPU (`cpu`, behind the `ops` entry points)
//! and the GPU (`gpu`: WGSL kernels on wgpu, with the `gpu` feature).
//! Nothing here knows a model: the executors in `model::exec` drive these
//! kernels through each architecture's forward pass.

pub mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;

/// Which GPU to run on and how (`Gpu::open`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GpuOptions {
    /// Take the first adapter whose name contains this (case-insensitive);
    /// otherwise the best: a discrete GPU, then an integrated one, then a
    /// software one.
    pub adapter: Option<String>,
    /// Never compute in f16, even where the adapter offers `shader-f16`
    /// (the tiled matmul then keeps its tiles in f32).
    pub f32_only: bool,
}
