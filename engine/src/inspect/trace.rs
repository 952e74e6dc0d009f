//! Reasoning traces: a generation with, per token, how sure the model was
//! (log-probability, entropy, top alternatives) and whether the token was
//! reasoning or answer — optionally with activations cached at every step.

use super::cache::{ActivationCache, Recorder};
use crate::error::Result;
use crate::generate::{self, GenerateOptions, Generation, TextKind, TokenRecord};
use crate::model::hooks::Hooked;
use crate::model::{Model, State};
use crate::tokenizer::Tokenizer;
use std::sync::atomic::AtomicBool;

#[derive(Debug, Clone)]
pub struct Trace {
    pub prompt: Vec<u32>,
    pub generation: Generation,
    /// Activations recorded over the prompt and every generated step, when
    /// names were asked for.
    pub cache: Option<ActivationCache>,
}

/// Averages over one section (reasoning or answer) of a trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SectionStats {
    pub tokens: usize,
    pub mean_logprob: f32,
    pub mean_entropy: f32,
    /// Index (into the trace's records) of the least certain token.
    pub most_uncertain: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceSummary {
    pub reasoning: SectionStats,
    pub answer: SectionStats,
}

/// Generate from `prompt`, recording every sampled token's log-probability,
/// entropy and `top_k` alternatives, and the activations matching
/// `cache_names` at every step (none when empty).
#[allow(clippy::too_many_arguments)]
pub fn generate_traced(
    model: &dyn Model,
    tokenizer: &Tokenizer,
    state: &mut State,
    prompt: &[u32],
    options: &GenerateOptions,
    top_k: usize,
    cache_names: &[String],
    cancel: Option<&AtomicBool>,
    on_text: &mut dyn FnMut(&str, TextKind),
) -> Result<Trace> {
    let options = GenerateOptions {
        top_logprobs: top_k.max(1),
        ..options.clone()
    };
    let (generation, cache) = if cache_names.is_empty() {
        let g = generate::generate(model, tokenizer, state, prompt, &options, cancel, on_text)?;
        (g, None)
    } else {
        let mut recorder = Recorder::new(cache_names, model.info())?;
        let g = {
            let hooked = Hooked::new(model, &mut recorder);
            generate::generate(&hooked, tokenizer, state, prompt, &options, cancel, on_text)?
        };
        (g, Some(recorder.finish()?))
    };
    Ok(Trace {
        prompt: prompt.to_vec(),
        generation,
        cache,
    })
}

impl Trace {
    pub fn records(&self) -> &[TokenRecord] {
        &self.generation.records
    }

    /// Averages per section; tokens forced by a thinking budget are left
    /// out (the model did not choose them).
    pub fn summary(&self) -> TraceSummary {
        let section = |kind: TextKind| {
            let mut stats = SectionStats::default();
            let mut worst = f32::NEG_INFINITY;
            for (i, r) in self.records().iter().enumerate() {
                if r.kind != kind || r.forced {
                    continue;
                }
                stats.tokens += 1;
                stats.mean_logprob += r.logprob;
                stats.mean_entropy += r.entropy;
                if r.entropy > worst {
                    worst = r.entropy;
                    stats.most_uncertain = Some(i);
                }
            }
            if stats.tokens > 0 {
                stats.mean_logprob /= stats.tokens as f32;
                stats.mean_entropy /= stats.tokens as f32;
            }
            stats
        };
        TraceSummary {
            reasoning: section(TextKind::Reasoning),
            answer: section(TextKind::Answer),
        }
    }
}
