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
//!   the parameters it is computed from (`llama3_factors`).

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
            other => Err(Error::Invalid(format!(
                "{}: RoPE scaling `{other}` is not supported (supported: linear, Llama 3's rope_freqs)",
                meta.source()
            ))),
        }
    }

    /// From a Hugging Face config's `rope_scaling`.
    pub fn from_hf(scaling: &HfRopeScaling) -> Result<Self> {
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
            other => Err(Error::Invalid(format!(
                "config: rope_scaling `{other}` is not supported (supported: linear, llama3)"
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
        }
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
