//! The generation loop as a state machine driven one forward pass at a
//! time.
//!
//! [`generate`](super::generate) drives it in a plain loop. The browser
//! drives it from its event loop instead, one token per call, so that a
//! stop message can arrive between two tokens and the page stays live.
//!
//! Each turn of the machine is: feed [`Generator::to_feed`] to the model,
//! reading back what [`Generator::need`] asks for, and hand the result to
//! [`Generator::accept`], which samples a token, streams its text and
//! decides what to feed next — or that generation is over.

use super::reasoning::{ReasoningEvent, ReasoningSplitter, ThinkTags, ThinkTokens};
use super::run::{
    Distribution, GenerateOptions, Generation, StopReason, TextKind, Timings, TokenRecord,
};
use super::sampler::Sampler;
use super::stop::StopStrings;
use crate::error::{Error, Result};
use crate::model::{Need, Next, State};
use crate::tokenizer::{Tokenizer, Utf8Stream};

/// Most candidates read back for top-k sampling (the GPU's top-k kernel
/// limit); larger k reads the whole vector.
const MAX_TOP_K: usize = 256;

pub struct Generator {
    options: GenerateOptions,
    sampler: Sampler,
    need: Need,
    /// `</think>`'s ids, fed when the thinking budget runs out.
    close_think: Vec<u32>,
    text: TextPipeline,
    /// Prompt and generated ids, for the repetition penalties.
    history: Vec<u32>,
    out: Generation,
    answer_tokens: usize,
    /// What the next forward pass feeds; empty once generation is over.
    feed: Vec<u32>,
    done: bool,
    started_ns: u64,
    /// When the prompt's forward pass came back: decoding starts there.
    decode_start_ns: Option<u64>,
}

impl Generator {
    /// A generation that first feeds `prompt` at `state`'s position.
    pub fn new(
        tokenizer: &Tokenizer,
        prompt: &[u32],
        options: &GenerateOptions,
        state: &State,
    ) -> Result<Self> {
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
        let sampler = Sampler::new(options.sampler.clone())?;
        let config = sampler.config();
        let need = if options.top_logprobs > 0 {
            // Records of the distribution need the whole vector.
            Need::Logits
        } else if config.is_plain_greedy() {
            Need::Argmax
        } else if config.samples_within_top_k() && config.top_k <= MAX_TOP_K {
            Need::TopK(config.top_k)
        } else {
            Need::Logits
        };
        let tags = ThinkTags::default();
        let close_think = ThinkTokens::find(tokenizer, &tags).close;
        let splitter = if options.starts_in_reasoning {
            ReasoningSplitter::with_tags(tags).inside_reasoning()
        } else {
            ReasoningSplitter::with_tags(tags)
        };
        Ok(Generator {
            options: options.clone(),
            sampler,
            need,
            close_think,
            text: TextPipeline {
                utf8: Utf8Stream::default(),
                stops: StopStrings::new(options.stop.iter().cloned()),
                splitter,
            },
            history: prompt.to_vec(),
            out: Generation {
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
            },
            answer_tokens: 0,
            feed: prompt.to_vec(),
            done: false,
            started_ns: crate::profile::now_ns(),
            decode_start_ns: None,
        })
    }

    /// What the next forward pass must read back.
    pub fn need(&self) -> Need {
        self.need
    }

