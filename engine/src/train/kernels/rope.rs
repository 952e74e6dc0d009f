//! Rotary position embeddings, forward and backward, over rows of
//! `[heads, head_dim]` (one row per token).
//!
//! RoPE turns each pair of a head's dimensions by the angle of the token's
//! position: `(a, b) → (a·cos − b·sin, a·sin + b·cos)`. A rotation's
//! inverse is its transpose, the same turn by the opposite angle, so the
//! backward pass is the forward pass with `sin` negated. Which two
//! dimensions form a pair is the [`RopeLayout`]; dimensions past the
//! rotary width (partial rotary, Phi-3) pass through.

use super::parallel::{self, Shared};
use crate::ops::rope::RopeLayout;
use crate::train::real::Real;

/// The angles of every position: `cos` and `sin` are
/// `[positions, rot / 2]` (the inference tables, [`crate::ops::rope`]).
#[derive(Clone, Copy)]
pub struct Angles<'a, T> {
    pub cos: &'a [T],
    pub sin: &'a [T],
    /// Rotated dimensions of each head (even, at most `head_dim`).
    pub rot: usize,
    pub layout: RopeLayout,
}

/// A token row's shape.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub heads: usize,
    pub head_dim: usize,
}

/// `out` = `x` with row `t` rotated to `positions[t]`.
pub fn forward<T: Real>(
    x: &[T],
    positions: &[usize],
    shape: Heads,
    angles: Angles<T>,
    out: &mut [T],
) {
    rotate(x, positions, shape, angles, false, out, false)
}

/// Adds to `dx` the gradient of `x` given `dout`: `dout` turned back.
pub fn backward<T: Real>(
    dout: &[T],
    positions: &[usize],
    shape: Heads,
    angles: Angles<T>,
    dx: &mut [T],
) {
    rotate(dout, positions, shape, angles, true, dx, true)
}

/// `out (+)= R(±angle) · x`, row by row across the pool.
fn rotate<T: Real>(
    x: &[T],
    positions: &[usize],
    shape: Heads,
    angles: Angles<T>,
    inverse: bool,
    out: &mut [T],
    accumulate: bool,
) {
    let width = shape.heads * shape.head_dim;
    let half = angles.rot / 2;
    assert!(angles.rot <= shape.head_dim && x.len() == positions.len() * width);
    assert_eq!(out.len(), x.len());
    let put = |o: &mut T, v: T| match accumulate {
        true => *o += v,
        false => *o = v,
    };
    let out_s = Shared::new(out);
    parallel::row_chunks(positions.len(), width, &|_, rows| {
        // SAFETY: these rows of `out` belong to this job alone.
        let out = unsafe { out_s.range(rows.start * width, rows.len() * width) };
        let x = &x[rows.start * width..rows.end * width];
        for ((x, out), &p) in x
            .chunks_exact(width)
            .zip(out.chunks_exact_mut(width))
            .zip(&positions[rows])
        {
            let cos = &angles.cos[p * half..(p + 1) * half];
            let sin = &angles.sin[p * half..(p + 1) * half];
            for (x, out) in x
                .chunks_exact(shape.head_dim)
                .zip(out.chunks_exact_mut(shape.head_dim))
            {
                for i in 0..half {
                    let (a, b) = match angles.layout {
                        RopeLayout::Interleaved => (2 * i, 2 * i + 1),
                        RopeLayout::NeoX => (i, i + half),
                    };
                    let (c, s) = (cos[i], if inverse { -sin[i] } else { sin[i] });
                    let (xa, xb) = (x[a], x[b]);
                    put(&mut out[a], xa * c - xb * s);
                    put(&mut out[b], xa * s + xb * c);
                }
                for j in angles.rot..shape.head_dim {
                    put(&mut out[j], x[j]);
                }
            }
        }
    });
}
