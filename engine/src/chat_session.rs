//! A conversation with a model that keeps its KV cache between turns.
//!
//! Each turn renders the whole conversation through the model's chat
//! template, tokenizes it, and compares the tokens with those the state
//! already holds: only the part after the longest common prefix is fed.
//! This keeps the cache whatever the template does — including templates
//! that drop earlier turns' reasoning from the history, where the prefix
//! simply ends at the first turn that changed.

use crate::error::{Error, Result};
use crate::generate::{GenerateOptions, Generation, Generator, Message, Need, Next, TextKind};
use crate::language_model::LanguageModel;
use crate::model::{Model, State};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Per-turn settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOptions {
    pub generate: GenerateOptions,
    /// Open the assistant's turn with `<think>`.
    pub think: bool,
}

pub struct ChatSession {
    lm: Arc<LanguageModel>,
    messages: Vec<Message>,
    state: State,
    /// The tokens the state holds, in order.
    fed: Vec<u32>,
}

impl ChatSession {
    /// A new conversation, with an optional system message, holding up to
    /// `capacity` positions (default: the model's context, capped).
    pub fn new(
        lm: Arc<LanguageModel>,
        system: Option<&str>,
        capacity: Option<usize>,
    ) -> Result<Self> {
        let state = lm.new_state(capacity)?;
        let messages = system.map(|s| vec![Message::system(s)]).unwrap_or_default();
        Ok(ChatSession {
            lm,
            messages,
            state,
            fed: Vec::new(),
        })
    }

    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Positions of the context in use.
    pub fn position(&self) -> usize {
        self.state.position()
    }

    /// Takes over `messages` as the conversation so far (another session's,
    /// moved to this one); the next turn feeds them from the start.
    pub fn restore(&mut self, messages: Vec<Message>) {
        self.messages = messages;
        self.state.truncate(0);
        self.fed.clear();
    }

    /// Forget the conversation but keep the system message.
    pub fn reset(&mut self) {
        self.messages.retain(|m| m.role == "system");
        self.state.truncate(0);
        self.fed.clear();
    }

    /// The user says `text`; the model answers, streaming through `on_text`.
    /// The reply (answer, with its reasoning kept aside) joins the history,
    /// also when generation was cancelled part-way.
    pub fn say(
        &mut self,
        text: &str,
        options: &TurnOptions,
        cancel: Option<&AtomicBool>,
        on_text: &mut dyn FnMut(&str, TextKind),
    ) -> Result<Generation> {
        let lm = self.lm.clone();
        self.say_through(&*lm.model, text, options, cancel, on_text)
    }

