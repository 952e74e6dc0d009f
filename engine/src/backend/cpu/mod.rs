//! The CPU backend: SIMD kernels chosen at run time, and a worker pool.

pub mod pool;
pub mod quant_dot;
pub mod simd;
