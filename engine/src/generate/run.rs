//! The generation loop: prefill the prompt, then sample, stream and stop.
//!
//! The loop owns nothing but its options: the caller keeps the model's
//! [`State`], so a chat session continues where the last turn ended and
//! only prefills the new turn's tokens.

use super::sampler::{Sampler, SamplerConfig};
use super::stop::StopStrings;
use crate::error::{Error, Result};
use crate::model::{Logits, Model, State};
use crate::tokenizer::Tokenizer;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Most tokens to generate.
    pub max_tokens: usize,
    pub sampler: SamplerConfig,
    /// Generation ends when the text would contain one of these (which is
    /// not shown).
    pub stop_strings: Vec<String>,
    /// Tokens that end generation (the model's end-of-turn tokens).
    pub stop_ids: Vec<u32>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            sampler: SamplerConfig::default(),
            stop_strings: Vec::new(),
            stop_ids: Vec::new(),
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An end-of-turn token.
    EndToken,
    StopString,
    MaxTokens,
    /// The state's context is full.
    ContextFull,
    Cancelled,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::EndToken => "end_token",
            StopReason::StopString => "stop_string",
            StopReason::MaxTokens => "max_tokens",
            StopReason::ContextFull => "context_full",
            StopReason::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    pub prompt_tokens: usize,
    pub prefill_ms: f64,
    pub generated_tokens: usize,
    pub decode_ms: f64,
}

impl Timings {
    pub fn prefill_tok_s(&self) -> f64 {
        per_second(self.prompt_tokens, self.prefill_ms)
    }
    pub fn decode_tok_s(&self) -> f64 {
        per_second(self.generated_tokens, self.decode_ms)
    }
}

fn per_second(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Generated token ids (including a final end token, if one came). The
    /// last of them has been sampled but not fed to the model: the state
    /// holds the prompt and all tokens but the last, so a conversation
    /// continues by feeding [`Generation::unfed`] before its next turn.
    pub tokens: Vec<u32>,
    /// The text shown, without any stop string.
    pub text: String,
    pub stop: StopReason,
    pub timings: Timings,
}

/// Feed `prompt` at the state's position, then generate. `on_text` receives
/// each piece of text as soon as it is complete UTF-8 and past any possible
/// stop string. `cancel`, when set from another thread, ends generation
/// between two tokens; the state then holds everything fed so far.
pub fn generate(
    model: &dyn Model,
    tokenizer: &Tokenizer,
    state: &mut State,
    prompt: &[u32],
    options: &GenerateOptions,
    cancel: Option<&AtomicBool>,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generation> {
    if prompt.is_empty() {
        return Err(Error::Invalid(
            "generate: the prompt is empty (give at least one token)".into(),
        ));
    }
    if state.position() + prompt.len() > state.capacity() {
        return Err(Error::Invalid(format!(
            "the prompt ({} tokens) does not fit: {} of {} positions are in use",
            prompt.len(),
            state.position(),
            state.capacity()
        )));
    }
    let mut sampler = Sampler::new(options.sampler.clone())?;
    let mut stops = StopStrings::new(options.stop_strings.iter().cloned());
    let mut decoder = tokenizer.stream_decoder();
    let mut history: Vec<u32> = prompt.to_vec();
    let mut out = Generation {
        tokens: Vec::new(),
        text: String::new(),
        stop: StopReason::MaxTokens,
        timings: Timings {
            prompt_tokens: prompt.len(),
            ..Timings::default()
        },
    };
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));

    let start = crate::profile::now_ns();
    let mut logits = model.forward(state, prompt, Logits::Last)?;
    out.timings.prefill_ms = elapsed_ms(start);

    let start = crate::profile::now_ns();
    while out.tokens.len() < options.max_tokens {
        if cancelled() {
            out.stop = StopReason::Cancelled;
            break;
        }
        let id = sampler.sample(&mut logits, &history)?;
        out.tokens.push(id);
        history.push(id);
        if options.stop_ids.contains(&id) {
            out.stop = StopReason::EndToken;
            break;
        }
        let fed = stops.feed(&decoder.push(id)?);
        on_text(&fed.text);
        out.text += &fed.text;
        if fed.stopped {
            out.stop = StopReason::StopString;
            break;
        }
        if out.tokens.len() == options.max_tokens {
            break;
        }
        if state.position() >= state.capacity() {
            out.stop = StopReason::ContextFull;
            break;
        }
        logits = model.forward(state, &[id], Logits::Last)?;
    }
    let tail = decoder.finish();
    if out.stop != StopReason::StopString {
        let rest = stops.feed(&tail).text + &stops.finish();
        on_text(&rest);
        out.text += &rest;
    }
    out.timings.generated_tokens = out.tokens.len();
    out.timings.decode_ms = elapsed_ms(start);
    Ok(out)
}

impl Generation {
    /// The sampled token the state has not seen yet.
    pub fn unfed(&self) -> Option<u32> {
        self.tokens.last().copied()
    }
}

fn elapsed_ms(start_ns: u64) -> f64 {
    crate::profile::now_ns().saturating_sub(start_ns) as f64 * 1e-6
}
