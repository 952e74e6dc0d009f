//! Scaled RoPE: how a model trained on long contexts stretches its rotary
//! embedding. Each scheme divides the rotation frequencies θᵢ, and differs
//! only in the divisors:
//!
//! - `Linear(f)`: every θᵢ by `f` (positions squeezed `f` times; Gemma 3's
//!   global layers at 4B and up);
//! - `Factors(dᵢ)`: each θᵢ by its own dᵢ. Llama 3.1/3.2 leave the fast
//!   frequencies alone, divide the slow ones by `factor` and blend between;
//!   GGUF files carry the result as the tensor `rope_freqs.weight`, and a
//!   Hugging Face config's `rope_scaling: {rope_type: "llama3", …}` gives
//!   the parameters it is computed from (`llama3_factors`);
//! - `Yarn`: the same kind of per-frequency blend with its band set by
//!   rotation counts over the original context (`beta_fast`, `beta_slow`),
//!   plus a magnitude on the rotated queries and keys (`attention_factor`,
//!   about `1 + 0.1 ln factor`). Both q and k carry it, so it multiplies
//!   every attention score by its square; that is how it is applied here
//!   ([`RopeScaling::score_factor`]).

use crate::error::{Error, Result};
use crate::io::{HfRopeScaling, Metadata};
use crate::ops::rope::RopeCache;

#[derive(Debug, Clone, PartialEq, Default)]
pub enum RopeScaling {
    #[default]
    None,
    Linear(f32),
    Factors(Vec<f32>),
    /// Llama 3.1's parameters, whose divisors are computed when the tables
    /// are built (after the weights have confirmed the head size).
    Llama3(Llama3),
    Yarn(Yarn),
}

impl RopeScaling {
    /// From GGUF metadata (`{arch}.rope.scaling.type` and `.factor`) and
    /// the file's `rope_freqs.weight`, if it has one.
    pub fn from_gguf(meta: &Metadata, arch: &str, rope_freqs: Option<Vec<f32>>) -> Result<Self> {
        if let Some(factors) = rope_freqs {
            return Ok(RopeScaling::Factors(factors));
        }
        let key = |k: &str| format!("{arch}.rope.{k}");
        let kind = match meta.contains(&key("scaling.type")) {
            true => meta.get_str(&key("scaling.type"))?.to_string(),
            false => "none".to_string(),
        };
        match kind.as_str() {
            "none" => Ok(RopeScaling::None),
            "linear" => {
                let factor = if meta.contains(&key("scaling.factor")) {
                    meta.get_f32(&key("scaling.factor"))?
                } else {
                    // The older spelling: the reciprocal, as a scale.
                    1.0 / meta.get_f32(&key("scale_linear"))?
                };
                linear(factor, meta.source())
            }
            "yarn" => {
                let get = |k: &str, default: f32| -> Result<f32> {
                    match meta.contains(&key(k)) {
                        true => meta.get_f32(&key(k)),
                        false => Ok(default),
                    }
                };
                let factor = meta.get_f32(&key("scaling.factor"))? as f64;
                let original = match meta.contains(&key("scaling.original_context_length")) {
                    true => meta.get_u64(&key("scaling.original_context_length"))? as f64,
                    false => meta.get_u64(&format!("{arch}.context_length"))? as f64,
                };
                // llama.cpp's magnitude: `attn_factor` times YaRN's own, or
                // DeepSeek's ratio when a log multiplier is given.
                let log_mul = get("scaling.yarn_log_multiplier", 0.0)? as f64;
                let magnitude = match log_mul != 0.0 {
                    true => yarn_mscale(factor, 1.0) / yarn_mscale(factor, log_mul),
                    false => yarn_mscale(factor, 1.0),
                } * get("scaling.attn_factor", 1.0)? as f64;
                let ext_factor = get("scaling.yarn_ext_factor", -1.0)? as f64;
                let y = Yarn {
                    factor,
                    original_context: original,
                    beta_fast: get("scaling.yarn_beta_fast", 32.0)? as f64,
                    beta_slow: get("scaling.yarn_beta_slow", 1.0)? as f64,
                    attention_factor: magnitude,
                    ext_factor: if ext_factor < 0.0 { 1.0 } else { ext_factor },
                    truncate: true,
                };
                y.check(meta.source())?;
                Ok(RopeScaling::Yarn(y))
            }
            other => Err(Error::Invalid(format!(
                "{}: RoPE scaling `{other}` is not supported (supported: linear, yarn, Llama 3's rope_freqs)",
                meta.source()
            ))),
        }
    }

