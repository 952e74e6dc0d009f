//! Normalisation over rows: RMSNorm (Llama, Qwen, SmolLM) and LayerNorm
//! (GPT-2). `x` and `out` hold whole rows of width `weight.len()`.
//!
//! These are memory-bound and small next to the matrix products around them,
//! so they run on the calling thread; the loops are written over 8-lane
//! chunks so that the compiler vectorises them.

use super::launch;
use crate::error::{Error, Result};
use crate::profile::Cost;

const LANES: usize = 8;

/// `out = x / sqrt(mean(x²) + eps) * weight`, row by row.
pub fn rmsnorm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) -> Result<()> {
    let d = weight.len();
    let rows = check_rows("rmsnorm", x, d, out)?;
    let cost = Cost {
        bytes: 4 * (2 * x.len() + d) as u64,
        flops: 4 * x.len() as u64,
    };
    launch(
        "rmsnorm",
        cost,
        || format!("f32[{rows}, {d}]"),
        || {
            for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
                let inv = 1.0 / (sum(xr, |v| v * v) / d as f32 + eps).sqrt();
                for ((o, v), w) in or.iter_mut().zip(xr).zip(weight) {
                    *o = v * inv * w;
                }
            }
        },
    );
    Ok(())
}

/// [`rmsnorm`] in place: each row of `x` (rows of `weight.len()`) is
/// replaced by its norm.
pub fn rmsnorm_inplace(x: &mut [f32], weight: &[f32], eps: f32) -> Result<()> {
    let d = weight.len();
    if d == 0 || !x.len().is_multiple_of(d) {
        return Err(Error::Invalid(format!(
            "rmsnorm: {} values are not whole rows of {d}",
            x.len()
        )));
    }
    let rows = x.len() / d;
    let cost = Cost {
        bytes: 4 * (2 * x.len() + d) as u64,
        flops: 4 * x.len() as u64,
    };
    launch(
        "rmsnorm",
        cost,
        || format!("f32[{rows}, {d}]"),
        || {
            for xr in x.chunks_exact_mut(d) {
                let inv = 1.0 / (sum(xr, |v| v * v) / d as f32 + eps).sqrt();
                // In `rmsnorm`'s order, so that both forms agree to the bit.
                for (v, w) in xr.iter_mut().zip(weight) {
                    *v = *v * inv * w;
                }
            }
        },
    );
    Ok(())
}

/// `out = (x - mean) / sqrt(var + eps) * weight + bias`, row by row, with the
/// biased variance (as PyTorch). Without `bias`, no bias is added.
pub fn layernorm(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    eps: f32,
    out: &mut [f32],
) -> Result<()> {
    let d = weight.len();
    let rows = check_rows("layernorm", x, d, out)?;
    if let Some(b) = bias {
        if b.len() != d {
            return Err(Error::shape("layernorm bias", d, b.len()));
        }
    }
    let cost = Cost {
        bytes: 4 * (2 * x.len() + 2 * d) as u64,
        flops: 7 * x.len() as u64,
    };
    launch(
        "layernorm",
        cost,
        || format!("f32[{rows}, {d}]"),
        || {
            for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
                // Two passes (mean, then squared deviations) rather than
                // E[x²] - E[x]², which cancels badly when |mean| >> std.
                let mean = sum(xr, |v| v) / d as f32;
                let var = sum(xr, |v| (v - mean) * (v - mean)) / d as f32;
                let inv = 1.0 / (var + eps).sqrt();
                for ((o, v), w) in or.iter_mut().zip(xr).zip(weight) {
                    *o = (v - mean) * inv * w;
                }
                if let Some(b) = bias {
                    or.iter_mut().zip(b).for_each(|(o, b)| *o += b);
                }
            }
        },
    );
    Ok(())
}

/// Check that `x` is whole rows of width `d` and `out` matches; the row count.
fn check_rows(op: &str, x: &[f32], d: usize, out: &[f32]) -> Result<usize> {
    if d == 0 || !x.len().is_multiple_of(d) {
        return Err(Error::Invalid(format!(
            "{op}: input of {} elements is not whole rows of the weight's width {d}",
            x.len()
        )));
    }
    if out.len() != x.len() {
        return Err(Error::shape(format!("{op} output"), x.len(), out.len()));
    }
    Ok(x.len() / d)
}

/// Σ f(x[i]) with 8 partial sums, which vectorises (a single running sum
/// would force the additions into strict order).
fn sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for l in 0..LANES {
            acc[l] += f(c[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}
