//! The generation loop: prefill the prompt, then sample, stream and stop.
//!
//! Each sampled token's text passes three filters in order: the tokenizer's
//! streaming decoder (never half a UTF-8 character), the stop strings (never
//! a stop string shown), and the reasoning splitter (`<think> … </think>`
//! becomes reasoning, the rest answer). A thinking budget caps the reasoning
//! tokens: when it runs out the loop feeds `</think>` itself and the answer
//! follows (budget forcing).
//!
//! The caller keeps the model's [`State`], so a chat session continues where
//! the last turn ended and only prefills the new turn's tokens.

use super::reasoning::{ReasoningEvent, ReasoningSplitter, ThinkTags, ThinkTokens};
use super::sampler::{Candidate, Sampler, SamplerConfig};
use super::stop::StopStrings;
use crate::error::{Error, Result};
use crate::model::{Logits, Model, State};
use crate::tokenizer::Tokenizer;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Most answer tokens to generate (reasoning has its own budget).
    pub max_tokens: usize,
    pub sampler: SamplerConfig,
    /// Generation ends when the text would contain one of these (which is
    /// not shown).
    pub stop_strings: Vec<String>,
    /// Tokens that end generation (the model's end-of-turn tokens).
    pub stop_ids: Vec<u32>,
    /// The prompt ends inside `<think>`: output is reasoning until `</think>`.
    pub starts_in_reasoning: bool,
    /// Most reasoning tokens before `</think>` is forced (None: no limit).
    pub think_budget: Option<usize>,
    /// Record each generated token's log-probability, entropy and this many
    /// top alternatives (0 records nothing).
    pub record_top_k: usize,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            sampler: SamplerConfig::default(),
            stop_strings: Vec::new(),
            stop_ids: Vec::new(),
            starts_in_reasoning: false,
            think_budget: None,
            record_top_k: 0,
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
    /// Per-token records when `record_top_k > 0`.
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
    let tags = ThinkTags::default();
    let think_tokens = ThinkTokens::find(tokenizer, &tags);
    let mut text = TextPipeline {
        decoder: tokenizer.stream_decoder(),
        stops: StopStrings::new(options.stop_strings.iter().cloned()),
        splitter: if options.starts_in_reasoning {
            ReasoningSplitter::with_tags(tags).inside_reasoning()
        } else {
            ReasoningSplitter::with_tags(tags)
        },
    };
    let mut history: Vec<u32> = prompt.to_vec();
    let mut out = Generation {
        tokens: Vec::new(),
        text: String::new(),
        reasoning: String::new(),
        answer: String::new(),
        reasoning_tokens: 0,
        stop: StopReason::MaxTokens,
        timings: Timings {
            prompt_tokens: prompt.len(),
            ..Timings::default()
        },
        records: Vec::new(),
        unfed: None,
    };
    let mut emit = |out: &mut Generation, events: Vec<ReasoningEvent>| {
        for event in events {
            let kind = if event.is_reasoning() {
                TextKind::Reasoning
            } else {
                TextKind::Answer
            };
            let piece = event.text();
            if piece.is_empty() {
                continue;
            }
            on_text(piece, kind);
            out.text += piece;
            match kind {
                TextKind::Reasoning => out.reasoning += piece,
                TextKind::Answer => out.answer += piece,
            }
        }
    };
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));

    // Plain greedy decoding needs only the argmax, and top-k sampling only
    // the k largest logits: a GPU model finds them without reading the
    // logits back. Records of the distribution need the whole vector.
    let config = sampler.config();
    let k = config.top_k;
    let need = if options.record_top_k > 0 {
        Need::Logits
    } else if config.is_plain_greedy() {
        Need::Argmax
    } else if config.samples_within_top_k() && k <= MAX_TOP_K {
        Need::TopK
    } else {
        Need::Logits
    };
    let step = |state: &mut State, tokens: &[u32]| -> Result<Next> {
        Ok(match need {
            Need::Argmax => Next::Chosen(model.forward_argmax(state, tokens)?),
            Need::TopK => Next::TopK(model.forward_top_k(state, tokens, k)?),
            Need::Logits => Next::Logits(model.forward(state, tokens, Logits::Last)?),
        })
    };

    let start = crate::profile::now_ns();
    let mut next = step(state, prompt)?;
    out.timings.prefill_ms = elapsed_ms(start);

    let start = crate::profile::now_ns();
    let mut answer_tokens = 0;
    loop {
        if cancelled() {
            out.stop = StopReason::Cancelled;
            break;
        }
        let reasoning = text.splitter.in_reasoning();
        let id = match &mut next {
            Next::Chosen(id) => *id,
            Next::TopK(top) => sampler.sample_top_k(top)?,
            Next::Logits(logits) => {
                // The record reads the model's own distribution, so it is
                // taken before the sampler applies bias and penalties in place.
                let raw = (options.record_top_k > 0).then(|| logits.clone());
                let id = sampler.sample(logits, &history)?;
                if let Some(raw) = raw {
                    let kind = if reasoning {
                        TextKind::Reasoning
                    } else {
                        TextKind::Answer
                    };
                    out.records
                        .push(record(&raw, id, options.record_top_k, kind));
                }
                id
            }
        };
        out.tokens.push(id);
        out.unfed = Some(id);
        history.push(id);
        if reasoning {
            out.reasoning_tokens += 1;
        } else {
            answer_tokens += 1;
        }
        if options.stop_ids.contains(&id) {
            out.stop = StopReason::EndToken;
            break;
        }
        let (events, stopped) = text.push_token(id)?;
        emit(&mut out, events);
        if stopped {
            out.stop = StopReason::StopString;
            break;
        }
        if answer_tokens >= options.max_tokens {
            break;
        }
        if state.position() + 1 > state.capacity() {
            out.stop = StopReason::ContextFull;
            break;
        }
        let over_budget = text.splitter.in_reasoning()
            && options
                .think_budget
                .is_some_and(|b| out.reasoning_tokens >= b);
        if over_budget && state.position() + 1 + think_tokens.close.len() <= state.capacity() {
            // Budget forcing: feed the sampled token and `</think>` together.
            let mut feed = vec![id];
            feed.extend(&think_tokens.close);
            next = step(state, &feed)?;
            for &forced in &think_tokens.close {
                out.tokens.push(forced);
                history.push(forced);
                if options.record_top_k > 0 {
                    out.records.push(TokenRecord {
                        id: forced,
                        logprob: 0.0,
                        entropy: 0.0,
                        top: Vec::new(),
                        kind: TextKind::Reasoning,
                        forced: true,
                    });
                }
                let (events, _) = text.push_token(forced)?;
                emit(&mut out, events);
            }
            // Everything is fed now; sampling goes on from the forced logits.
            out.unfed = None;
            continue;
        }
        next = step(state, &[id])?;
        out.unfed = None;
    }
    let stopped = out.stop == StopReason::StopString;
    emit(&mut out, text.finish(stopped));
    out.timings.generated_tokens = out.tokens.len();
    out.timings.decode_ms = elapsed_ms(start);
    Ok(out)
}

