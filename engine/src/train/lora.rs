//! LoRA: low-rank adapters beside frozen weights.
//!
//! A projection `y = x · Wᵀ` becomes `y = x · Wᵀ + s · dropout(x) · Aᵀ · Bᵀ`
//! with `A` `[r, in]`, `B` `[out, r]` and `s = alpha / r` (√r for rsLoRA is
//! not offered). `A` starts uniform in ±1/√in (PyTorch's Kaiming init with
//! a = √5, as `peft` does) and `B` at zero, so training starts from the
//! model itself. Only `A` and `B` train; `W` stays as loaded, quantized or
//! not.

use crate::error::{Error, Result};
use crate::model::ADAPTABLE;
use serde::{Deserialize, Serialize};

/// Which projections get adapters, and their shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f32,
    /// Dropout on the adapter's input while training.
    pub dropout: f32,
    /// `peft`'s module names: `q_proj`, `k_proj`, `v_proj`, `o_proj`,
    /// `gate_proj`, `up_proj`, `down_proj`.
    pub targets: Vec<String>,
    /// Seeds the initial `A` matrices.
    pub seed: u64,
}

impl Default for LoraConfig {
    /// Rank 16, alpha 32, every projection of every block (what `peft`
    /// calls "all-linear" for these models, the head excepted).
    fn default() -> Self {
        LoraConfig {
            rank: 16,
            alpha: 32.0,
            dropout: 0.0,
            targets: ADAPTABLE.iter().map(|(_, name)| name.to_string()).collect(),
            seed: 1337,
        }
    }
}

impl LoraConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(Error::Invalid(format!("LoRA: {why}")));
        if self.rank == 0 {
            return bad("the rank must be at least 1".into());
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return bad(format!("alpha must be positive, not {}", self.alpha));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), not {}", self.dropout));
        }
        if self.targets.is_empty() {
            return bad("no target modules".into());
        }
        for t in &self.targets {
            if !ADAPTABLE.iter().any(|(_, name)| name == t) {
                let known: Vec<&str> = ADAPTABLE.iter().map(|(_, n)| *n).collect();
                return bad(format!(
                    "unknown target module `{t}` (known: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The factor on the adapter's output.
    pub fn scale(&self) -> f32 {
        self.alpha / self.rank as f32
    }
}

/// One projection's adapter on the tape.
#[derive(Debug, Clone)]
pub struct AdapterInfo {
    /// `peft`'s path of the module (`model.layers.3.self_attn.q_proj`).
    pub module: String,
    /// The adapted weight's name in the model file.
    pub weight: String,
    /// The parameters' indices in the graph.
    pub a: usize,
    pub b: usize,
}
