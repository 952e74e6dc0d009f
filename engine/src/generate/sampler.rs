//! Choosing the next token from logits.
//!
//! The steps run in llama.cpp's order, so that the same settings mean the
//! same thing in both: logit bias → repetition / presence / frequency
//! penalties → top-k → top-p → min-p → temperature → draw. Temperature 0 is
//! greedy (argmax after bias and penalties). A seeded generator makes every
//! draw reproducible.

use crate::error::{Error, Result};
use crate::ops::rng::Rng;
use crate::ops::select::argmax;
use std::collections::HashMap;

/// How the next token is chosen. Its field names are the option names of
/// every face (`--top-k` on the command line, `top_k` in a script's map or
/// the browser's JSON) and `Default` gives every face's defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct SamplerConfig {
    /// 0 picks the most likely token every time.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = SamplerConfig::default().temperature))]
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0: all).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = SamplerConfig::default().top_k))]
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches `top_p` (1: all).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = SamplerConfig::default().top_p))]
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` × the most likely one (0: none).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = SamplerConfig::default().min_p))]
    pub min_p: f32,
    /// Divide positive logits (multiply negative ones) of tokens seen in the
    /// last `penalty_last_n` tokens by this (1: off).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = SamplerConfig::default().repeat_penalty))]
    pub repeat_penalty: f32,
    /// Subtract this once from the logit of every token seen (0: off).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = SamplerConfig::default().presence_penalty))]
    pub presence_penalty: f32,
    /// Subtract this × the count of each token seen (0: off).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = SamplerConfig::default().frequency_penalty))]
    pub frequency_penalty: f32,
    /// How many recent tokens the penalties look at.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = SamplerConfig::default().penalty_last_n))]
    pub penalty_last_n: usize,
    /// Added to the logits of these tokens, as `[id, bias]` pairs (−inf bans
    /// a token; on the command line `--logit-bias 13=-inf`, repeatable).
    #[cfg_attr(feature = "cli", arg(long, value_name = "ID=BIAS", value_parser = parse_bias))]
    pub logit_bias: Vec<(u32, f32)>,
    /// Seeds the draws: the same seed gives the same tokens.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = SamplerConfig::default().seed))]
    pub seed: u64,
}

/// `ID=BIAS` (`13=-2.5`, `13=-inf`), as `--logit-bias` takes it.
pub fn parse_bias(s: &str) -> std::result::Result<(u32, f32), String> {
    let (id, bias) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected ID=BIAS, e.g. 13=-2.5 or 13=-inf"))?;
    let id = id
        .trim()
        .parse()
        .map_err(|e| format!("`{s}`: token id: {e}"))?;
    let bias: f32 = bias
        .trim()
        .parse()
        .map_err(|e| format!("`{s}`: bias: {e}"))?;
    if bias.is_nan() {
        return Err(format!("`{s}`: the bias is not a number"));
    }
    Ok((id, bias))
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_last_n: 64,
            logit_bias: Vec::new(),
            seed: 0,
        }
    }
}

impl SamplerConfig {
    pub fn greedy() -> Self {
        SamplerConfig {
            temperature: 0.0,
            ..SamplerConfig::default()
        }
    }

    /// Greedy with nothing that moves logits (no bias, no penalties): the
    /// choice is the model's argmax, whatever the history.
    pub fn is_plain_greedy(&self) -> bool {
        self.temperature == 0.0 && self.is_history_free()
    }

    /// Nothing moves logits by the history or by id.
    fn is_history_free(&self) -> bool {
        self.logit_bias.is_empty()
            && self.repeat_penalty == 1.0
            && self.presence_penalty == 0.0
            && self.frequency_penalty == 0.0
    }

    /// Sampling that looks only at the `top_k` largest logits: top-k on,
    /// no bias or penalties (which move logits by history).
    pub fn samples_within_top_k(&self) -> bool {
        self.top_k > 0 && self.is_history_free()
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::Invalid(format!("sampler: {what}")));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad(&format!(
                "temperature must be ≥ 0, got {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(&format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad(&format!("min_p must be in [0, 1], got {}", self.min_p));
        }
        if self.repeat_penalty.is_nan() || self.repeat_penalty <= 0.0 {
            return bad(&format!(
                "repeat_penalty must be > 0, got {}",
                self.repeat_penalty
            ));
        }
        Ok(())
    }
}

/// A token that survived filtering, with its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub id: u32,
    pub logit: f32,
    pub prob: f32,
}

pub struct Sampler {
    config: SamplerConfig,
    rng: Rng,
}

impl Sampler {
    pub fn new(config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Sampler {
            rng: Rng::new(config.seed),
            config,
        })
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Pick the next token. `logits` is modified in place (bias, penalties);
    /// `history` holds the tokens so far (prompt and generated).
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::Invalid("sampler: empty logits".into()));
        }
        self.adjust(logits, history);
        if self.config.temperature == 0.0 {
            return Ok(argmax(logits));
        }
        let candidates = self.candidates(logits);
        let r = self.rng.next_f64() as f32;
        let mut acc = 0.0;
        for c in &candidates {
            acc += c.prob;
            if r < acc {
                return Ok(c.id);
            }
        }
        // Rounding left the sum a hair under 1.
        Ok(candidates.last().map_or(argmax(logits), |c| c.id))
    }

    /// [`Sampler::sample`] from only the `k = top_k` largest logits (as
    /// `Model::forward_top_k` gives them): the same choice and the same
    /// random draws as from the whole vector, for samplers whose choice
    /// depends on nothing else (see [`SamplerConfig::samples_within_top_k`]).
    pub fn sample_top_k(&mut self, top: &[(u32, f32)]) -> Result<u32> {
        // In id order, so that ties break by id as they do in the full vector.
        let mut by_id = top.to_vec();
        by_id.sort_unstable_by_key(|&(id, _)| id);
        let mut logits: Vec<f32> = by_id.iter().map(|&(_, l)| l).collect();
        let at = self.sample(&mut logits, &[])?;
        Ok(by_id[at as usize].0)
    }

    /// Apply logit bias and penalties.
    pub fn adjust(&self, logits: &mut [f32], history: &[u32]) {
        let c = &self.config;
        for &(id, bias) in &c.logit_bias {
            if let Some(l) = logits.get_mut(id as usize) {
                *l += bias;
            }
        }
        let penalised =
            c.repeat_penalty != 1.0 || c.presence_penalty != 0.0 || c.frequency_penalty != 0.0;
        if !penalised {
            return;
        }
        let recent = &history[history.len().saturating_sub(c.penalty_last_n)..];
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for &id in recent {
            *counts.entry(id).or_default() += 1;
        }
        for (&id, &count) in &counts {
            let Some(l) = logits.get_mut(id as usize) else {
                continue;
            };
            if *l > 0.0 {
                *l /= c.repeat_penalty;
            } else {
                *l *= c.repeat_penalty;
            }
            *l -= c.presence_penalty + c.frequency_penalty * count as f32;
        }
    }

    /// The tokens that top-k, top-p and min-p keep, most likely first, with
    /// probabilities at the configured temperature that sum to 1.
    pub fn candidates(&self, logits: &[f32]) -> Vec<Candidate> {
        let c = &self.config;
        let mut ids: Vec<u32> = (0..logits.len() as u32)
            .filter(|&i| logits[i as usize] > f32::NEG_INFINITY)
            .collect();
        if ids.is_empty() {
            // Everything was banned: fall back to the raw argmax.
            ids.push(argmax(logits));
        }
        let by_logit = |a: &u32, b: &u32| {
            logits[*b as usize]
                .total_cmp(&logits[*a as usize])
                .then(a.cmp(b))
        };
        if c.top_k > 0 && c.top_k < ids.len() {
            ids.select_nth_unstable_by(c.top_k - 1, by_logit);
            ids.truncate(c.top_k);
        }
        ids.sort_unstable_by(by_logit);

        // Top-p and min-p judge the distribution before temperature.
        let probs = softmax_of(logits, &ids, 1.0);
        let mut keep = ids.len();
        if c.top_p < 1.0 {
            let mut acc = 0.0;
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if acc >= c.top_p {
                    keep = i + 1;
                    break;
                }
            }
        }
        if c.min_p > 0.0 {
            let floor = probs[0] * c.min_p;
            keep = keep.min(probs.iter().take_while(|&&p| p >= floor).count().max(1));
        }
        ids.truncate(keep);

        let temperature = if c.temperature > 0.0 {
            c.temperature
        } else {
            1.0
        };
        let probs = softmax_of(logits, &ids, temperature);
        ids.iter()
            .zip(probs)
            .map(|(&id, prob)| Candidate {
                id,
                logit: logits[id as usize],
                prob,
            })
            .collect()
    }
}

/// Softmax over the logits of `ids` at `temperature`, in f64 for accuracy.
fn softmax_of(logits: &[f32], ids: &[u32], temperature: f32) -> Vec<f32> {
    let max = ids
        .iter()
        .map(|&i| logits[i as usize])
        .fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = ids
        .iter()
        .map(|&i| (((logits[i as usize] - max) / temperature) as f64).exp())
        .collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / sum) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_from_the_top_k_equals_sampling_from_every_logit() {
        let mut rng = crate::generate::Rng::new(5);
        // Rounded logits, so that ties occur inside and at the edge of the top k.
        let logits: Vec<f32> = (0..500)
            .map(|_| (rng.normal() * 4.0).round() as f32 / 2.0)
            .collect();
        for (temperature, top_k, top_p, min_p) in [
            (0.8, 40, 0.95, 0.05),
            (1.3, 7, 1.0, 0.0),
            (0.0, 5, 0.9, 0.1),
        ] {
            let config = SamplerConfig {
                temperature,
                top_k,
                top_p,
                min_p,
                seed: 11,
                ..SamplerConfig::default()
            };
            assert!(config.samples_within_top_k());
            let mut full = Sampler::new(config.clone()).unwrap();
            let mut sparse = Sampler::new(config).unwrap();
            let top = crate::ops::select::top_k(&logits, top_k);
            for _ in 0..200 {
                let a = full.sample(&mut logits.clone(), &[]).unwrap();
                let b = sparse.sample_top_k(&top).unwrap();
                assert_eq!(a, b);
            }
        }
    }
}
