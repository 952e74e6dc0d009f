//! Tests of the floating-point kernels against plain f64 references, on
//! random inputs of awkward sizes. One test binary, one module per family.

mod common;

mod activation;
mod attention;
mod elementwise;
mod embedding;
mod gemm;
mod norm;
mod profile;
mod rope;
mod vector;
