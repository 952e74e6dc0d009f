//! The one dispatch point: every kernel launch in the engine is a function in
//! this module. Each picks the backend and SIMD path, and goes through
//! [`launch`], which is where per-kernel timing is recorded.

pub mod quant;

use crate::profile::{self, Cost};

pub mod activation;
pub mod attention;
pub mod elementwise;
pub mod embedding;
pub mod gemm;
pub mod norm;
pub mod rng;
pub mod rope;
pub mod select;
pub mod softmax;
pub mod tensor_math;

/// Run a CPU kernel under the profiler. `shapes` describes the operands and
/// is only evaluated while profiling.
#[inline]
pub(crate) fn launch<R>(
    name: &'static str,
    cost: Cost,
    shapes: impl FnOnce() -> String,
    kernel: impl FnOnce() -> R,
) -> R {
    profile::record(name, "cpu", cost, shapes, kernel)
}
