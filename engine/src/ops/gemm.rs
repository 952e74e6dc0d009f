//! Dense matrix products with f32 activations and f32 / f16 / bf16 weights.
//! Quantized weights have their own kernels.

use super::launch;
use crate::backend::cpu::gemm::{self as cpu, Elems};
use crate::backend::cpu::simd;
use crate::error::{Error, Result};
use crate::profile::Cost;
use crate::quant;
use crate::tensor::{DType, Tensor};

pub use cpu::BLayout;

/// `out[m, n] = a[m, k] · B`, with `B` a contiguous 2-D tensor stored as
/// `layout` says (`[k, n]`, or `[n, k]` for weights). `m` is `a.len() / k`.
pub fn matmul(a: &[f32], b: &Tensor, layout: BLayout, out: &mut [f32]) -> Result<()> {
    let &[rows, cols] = b.dims() else {
        return Err(Error::Invalid(format!(
            "matmul: B must be 2-D, got shape {}",
            b.shape()
        )));
    };
    let (k, n) = match layout {
        BLayout::KN => (rows, cols),
        BLayout::NK => (cols, rows),
    };
    let bytes = b.as_bytes()?;
    let elems = match b.dtype() {
        DType::F32 => Elems::F32(quant::cast(bytes)?),
        DType::F16 => Elems::F16(quant::cast(bytes)?),
        DType::BF16 => Elems::BF16(quant::cast(bytes)?),
        other => {
            return Err(Error::DType {
                op: "matmul".into(),
                dtype: other.to_string(),
            })
        }
    };
    run(a, elems, layout, k, n, out)
}

/// `y[m, n] = x[m, k] · Wᵀ` for weights `W` stored `[n, k]` (`[out, in]`):
/// a linear layer without bias.
pub fn linear(x: &[f32], w: &Tensor, out: &mut [f32]) -> Result<()> {
    matmul(x, w, BLayout::NK, out)
}

/// [`matmul`] with an f32 slice for `B`, of `k × n` elements.
pub fn matmul_f32(
    a: &[f32],
    b: &[f32],
    (k, n): (usize, usize),
    layout: BLayout,
    out: &mut [f32],
) -> Result<()> {
    if Some(b.len()) != k.checked_mul(n) {
        return Err(Error::shape(
            format!("matmul B ({k} × {n})"),
            k * n,
            b.len(),
        ));
    }
    run(a, Elems::F32(b), layout, k, n, out)
}

fn run(
    a: &[f32],
    b: Elems<'_>,
    layout: BLayout,
    k: usize,
    n: usize,
    out: &mut [f32],
) -> Result<()> {
    // With k = 0 (an empty sum) only `out` tells m.
    let m = a.len().checked_div(k).unwrap_or(out.len() / n.max(1));
    if a.len() != m * k || out.len() != m * n {
        return Err(Error::Invalid(format!(
            "matmul: A ({} elements) must be [m, {k}] and out ({} elements) [m, {n}] for one m",
            a.len(),
            out.len()
        )));
    }
    let (name, width, dtype) = match b {
        Elems::F32(_) => ("matmul_f32", 4, "f32"),
        Elems::F16(_) => ("matmul_f16", 2, "f16"),
        Elems::BF16(_) => ("matmul_bf16", 2, "bf16"),
    };
    let cost = Cost {
        bytes: (4 * (m * k + m * n) + width * k * n) as u64,
        flops: 2 * (m * k * n) as u64,
    };
    let shapes = || {
        let b = match layout {
            BLayout::KN => format!("{dtype}[{k}, {n}]"),
            BLayout::NK => format!("{dtype}[{n}, {k}]ᵀ"),
        };
        format!("f32[{m}, {k}] x {b}")
    };
    let isa = simd::active();
    launch(name, cost, shapes, || {
        cpu::matmul(isa, a, b, layout, (m, k, n), out)
    });
    Ok(())
}
