//! The GPU backend: WGSL kernels (from `shaders/`) on wgpu, which runs them
//! on Vulkan, Metal, DX12 and, in the browser, WebGPU.
//!
//! - [`device`]: finding and opening an adapter ([`Gpu`]).
//! - [`shaders`]: the WGSL sources, by name, and the pipeline cache.
//! - [`buffer`]: uploads and read-backs.
//! - [`weight`]: weight matrices kept in their quantized formats.
//! - [`batch`]: recording dispatches, one submission per batch, and
//!   per-kernel GPU timing into the same profile as the CPU kernels.
//! - `timings`: kernel timestamps into profile rows (in a browser, read
//!   when the pass's result is awaited).
//! - [`kernels`]: one typed launch per kernel, mirroring `crate::ops`.
//! - `pool`: buffers of ended conversations, reused by the next ones.
//!
//! Nothing here knows a model: the GPU executor that runs every
//! architecture's forward pass through these kernels is
//! `crate::model::exec::gpu`.

pub mod batch;
pub mod buffer;
pub mod device;
pub mod kernels;
mod pool;
pub mod shaders;
mod timings;
pub mod weight;

pub use crate::backend::GpuOptions;
pub use device::{AdapterSummary, Gpu};
pub use weight::GpuWeight;
