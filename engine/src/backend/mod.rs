//! Backends run kernels: the CPU (`cpu`, behind the `ops` entry points)
//! and the GPU (`gpu`: WGSL kernels on wgpu, with the `gpu` feature).

pub mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;
