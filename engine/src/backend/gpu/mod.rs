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
//! - `cache`: a conversation's key/value cache and scratch buffers.
//! - `pool`: buffers of ended conversations, reused by the next ones.
//! - `forward`: feeding tokens in chunks, logits or only their argmax.
//! - [`llama`], [`gpt2`]: each model's forward pass, kernel by kernel.

pub mod batch;
pub mod buffer;
mod cache;
pub mod device;
pub mod forward;
pub mod gpt2;
pub mod kernels;
pub mod llama;
mod pool;
pub mod shaders;
mod timings;
pub mod weight;

pub use crate::backend::GpuOptions;
pub use device::{AdapterSummary, Gpu};
pub use forward::{Readback, Submit};
pub use gpt2::GpuGpt2;
pub use llama::GpuLlama;
pub use weight::GpuWeight;