    /// From a Hugging Face config's `rope_scaling`; `max_positions` is the
    /// config's `max_position_embeddings`, which YaRN falls back on.
    pub fn from_hf(scaling: &HfRopeScaling, max_positions: Option<usize>) -> Result<Self> {
        let need = |v: Option<f64>, what: &str| {
            v.ok_or_else(|| {
                Error::Invalid(format!(
                    "config: rope_scaling `{}` needs `{what}`",
                    scaling.rope_type
                ))
            })
        };
        match scaling.rope_type.as_str() {
            "linear" => linear(need(scaling.factor, "factor")? as f32, "config"),
            "llama3" => {
                let original = scaling.original_max_position_embeddings.ok_or_else(|| {
                    Error::Invalid(
                        "config: rope_scaling `llama3` needs `original_max_position_embeddings`"
                            .into(),
                    )
                })?;
                let p = Llama3 {
                    factor: need(scaling.factor, "factor")?,
                    low_freq_factor: need(scaling.low_freq_factor, "low_freq_factor")?,
                    high_freq_factor: need(scaling.high_freq_factor, "high_freq_factor")?,
                    original_context: original as f64,
                };
                p.check()?;
                Ok(RopeScaling::Llama3(p))
            }
            "yarn" => {
                let original = scaling
                    .original_max_position_embeddings
                    .or(max_positions)
                    .ok_or_else(|| {
                        Error::Invalid(
                            "config: rope_scaling `yarn` needs `original_max_position_embeddings`"
                                .into(),
                        )
                    })? as f64;
                // transformers: without a factor, the ratio of the contexts.
                let factor = match (scaling.factor, max_positions) {
                    (Some(f), _) => f,
                    (None, Some(m)) => m as f64 / original,
                    (None, None) => need(None, "factor")?,
                };
                let attention_factor = match (
                    scaling.attention_factor,
                    scaling.mscale,
                    scaling.mscale_all_dim,
                ) {
                    (Some(a), _, _) => a,
                    (None, Some(m), Some(all)) if m != 0.0 && all != 0.0 => {
                        yarn_mscale(factor, m) / yarn_mscale(factor, all)
                    }
                    _ => yarn_mscale(factor, 1.0),
                };
                let y = Yarn {
                    factor,
                    original_context: original,
                    beta_fast: scaling.beta_fast.filter(|&b| b != 0.0).unwrap_or(32.0),
                    beta_slow: scaling.beta_slow.filter(|&b| b != 0.0).unwrap_or(1.0),
                    attention_factor,
                    ext_factor: 1.0,
                    truncate: scaling.truncate.unwrap_or(true),
                };
                y.check("config")?;
                Ok(RopeScaling::Yarn(y))
            }
            other => Err(Error::Invalid(format!(
                "config: rope_scaling `{other}` is not supported (supported: linear, llama3, yarn)"
            ))),
        }
    }

    /// The tables for RoPE with base `base` over `rot_dim` dimensions, up
    /// to `max_pos` positions.
    pub fn cache(&self, base: f32, rot_dim: usize, max_pos: usize) -> Result<RopeCache> {
        match self {
            RopeScaling::None => RopeCache::new(base, rot_dim, max_pos),
            RopeScaling::Linear(f) => {
                RopeCache::scaled(base, rot_dim, max_pos, &vec![*f; rot_dim / 2])
            }
            RopeScaling::Factors(d) => RopeCache::scaled(base, rot_dim, max_pos, d),
            RopeScaling::Llama3(p) => {
                RopeCache::scaled(base, rot_dim, max_pos, &p.factors(base, rot_dim))
            }
            RopeScaling::Yarn(y) => {
                RopeCache::scaled(base, rot_dim, max_pos, &y.factors(base, rot_dim))
            }
        }
    }

    /// What the scheme multiplies every attention score by: YaRN's
    /// magnitude on q and k, squared; 1 for the others.
    pub fn score_factor(&self) -> f32 {
        match self {
            RopeScaling::Yarn(y) => (y.attention_factor * y.attention_factor) as f32,
            _ => 1.0,
        }
    }
}

/// YaRN's magnitude for a context stretched `factor` times.
fn yarn_mscale(factor: f64, mscale: f64) -> f64 {
    if factor <= 1.0 {
        1.0
    } else {
        0.1 * mscale * factor.ln() + 1.0
    }
}

/// YaRN's parameters (transformers' `_compute_yarn_parameters`, llama.cpp's
/// `rope_yarn`).
#[derive(Debug, Clone, PartialEq)]
pub struct Yarn {
    factor: f64,
    original_context: f64,
    /// The blend runs from the dimension that turns `beta_fast` times over
    /// the original context (kept above it) to the one that turns
    /// `beta_slow` times (divided by `factor` below it).
    beta_fast: f64,
    beta_slow: f64,
    /// The magnitude on the rotated q and k.
    attention_factor: f64,
    /// How much of the kept share is kept (llama.cpp's `ext_factor`; 1).
    ext_factor: f64,
    /// Whether the blend's ends are rounded out to whole dimensions.
    truncate: bool,
}

