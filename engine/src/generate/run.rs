//! The generation loop: prefill the prompt, then sample, stream and stop.
//!
//! Each sampled token's text passes three filters in order: the tokenizer's
//! streaming decoder (never half a UTF-8 character), the stop strings (never
//! a stop string shown), and the reasoning splitter (`<think> … </think>`
//! becomes reasoning, the rest answer). A thinking budget caps the reasoning
//! tokens: when it runs out the loop feeds `</think>` itself and the answer
//! follows (budget forcing).
//!
//! The loop itself is [`Generator`], a state machine that this function
//! drives one forward pass at a time.
//!
//! The caller keeps the model's [`State`], so a chat session continues where
//! the last turn ended and only prefills the new turn's tokens.

use super::generator::Generator;
use super::sampler::{Candidate, SamplerConfig};
use crate::error::Result;
use crate::model::{Model, State};
use crate::tokenizer::Tokenizer;
use std::sync::atomic::{AtomicBool, Ordering};

/// How a reply is generated: its length, its stops, its reasoning budget
/// and its sampling. The field names (and the sampler's, which sit beside
/// them) are the option names of every face; `Default` gives the defaults.
/// [`settings`](super::settings) fills one from a map, checking each key.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct GenerateOptions {
    /// Most answer tokens to generate (reasoning has its own budget).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GenerateOptions::default().max_tokens))]
    pub max_tokens: usize,
    #[serde(flatten)]
    #[cfg_attr(feature = "cli", command(flatten))]
    pub sampler: SamplerConfig,
    /// Generation ends when the text would contain one of these (which is
    /// not shown); repeatable on the command line; one string or a list in
    /// a map.
    #[serde(deserialize_with = "one_or_many")]
    #[cfg_attr(feature = "cli", arg(long, value_name = "TEXT"))]
    pub stop: Vec<String>,
    /// Tokens that end generation (the model's end-of-turn tokens).
    #[serde(skip)]
    #[cfg_attr(feature = "cli", arg(skip))]
    pub stop_ids: Vec<u32>,
    /// The prompt ends inside `<think>`: output is reasoning until `</think>`.
    #[serde(skip)]
    #[cfg_attr(feature = "cli", arg(skip))]
    pub starts_in_reasoning: bool,
    /// Most reasoning tokens before `</think>` is forced (none: no limit).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    pub think_budget: Option<usize>,
    /// Record each generated token's log-probability, entropy and this many
    /// top alternatives (0 records nothing).
    #[cfg_attr(feature = "cli", arg(skip))]
    pub top_logprobs: usize,
}

/// A list of strings, or one string standing for a list of one.
fn one_or_many<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    struct OneOrMany;
    impl<'de> serde::de::Visitor<'de> for OneOrMany {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or an array of strings")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Self::Value, E> {
            Ok(vec![s.to_string()])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut all = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                all.push(s);
            }
            Ok(all)
        }
    }
    d.deserialize_any(OneOrMany)
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            sampler: SamplerConfig::default(),
            stop: Vec::new(),
            stop_ids: Vec::new(),
            starts_in_reasoning: false,
            think_budget: None,
            top_logprobs: 0,
        }
    }
}

/// Which part of the reply a piece of text belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Reasoning,
    Answer,
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

/// How sure the model was of one generated token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: u32,
    /// Natural log of the token's probability under the model (before any
    /// sampling filter), or 0 for tokens the loop forced.
    pub logprob: f32,
    /// Entropy of the model's distribution at this step, in nats.
    pub entropy: f32,
    /// The most likely alternatives, with their model probabilities.
    pub top: Vec<Candidate>,
    pub kind: TextKind,
    /// Inserted by budget forcing rather than sampled.
    pub forced: bool,
}

impl TokenRecord {
    /// A token the loop inserted itself (budget forcing), not sampled.
    pub fn forced(id: u32) -> Self {
        TokenRecord {
            id,
            logprob: 0.0,
            entropy: 0.0,
            top: Vec::new(),
            kind: TextKind::Reasoning,
            forced: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Generated token ids (including a final end token, if one came).
    pub tokens: Vec<u32>,
    /// All text shown, reasoning and answer, without think tags or stop string.
    pub text: String,
    pub reasoning: String,
    pub answer: String,
    pub reasoning_tokens: usize,
    pub stop: StopReason,
    pub timings: Timings,
    /// Per-token records when `top_logprobs > 0`.
    pub records: Vec<TokenRecord>,
    /// The last sampled token, which the state has not seen yet (a chat
    /// session feeds it with the next turn). None when every token is fed.
    pub unfed: Option<u32>,
}

/// Feed `prompt` at the state's position, then generate. `on_text` receives
/// each piece of text as soon as it is safe to show, tagged reasoning or
/// answer. `cancel`, when set from another thread, ends generation between
/// two tokens; the state then holds everything fed so far.
pub fn generate(
    model: &dyn Model,
    tokenizer: &Tokenizer,
    state: &mut State,
    prompt: &[u32],
    options: &GenerateOptions,
    cancel: Option<&AtomicBool>,
    on_text: &mut dyn FnMut(&str, TextKind),
) -> Result<Generation> {
    let mut generator = Generator::new(tokenizer, prompt, options, state)?;
    while !generator.is_done() {
        let next = generator
            .need()
            .forward(model, state, generator.to_feed())?;
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            generator.cancel();
            break;
        }
        generator.accept(tokenizer, next, state, on_text)?;
    }
    Ok(generator.finish(on_text))
}

/// The softmax of one row of logits, summarised without materialising it.
#[derive(Debug, Clone, Copy)]
pub struct Distribution {
    /// log Σ exp(logit): log-probabilities are `logit - log_z`.
    log_z: f64,
}

impl Distribution {
    pub fn of(logits: &[f32]) -> Self {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
        Distribution {
            log_z: max as f64 + sum.ln(),
        }
    }

    pub fn logprob(&self, logits: &[f32], id: u32) -> f32 {
        (logits[id as usize] as f64 - self.log_z) as f32
    }

    pub fn prob(&self, logits: &[f32], id: u32) -> f32 {
        (logits[id as usize] as f64 - self.log_z).exp() as f32
    }

    /// Entropy in nats.
    pub fn entropy(&self, logits: &[f32]) -> f32 {
        let e: f64 = logits
            .iter()
            .map(|&l| {
                let lp = l as f64 - self.log_z;
                if lp.is_finite() {
                    -lp.exp() * lp
                } else {
                    0.0
                }
            })
            .sum();
        e as f32
    }

    /// The `k` most likely tokens, most likely first (ties by id).
    pub fn top(&self, logits: &[f32], k: usize) -> Vec<Candidate> {
        let mut ids: Vec<u32> = (0..logits.len() as u32).collect();
        let k = k.min(ids.len());
        if k == 0 {
            return Vec::new();
        }
        ids.select_nth_unstable_by(k - 1, |&a, &b| {
            logits[b as usize].total_cmp(&logits[a as usize])
        });
        ids.truncate(k);
        ids.sort_by(|&a, &b| {
            logits[b as usize]
                .total_cmp(&logits[a as usize])
                .then(a.cmp(&b))
        });
        ids.into_iter()
            .map(|id| Candidate {
                id,
                logit: logits[id as usize],
                prob: self.prob(logits, id),
            })
            .collect()
    }
}
