//! Activation functions, element-wise. The loops call the branch-free
//! [`vector::exp`](crate::backend::cpu::vector::exp) so that they vectorise.

use super::launch;
use crate::backend::cpu::vector::exp;
use crate::error::{Error, Result};
use crate::profile::Cost;

/// x · sigmoid(x), in place.
pub fn silu(x: &mut [f32]) {
    let n = x.len() as u64;
    let cost = Cost {
        bytes: 8 * n,
        flops: 4 * n,
    };
    launch(
        "silu",
        cost,
        || format!("f32[{n}]"),
        || {
            x.iter_mut().for_each(|v| *v = silu_one(*v));
        },
    );
}

/// GELU with the tanh approximation (GPT-2's "gelu_new"), in place:
/// 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))).
pub fn gelu(x: &mut [f32]) {
    let n = x.len() as u64;
    let cost = Cost {
        bytes: 8 * n,
        flops: 9 * n,
    };
    launch(
        "gelu",
        cost,
        || format!("f32[{n}]"),
        || {
            x.iter_mut().for_each(|v| *v = gelu_one(*v));
        },
    );
}

/// The gated feed-forward of Llama: `out = silu(gate) * up`.
pub fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) -> Result<()> {
    check("swiglu up", gate.len(), up.len())?;
    check("swiglu output", gate.len(), out.len())?;
    let n = gate.len() as u64;
    let cost = Cost {
        bytes: 12 * n,
        flops: 5 * n,
    };
    launch(
        "swiglu",
        cost,
        || format!("f32[{n}]"),
        || {
            for ((o, g), u) in out.iter_mut().zip(gate).zip(up) {
                *o = silu_one(*g) * u;
            }
        },
    );
    Ok(())
}

/// [`swiglu`] in place: `gate = silu(gate) * up`.
pub fn swiglu_inplace(gate: &mut [f32], up: &[f32]) -> Result<()> {
    gated_inplace("swiglu", 5, gate, up, silu_one)
}

/// The gated feed-forward of Gemma, in place: `gate = gelu_tanh(gate) * up`.
pub fn geglu_inplace(gate: &mut [f32], up: &[f32]) -> Result<()> {
    gated_inplace("geglu", 10, gate, up, gelu_one)
}

/// `gate = act(gate) * up`, costing `flops` per value.
fn gated_inplace(
    name: &'static str,
    flops: u64,
    gate: &mut [f32],
    up: &[f32],
    act: impl Fn(f32) -> f32,
) -> Result<()> {
    check(&format!("{name} up"), gate.len(), up.len())?;
    let n = gate.len() as u64;
    let cost = Cost {
        bytes: 12 * n,
        flops: flops * n,
    };
    launch(
        name,
        cost,
        || format!("f32[{n}]"),
        || {
            for (g, u) in gate.iter_mut().zip(up) {
                *g = act(*g) * u;
            }
        },
    );
    Ok(())
}

#[inline(always)]
fn silu_one(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

#[inline(always)]
fn gelu_one(x: f32) -> f32 {
    // 0.5 (1 + tanh y) = sigmoid(2y): one exp, no cancellation near 0.
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let y = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    x / (1.0 + exp(-2.0 * y))
}

fn check(what: &str, expected: usize, found: usize) -> Result<()> {
    if expected != found {
        return Err(Error::shape(what, expected, found));
    }
    Ok(())
}