    /// [`ChatSession::say`] with the forward passes going through `model`:
    /// the session's own network wrapped in hooks (see
    /// [`crate::inspect::Hooked`]), to steer or ablate a conversation.
    pub fn say_through(
        &mut self,
        model: &dyn Model,
        text: &str,
        options: &TurnOptions,
        cancel: Option<&AtomicBool>,
        on_text: &mut dyn FnMut(&str, TextKind),
    ) -> Result<Generation> {
        let mut turn = self.begin(text, options)?;
        while !turn.is_done() {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                turn.cancel();
                break;
            }
            self.step_through(model, &mut turn, on_text)?;
        }
        Ok(self.end(turn, on_text))
    }

    /// Starts a turn that the caller drives token by token with
    /// [`step`](Self::step) and closes with [`end`](Self::end) (the
    /// browser does, to stay responsive between tokens). The user's message
    /// joins the history now; a failed step takes it back.
    pub fn begin(&mut self, text: &str, options: &TurnOptions) -> Result<Turn> {
        self.messages.push(Message::user(text));
        let generator = self.prepare(options);
        if generator.is_err() {
            self.messages.pop();
        }
        Ok(Turn {
            generator: generator?,
            failed: false,
        })
    }

    /// One forward pass of `turn` and the token it gives, streamed through
    /// `on_text`. On error the turn is over: the user's message leaves the
    /// history and the state keeps only what was fed before.
    pub fn step(&mut self, turn: &mut Turn, on_text: &mut dyn FnMut(&str, TextKind)) -> Result<()> {
        let lm = self.lm.clone();
        self.step_through(&*lm.model, turn, on_text)
    }

    /// [`ChatSession::step`] through `model` (see [`ChatSession::say_through`]).
    pub fn step_through(
        &mut self,
        model: &dyn Model,
        turn: &mut Turn,
        on_text: &mut dyn FnMut(&str, TextKind),
    ) -> Result<()> {
        let (feed, need) = turn.next_pass();
        let next = need.forward(model, &mut self.state, &feed);
        self.accept(turn, &feed, next, on_text)
    }

    /// The state, for a caller that runs [`Turn::next_pass`] itself (the
    /// browser's GPU path submits it and awaits the result).
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// Hands `turn` the result of feeding `feed` (what [`Turn::next_pass`]
    /// gave) through the model. An error ends the turn as in
    /// [`step`](Self::step).
    pub fn accept(
        &mut self,
        turn: &mut Turn,
        feed: &[u32],
        next: Result<Next>,
        on_text: &mut dyn FnMut(&str, TextKind),
    ) -> Result<()> {
        let result = next.and_then(|next| {
            // The forward pass succeeded: the state holds `feed`.
            self.fed.extend_from_slice(feed);
            turn.generator
                .accept(&self.lm.tokenizer, next, &self.state, on_text)
        });
        if result.is_err() {
            // The forward pass leaves the state as it was on error.
            self.fed.truncate(self.state.position().min(self.fed.len()));
            turn.generator.cancel();
            if !turn.failed {
                self.messages.pop();
            }
            turn.failed = true;
        }
        result
    }

    /// Closes `turn`: the reply (answer, with its reasoning kept aside)
    /// joins the history, also when it was cancelled part-way.
    pub fn end(&mut self, turn: Turn, on_text: &mut dyn FnMut(&str, TextKind)) -> Generation {
        let generation = turn.generator.finish(on_text);
        debug_assert_eq!(self.fed.len(), self.state.position());
        if turn.failed {
            // The user's message already left the history.
            return generation;
        }
        let mut reply = Message::assistant(generation.answer.trim());
        if !generation.reasoning.is_empty() {
            reply = reply.with("reasoning_content", generation.reasoning.trim());
        }
        self.messages.push(reply);
        generation
    }

    /// Renders the conversation, rewinds the state to the longest prefix
    /// it shares with the new prompt, and sets up generation for the rest.
    fn prepare(&mut self, options: &TurnOptions) -> Result<Generator> {
        let (prompt, inside) = self.lm.chat_prompt(&self.messages, options.think)?;
        let tokens = self.lm.tokenizer.encode(&prompt, true, self.lm.add_bos);
        if tokens.is_empty() {
            return Err(Error::Invalid(
                "the chat template rendered an empty prompt".into(),
            ));
        }
        // Reuse the cached prefix; at least one token must be fed anew.
        let keep = self
            .fed
            .iter()
            .zip(&tokens)
            .take_while(|(a, b)| a == b)
            .count()
            .min(tokens.len() - 1);
        self.state.truncate(keep);
        // (A sliding-window model may have had to go back further.)
        let keep = self.state.position();
        self.fed.truncate(keep);
        let mut generate = options.generate.clone();
        generate.starts_in_reasoning = inside;
        Generator::new(&self.lm.tokenizer, &tokens[keep..], &generate, &self.state)
    }
}

/// A reply in progress (see [`ChatSession::begin`]).
pub struct Turn {
    generator: Generator,
    /// A step failed: the turn left the history.
    failed: bool,
}

impl Turn {
    pub fn is_done(&self) -> bool {
        self.generator.is_done()
    }

    /// Whether the text now streaming is reasoning.
    pub fn in_reasoning(&self) -> bool {
        self.generator.in_reasoning()
    }

    /// The reply so far.
    pub fn progress(&self) -> &Generation {
        self.generator.progress()
    }

    /// Ends the reply after the token already streamed.
    pub fn cancel(&mut self) {
        self.generator.cancel();
    }

    /// The ids the next forward pass feeds and what it must read back.
    pub fn next_pass(&self) -> (Vec<u32>, Need) {
        (self.generator.to_feed().to_vec(), self.generator.need())
    }
}
