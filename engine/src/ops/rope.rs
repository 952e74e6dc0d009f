//! Rotary position embeddings (RoPE), in place over `[T, heads, head_dim]`.
//!
//! Dimension pair i (i < rot_dim / 2) of a head at position p is rotated by
//! the angle p · θᵢ, θᵢ = base^(-2i / rot_dim). Models disagree on which two
//! elements form pair i, hence [`RopeLayout`]. Dimensions from `rot_dim` on
//! (partial rotary, as in GPT-NeoX or Phi) are left as they are.

use super::launch;
use crate::error::{Error, Result};
use crate::profile::Cost;

/// Which elements of a head form rotation pair i.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    /// `(x[2i], x[2i + 1])`: the original Llama code and GGUF `llama` models.
    Interleaved,
    /// `(x[i], x[i + rot_dim / 2])`: GPT-NeoX, Qwen2 and Hugging Face Llama.
    NeoX,
}

/// cos / sin of p · θᵢ for every position p < `max_pos` and pair i,
/// computed once (in f64) and shared by every layer.
#[derive(Debug, Clone)]
pub struct RopeCache {
    rot_dim: usize,
    max_pos: usize,
    /// `[max_pos, rot_dim / 2]`.
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl RopeCache {
    /// Tables for θᵢ = base^(-2i / rot_dim).
    pub fn new(base: f32, rot_dim: usize, max_pos: usize) -> Result<Self> {
        if !(base > 0.0 && base.is_finite()) {
            return Err(Error::Invalid(format!(
                "rope: base must be positive, got {base}"
            )));
        }
        let inv_freq: Vec<f64> = (0..rot_dim / 2)
            .map(|i| (base as f64).powf(-2.0 * i as f64 / rot_dim as f64))
            .collect();
        Self::build(&inv_freq, rot_dim, max_pos)
    }

    /// Tables for given frequencies θᵢ (one per pair, rot_dim = 2 × their
    /// count): for the frequency-scaled variants some models use.
    pub fn from_inv_freq(inv_freq: &[f32], max_pos: usize) -> Result<Self> {
        let f: Vec<f64> = inv_freq.iter().map(|&v| v as f64).collect();
        Self::build(&f, 2 * inv_freq.len(), max_pos)
    }

    fn build(inv_freq: &[f64], rot_dim: usize, max_pos: usize) -> Result<Self> {
        if rot_dim == 0 || !rot_dim.is_multiple_of(2) {
            return Err(Error::Invalid(format!(
                "rope: the rotary dimension must be even and positive, got {rot_dim}"
            )));
        }
        let len = max_pos
            .checked_mul(rot_dim / 2)
            .ok_or_else(|| Error::Invalid(format!("rope: {max_pos} positions is too many")))?;
        // Position p + 1's angles are position p's rotated by θᵢ (in f64);
        // every ANCHOR positions they are recomputed exactly, so rounding
        // never builds up. A trig call per pair and position made loading a
        // model with an 8k context noticeably slower.
        const ANCHOR: usize = 64;
        let step: Vec<(f64, f64)> = inv_freq.iter().map(|&f| f.sin_cos()).collect();
        let mut now = vec![(0f64, 1f64); inv_freq.len()]; // (sin, cos) at p
        let (mut cos, mut sin) = (Vec::with_capacity(len), Vec::with_capacity(len));
        for p in 0..max_pos {
            for (i, &f) in inv_freq.iter().enumerate() {
                now[i] = if p % ANCHOR == 0 {
                    (p as f64 * f).sin_cos()
                } else {
                    let ((s, c), (ds, dc)) = (now[i], step[i]);
                    (s * dc + c * ds, c * dc - s * ds)
                };
                sin.push(now[i].0 as f32);
                cos.push(now[i].1 as f32);
            }
        }
        Ok(RopeCache {
            rot_dim,
            max_pos,
            cos,
            sin,
        })
    }

    pub fn rot_dim(&self) -> usize {
        self.rot_dim
    }

    pub fn max_pos(&self) -> usize {
        self.max_pos
    }

    /// The (cos, sin) tables, `[max_pos, rot_dim / 2]` each (the GPU
    /// backend uploads them, so both backends rotate by the same numbers).
    pub fn tables(&self) -> (&[f32], &[f32]) {
        (&self.cos, &self.sin)
    }
}

/// Rotate `x` (`[positions.len(), n_heads, head_dim]`) in place; row t is at
/// position `positions[t]`.
pub fn rope(
    x: &mut [f32],
    positions: &[usize],
    n_heads: usize,
    head_dim: usize,
    layout: RopeLayout,
    cache: &RopeCache,
) -> Result<()> {
    let (rot, half) = (cache.rot_dim, cache.rot_dim / 2);
    if rot > head_dim {
        return Err(Error::Invalid(format!(
            "rope: rotary dimension {rot} exceeds the head dimension {head_dim}"
        )));
    }
    let expected = positions.len() * n_heads * head_dim;
    if x.len() != expected {
        return Err(Error::shape(
            format!("rope input [{}, {n_heads}, {head_dim}]", positions.len()),
            expected,
            x.len(),
        ));
    }
    if let Some(&p) = positions.iter().find(|&&p| p >= cache.max_pos) {
        return Err(Error::Invalid(format!(
            "rope: position {p} is beyond the {} positions the table was built for",
            cache.max_pos
        )));
    }
    let pairs = (positions.len() * n_heads * half) as u64;
    let cost = Cost {
        bytes: pairs * 16 + (positions.len() * half * 8) as u64,
        flops: pairs * 6,
    };
    let shapes = || format!("f32[{}, {n_heads}, {head_dim}] rot {rot}", positions.len());
    launch("rope", cost, shapes, || {
        for (rows, &p) in x.chunks_exact_mut(n_heads * head_dim).zip(positions) {
            let cos = &cache.cos[p * half..(p + 1) * half];
            let sin = &cache.sin[p * half..(p + 1) * half];
            for head in rows.chunks_exact_mut(head_dim) {
                match layout {
                    RopeLayout::Interleaved => {
                        for ((v, c), s) in head[..rot].chunks_exact_mut(2).zip(cos).zip(sin) {
                            let (a, b) = (v[0], v[1]);
                            v[0] = a * c - b * s;
                            v[1] = a * s + b * c;
                        }
                    }
                    RopeLayout::NeoX => {
                        let (lo, hi) = head[..rot].split_at_mut(half);
                        for (((a, b), c), s) in lo.iter_mut().zip(hi).zip(cos).zip(sin) {
                            let (x0, x1) = (*a, *b);
                            *a = x0 * c - x1 * s;
                            *b = x0 * s + x1 * c;
                        }
                    }
                }
            }
        }
    });
    Ok(())
}