/// Most candidates read back for top-k sampling (the GPU's top-k kernel
/// limit); larger k reads the whole vector.
const MAX_TOP_K: usize = 256;

/// What the sampler needs from each forward pass.
#[derive(Clone, Copy)]
enum Need {
    Logits,
    Argmax,
    TopK,
}

/// What a forward pass leaves for choosing the next token.
enum Next {
    Logits(Vec<f32>),
    /// Greedy decoding: the backend already picked the argmax.
    Chosen(u32),
    /// The top-k candidates (id, logit), largest first.
    TopK(Vec<(u32, f32)>),
}

/// The decoder → stop strings → reasoning splitter chain for one generation.
struct TextPipeline<'t> {
    decoder: crate::tokenizer::StreamDecoder<'t>,
    stops: StopStrings,
    splitter: ReasoningSplitter,
}

impl TextPipeline<'_> {
    /// Decode one token and pass its text on; returns the events and
    /// whether a stop string was completed.
    fn push_token(&mut self, id: u32) -> Result<(Vec<ReasoningEvent>, bool)> {
        let fed = self.stops.feed(&self.decoder.push(id)?);
        Ok((self.splitter.push(&fed.text), fed.stopped))
    }

    /// Flush what is held back (unless a stop string cut the text).
    fn finish(&mut self, stopped: bool) -> Vec<ReasoningEvent> {
        let mut events = Vec::new();
        if !stopped {
            let tail = self.decoder.finish();
            let held = self.stops.feed(&tail).text + self.stops.finish().as_str();
            events.extend(self.splitter.push(&held));
        }
        events.extend(self.splitter.finish());
        events
    }
}

/// The model's view of one step (before sampling filters): the chosen
/// token's log-probability, the entropy and the top-k alternatives.
fn record(logits: &[f32], id: u32, k: usize, kind: TextKind) -> TokenRecord {
    let d = Distribution::of(logits);
    TokenRecord {
        id,
        logprob: d.logprob(logits, id),
        entropy: d.entropy(logits),
        top: d.top(logits, k.max(1)),
        kind,
        forced: false,
    }
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

fn elapsed_ms(start_ns: u64) -> f64 {
    crate::profile::now_ns().saturating_sub(start_ns) as f64 * 1e-6
}
