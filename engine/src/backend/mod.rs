//! Backends run kernels. Today there is the CPU; a wgpu backend will sit
//! beside it behind the same `ops` entry points.

pub mod cpu;