impl Yarn {
    fn check(&self, source: impl std::fmt::Display) -> Result<()> {
        let ok = |v: f64| v > 0.0 && v.is_finite();
        if !(ok(self.factor)
            && ok(self.original_context)
            && ok(self.beta_fast)
            && ok(self.beta_slow)
            && ok(self.attention_factor)
            && (0.0..=1.0).contains(&self.ext_factor))
        {
            return Err(Error::Invalid(format!(
                "{source}: yarn RoPE scaling needs a positive factor, original context, betas and \
                 attention factor, got {self:?}"
            )));
        }
        Ok(())
    }

    /// The divisor of each frequency.
    fn factors(&self, base: f32, rot_dim: usize) -> Vec<f32> {
        let (dim, base) = (rot_dim as f64, base as f64);
        // The dimension whose frequency turns `rotations` times over the
        // original context.
        let dimension = |rotations: f64| {
            dim * (self.original_context / (rotations * 2.0 * std::f64::consts::PI)).ln()
                / (2.0 * base.ln())
        };
        let (mut low, mut high) = (dimension(self.beta_fast), dimension(self.beta_slow));
        if self.truncate {
            (low, high) = (low.floor(), high.ceil());
        }
        let (low, high) = (low.max(0.0), high.min(dim - 1.0));
        let span = if low == high { 0.001 } else { high - low };
        (0..rot_dim / 2)
            .map(|i| {
                let ramp = ((i as f64 - low) / span).clamp(0.0, 1.0);
                let kept = (1.0 - ramp) * self.ext_factor;
                (1.0 / ((1.0 - kept) / self.factor + kept)) as f32
            })
            .collect()
    }
}

fn linear(factor: f32, source: impl std::fmt::Display) -> Result<RopeScaling> {
    if !(factor > 0.0 && factor.is_finite()) {
        return Err(Error::Invalid(format!(
            "{source}: linear RoPE scaling factor must be positive, got {factor}"
        )));
    }
    Ok(RopeScaling::Linear(factor))
}

/// Llama 3.1's `rope_scaling` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Llama3 {
    factor: f64,
    low_freq_factor: f64,
    high_freq_factor: f64,
    original_context: f64,
}

impl Llama3 {
    /// The divisor of each frequency: 1 for wavelengths shorter than
    /// `original_context / high_freq_factor`, `factor` for those longer
    /// than `original_context / low_freq_factor`, and a blend between.
    fn check(&self) -> Result<()> {
        let ok = |v: f64| v > 0.0 && v.is_finite();
        if !(ok(self.factor)
            && ok(self.low_freq_factor)
            && ok(self.original_context)
            && self.high_freq_factor > self.low_freq_factor
            && self.high_freq_factor.is_finite())
        {
            return Err(Error::Invalid(format!(
                "config: llama3 rope_scaling needs positive factors with high_freq_factor > \
                 low_freq_factor, got factor {}, low {}, high {}",
                self.factor, self.low_freq_factor, self.high_freq_factor
            )));
        }
        Ok(())
    }

    fn factors(&self, base: f32, rot_dim: usize) -> Vec<f32> {
        let low_wavelength = self.original_context / self.low_freq_factor;
        let high_wavelength = self.original_context / self.high_freq_factor;
        (0..rot_dim / 2)
            .map(|i| {
                let theta = (base as f64).powf(-2.0 * i as f64 / rot_dim as f64);
                let wavelength = 2.0 * std::f64::consts::PI / theta;
                let divisor = if wavelength < high_wavelength {
                    1.0
                } else if wavelength > low_wavelength {
                    self.factor
                } else {
                    let smooth = (self.original_context / wavelength - self.low_freq_factor)
                        / (self.high_freq_factor - self.low_freq_factor);
                    1.0 / ((1.0 - smooth) / self.factor + smooth)
                };
                divisor as f32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_factors_keep_fast_frequencies_and_divide_slow_ones() {
        // Llama 3.1 8B's published parameters.
        let p = Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_context: 8192.0,
        };
        let d = p.factors(500_000.0, 128);
        assert_eq!(d.len(), 64);
        assert_eq!(d[0], 1.0);
        assert_eq!(d[63], 8.0);
        // Between the two wavelengths the divisors rise monotonically.
        assert!(d.windows(2).all(|w| w[0] <= w[1]));
        assert!(d.iter().any(|&x| x > 1.0 && x < 8.0));
    }

    #[test]
    fn bad_parameters_are_named() {
        let p = Llama3 {
            factor: 8.0,
            low_freq_factor: 4.0,
            high_freq_factor: 1.0,
            original_context: 8192.0,
        };
        let e = p.check().unwrap_err().to_string();
        assert!(e.contains("high_freq_factor"), "{e}");
    }
}
