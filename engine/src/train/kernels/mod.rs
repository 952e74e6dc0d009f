//! Training kernels in forward/backward pairs, as in llm.c: each backward
//! takes what its forward saw (and saved) and the gradient of the output,
//! and *adds* into the gradients of the inputs, so that a value used twice
//! collects both contributions. Written over [`Real`](super::real::Real):
//! training runs them in f32, the gradient checks in f64.
//!
//! Shapes are the callers' to check (the graph does, and returns errors);
//! here they are only asserted.

pub mod activation;
pub mod attention;
pub mod elementwise;
pub mod embedding;
pub mod grpo;
pub mod gru;
pub mod lanes;
pub mod linear;
pub mod loss;
pub mod norm;
pub mod parallel;
pub mod rope;
pub mod rows;
pub mod softmax;
pub mod token_shift;
pub mod wkv;
