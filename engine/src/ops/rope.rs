//! Rotary position embeddings (RoPE), in place over `[T, heads, head_dim]`.
//!
//! Dimension pair i (i < rot_dim / 2) of a head at position p is rotated by
//! the angle p · θᵢ, θᵢ = base^(-2i / rot_dim). Models disagree on which two
//! elements form pair i, hence [`RopeLayout`]. Dimensions from `rot_dim` on
//! (partial rotary, as in GPT-NeoX or Phi) are left as they are.

use super::launch;
use crate::error::{Error, Result};
use crate::profile::Cost;
use std::sync::{Arc, RwLock};

/// Which elements of a head form rotation pair i.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    /// `(x[2i], x[2i + 1])`: the original Llama code and GGUF `llama` models.
    Interleaved,
    /// `(x[i], x[i + rot_dim / 2])`: GPT-NeoX, Qwen2 and Hugging Face Llama.
    NeoX,
}

/// cos / sin of p · θᵢ for positions p < `max_pos` and every pair i,
/// computed (in f64) as positions are first needed and shared by every
/// layer. A file may claim a context of billions of positions; the tables
/// only ever hold what a run has reached (doubling as it goes), so a
/// claimed context costs nothing until it is used.
#[derive(Debug)]
pub struct RopeCache {
    rot_dim: usize,
    max_pos: usize,
    inv_freq: Vec<f64>,
    built: RwLock<Arc<RopeTables>>,
}

/// The cos / sin tables for the first [`RopeTables::positions`] positions,
/// `[positions, rot_dim / 2]` each.
#[derive(Debug, Default)]
pub struct RopeTables {
    positions: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl RopeTables {
    /// Positions the tables hold.
    pub fn positions(&self) -> usize {
        self.positions
    }
    pub fn cos(&self) -> &[f32] {
        &self.cos
    }
    pub fn sin(&self) -> &[f32] {
        &self.sin
    }
}

impl Clone for RopeCache {
    fn clone(&self) -> Self {
        RopeCache {
            rot_dim: self.rot_dim,
            max_pos: self.max_pos,
            inv_freq: self.inv_freq.clone(),
            built: RwLock::new(self.current()),
        }
    }
}

/// Positions the tables start with, so short runs never regrow them.
const FIRST_POSITIONS: usize = 256;

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
        Self::with_frequencies(inv_freq, rot_dim, max_pos)
    }

    /// Tables for θᵢ = base^(-2i / rot_dim) / divisorᵢ: scaled RoPE, with
    /// one divisor per pair (all equal for linear scaling; Llama 3's
    /// per-frequency factors, as GGUF's `rope_freqs.weight` holds them).
    pub fn scaled(base: f32, rot_dim: usize, max_pos: usize, divisors: &[f32]) -> Result<Self> {
        if divisors.len() != rot_dim / 2 {
            return Err(Error::Invalid(format!(
                "rope: {} frequency factors for a rotary dimension of {rot_dim} (want {})",
                divisors.len(),
                rot_dim / 2
            )));
        }
        if let Some(bad) = divisors.iter().find(|d| !(**d > 0.0 && d.is_finite())) {
            return Err(Error::Invalid(format!(
                "rope: frequency factors must be positive and finite, got {bad}"
            )));
        }
        let plain = Self::new(base, rot_dim, 0)?;
        let inv_freq = plain
            .inv_freq
            .iter()
            .zip(divisors)
            .map(|(f, &d)| f / d as f64)
            .collect();
        Self::with_frequencies(inv_freq, rot_dim, max_pos)
    }

    /// Tables for given frequencies θᵢ (one per pair, rot_dim = 2 × their
    /// count): for the frequency-scaled variants some models use.
    pub fn from_inv_freq(inv_freq: &[f32], max_pos: usize) -> Result<Self> {
        let f: Vec<f64> = inv_freq.iter().map(|&v| v as f64).collect();
        Self::with_frequencies(f, 2 * inv_freq.len(), max_pos)
    }

    fn with_frequencies(inv_freq: Vec<f64>, rot_dim: usize, max_pos: usize) -> Result<Self> {
        if rot_dim == 0 || !rot_dim.is_multiple_of(2) {
            return Err(Error::Invalid(format!(
                "rope: the rotary dimension must be even and positive, got {rot_dim}"
            )));
        }
        let cache = RopeCache {
            rot_dim,
            max_pos,
            inv_freq,
            built: RwLock::new(Arc::default()),
        };
        cache.covering(max_pos.min(FIRST_POSITIONS))?;
        Ok(cache)
    }

    fn current(&self) -> Arc<RopeTables> {
        self.built.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Tables holding at least the first `positions` positions (at most
    /// `max_pos`), built now if no earlier call needed as many. Growing
    /// recomputes every position the same way, so a position's angles never
    /// depend on how far the tables have grown.
    pub fn covering(&self, positions: usize) -> Result<Arc<RopeTables>> {
        if positions > self.max_pos {
            return Err(Error::Invalid(format!(
                "rope: position {} is beyond the {} positions of the model's context",
                positions - 1,
                self.max_pos
            )));
        }
        let now = self.current();
        if now.positions >= positions {
            return Ok(now);
        }
        let mut built = self.built.write().unwrap_or_else(|e| e.into_inner());
        if built.positions < positions {
            let grown = positions.max(2 * built.positions).min(self.max_pos);
            *built = Arc::new(self.build(grown)?);
        }
        Ok(built.clone())
    }

    fn build(&self, positions: usize) -> Result<RopeTables> {
        let inv_freq = &self.inv_freq;
        let too_many = || Error::Invalid(format!("rope: {positions} positions is too many"));
        let len = positions.checked_mul(inv_freq.len()).ok_or_else(too_many)?;
        let (mut cos, mut sin) = (Vec::new(), Vec::new());
        cos.try_reserve_exact(len).map_err(|_| too_many())?;
        sin.try_reserve_exact(len).map_err(|_| too_many())?;
        // Position p + 1's angles are position p's rotated by θᵢ (in f64);
        // every ANCHOR positions they are recomputed exactly, so rounding
        // never builds up. A trig call per pair and position made loading a
        // model with an 8k context noticeably slower.
        const ANCHOR: usize = 64;
        let step: Vec<(f64, f64)> = inv_freq.iter().map(|&f| f.sin_cos()).collect();
        let mut now = vec![(0f64, 1f64); inv_freq.len()]; // (sin, cos) at p
        for p in 0..positions {
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
        Ok(RopeTables {
            positions,
            cos,
            sin,
        })
    }

    pub fn rot_dim(&self) -> usize {
        self.rot_dim
    }

    /// The most positions the tables may grow to: the model's context.
    pub fn max_pos(&self) -> usize {
        self.max_pos
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
    let reached = positions.iter().max().map_or(0, |&p| p.saturating_add(1));
    let tables = cache.covering(reached)?;
    let pairs = (positions.len() * n_heads * half) as u64;
    let cost = Cost {
        bytes: pairs * 16 + (positions.len() * half * 8) as u64,
        flops: pairs * 6,
    };
    let shapes = || format!("f32[{}, {n_heads}, {head_dim}] rot {rot}", positions.len());
    launch("rope", cost, shapes, || {
        for (rows, &p) in x.chunks_exact_mut(n_heads * head_dim).zip(positions) {
            let cos = &tables.cos[p * half..(p + 1) * half];
            let sin = &tables.sin[p * half..(p + 1) * half];
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
