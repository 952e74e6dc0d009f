//! The CPU backend: SIMD kernels chosen at run time, and a worker pool.

pub mod attention;
pub mod gemm;
pub mod pool;
pub mod quant_dot;
pub mod simd;
pub mod vector;