    /// The ids the next forward pass feeds: the prompt first, then each
    /// sampled token (with `</think>` after it when the budget ran out).
    pub fn to_feed(&self) -> &[u32] {
        &self.feed
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the text now streaming is reasoning.
    pub fn in_reasoning(&self) -> bool {
        self.text.splitter.in_reasoning()
    }

    /// The generation so far.
    pub fn progress(&self) -> &Generation {
        &self.out
    }

    /// Takes the result of feeding [`to_feed`](Self::to_feed) (the state
    /// now holds those ids): samples the next token, streams its text
    /// through `on_text` and decides what to feed next.
    pub fn accept(
        &mut self,
        tokenizer: &Tokenizer,
        next: Next,
        state: &State,
        on_text: &mut dyn FnMut(&str, TextKind),
    ) -> Result<()> {
        if self.done {
            return Err(Error::Invalid("generation is already over".into()));
        }
        let now = crate::profile::now_ns();
        if self.decode_start_ns.is_none() {
            self.out.timings.prefill_ms = ms_between(self.started_ns, now);
            self.decode_start_ns = Some(now);
        }
        self.feed.clear();
        self.out.unfed = None;

        let reasoning = self.in_reasoning();
        let kind = if reasoning {
            TextKind::Reasoning
        } else {
            TextKind::Answer
        };
        let id = match next {
            Next::Chosen(id) => id,
            Next::TopK(top) => self.sampler.sample_top_k(&top)?,
            Next::Logits(mut logits) => {
                // The record reads the model's own distribution, so it is
                // taken before the sampler applies bias and penalties in place.
                let raw = (self.options.top_logprobs > 0).then(|| logits.clone());
                let id = self.sampler.sample(&mut logits, &self.history)?;
                if let Some(raw) = raw {
                    let record = record(&raw, id, self.options.top_logprobs, kind);
                    self.out.records.push(record);
                }
                id
            }
        };
        self.out.tokens.push(id);
        self.out.unfed = Some(id);
        self.history.push(id);
        if reasoning {
            self.out.reasoning_tokens += 1;
        } else {
            self.answer_tokens += 1;
        }
        if self.options.stop_ids.contains(&id) {
            self.end(StopReason::EndToken);
            return Ok(());
        }
        let (events, stopped) = self.text.push_token(tokenizer, id)?;
        self.emit(events, on_text);
        if stopped {
            self.end(StopReason::StopString);
            return Ok(());
        }
        if self.answer_tokens >= self.options.max_tokens {
            self.end(StopReason::MaxTokens);
            return Ok(());
        }
        let room = state.capacity().saturating_sub(state.position());
        if room < 1 {
            self.end(StopReason::ContextFull);
            return Ok(());
        }
        let over_budget = self.in_reasoning()
            && self
                .options
                .think_budget
                .is_some_and(|b| self.out.reasoning_tokens >= b);
        self.feed.push(id);
        if over_budget && self.close_think.len() < room {
            // Budget forcing: feed the sampled token and `</think>` together.
            for forced in self.close_think.clone() {
                self.out.tokens.push(forced);
                self.history.push(forced);
                if self.options.top_logprobs > 0 {
                    self.out.records.push(TokenRecord::forced(forced));
                }
                let (events, _) = self.text.push_token(tokenizer, forced)?;
                self.emit(events, on_text);
                self.feed.push(forced);
            }
        }
        Ok(())
    }

    /// Ends generation between two tokens (a stop request). Call it after a
    /// forward pass, before [`accept`](Self::accept): the state then holds
    /// every id generated.
    pub fn cancel(&mut self) {
        if !self.done {
            self.out.unfed = None;
            self.end(StopReason::Cancelled);
        }
    }

    /// The finished generation: held-back text is flushed through `on_text`.
    pub fn finish(mut self, on_text: &mut dyn FnMut(&str, TextKind)) -> Generation {
        if !self.done {
            self.cancel();
        }
        let stopped = self.out.stop == StopReason::StopString;
        let events = self.text.finish(stopped);
        self.emit(events, on_text);
        let now = crate::profile::now_ns();
        self.out.timings.generated_tokens = self.out.tokens.len();
        self.out.timings.decode_ms = ms_between(self.decode_start_ns.unwrap_or(now), now);
        self.out
    }

    fn end(&mut self, reason: StopReason) {
        self.out.stop = reason;
        self.done = true;
        self.feed.clear();
    }

    fn emit(&mut self, events: Vec<ReasoningEvent>, on_text: &mut dyn FnMut(&str, TextKind)) {
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
            self.out.text += piece;
            match kind {
                TextKind::Reasoning => self.out.reasoning += piece,
                TextKind::Answer => self.out.answer += piece,
            }
        }
    }
}

/// The decoder → stop strings → reasoning splitter chain for one generation.
struct TextPipeline {
    utf8: Utf8Stream,
    stops: StopStrings,
    splitter: ReasoningSplitter,
}

impl TextPipeline {
    /// Decode one token and pass its text on; returns the events and
    /// whether a stop string was completed.
    fn push_token(
        &mut self,
        tokenizer: &Tokenizer,
        id: u32,
    ) -> Result<(Vec<ReasoningEvent>, bool)> {
        let fed = self.stops.feed(&self.utf8.push_token(tokenizer, id)?);
        Ok((self.splitter.push(&fed.text), fed.stopped))
    }

    /// Flush what is held back (unless a stop string cut the text).
    fn finish(&mut self, stopped: bool) -> Vec<ReasoningEvent> {
        let mut events = Vec::new();
        if !stopped {
            let tail = self.utf8.finish();
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

fn ms_between(start_ns: u64, end_ns: u64) -> f64 {
    end_ns.saturating_sub(start_ns) as f64 * 1e-6
}
