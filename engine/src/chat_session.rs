//! A conversation with a model that keeps its KV cache between turns.
//!
//! Each turn renders the whole conversation through the model's chat
//! template, tokenizes it, and compares the tokens with those the state
//! already holds: only the part after the longest common prefix is fed.
//! This keeps the cache whatever the template does — including templates
//! that drop earlier turns' reasoning from the history, where the prefix
//! simply ends at the first turn that changed.

use crate::error::{Error, Result};
use crate::generate::{GenerateOptions, Generation, Message, TextKind};
use crate::language_model::LanguageModel;
use crate::model::{Model, State};
use std::sync::atomic::AtomicBool;
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
        self.messages.push(Message::user(text));
        let result = self.reply(model, options, cancel, on_text);
        if result.is_err() {
            self.messages.pop();
        }
        result
    }

    fn reply(
        &mut self,
        model: &dyn Model,
        options: &TurnOptions,
        cancel: Option<&AtomicBool>,
        on_text: &mut dyn FnMut(&str, TextKind),
    ) -> Result<Generation> {
        let (prompt, inside) = self.lm.chat_prompt(&self.messages, options.think)?;
        let tokens = self.lm.tokenizer.encode(&prompt, true, self.lm.add_bos);
        // Reuse the cached prefix; at least one token must be fed anew.
        let mut keep = self
            .fed
            .iter()
            .zip(&tokens)
            .take_while(|(a, b)| a == b)
            .count();
        keep = keep.min(tokens.len().saturating_sub(1));
        if tokens.is_empty() {
            return Err(Error::Invalid(
                "the chat template rendered an empty prompt".into(),
            ));
        }
        self.state.truncate(keep);
        self.fed.truncate(keep);

        let mut generate = options.generate.clone();
        generate.starts_in_reasoning = inside;
        let generation = crate::generate::generate(
            model,
            &self.lm.tokenizer,
            &mut self.state,
            &tokens[keep..],
            &generate,
            cancel,
            on_text,
        );
        let generation = match generation {
            Ok(g) => g,
            Err(e) => {
                // The forward pass leaves the state as it was on error.
                self.fed.truncate(self.state.position().min(self.fed.len()));
                return Err(e);
            }
        };
        self.fed.extend_from_slice(&tokens[keep..]);
        let fed_generated = generation.tokens.len() - usize::from(generation.unfed.is_some());
        self.fed
            .extend_from_slice(&generation.tokens[..fed_generated]);
        debug_assert_eq!(self.fed.len(), self.state.position());

        let mut reply = Message::assistant(generation.answer.trim());
        if !generation.reasoning.is_empty() {
            reply = reply.with("reasoning_content", generation.reasoning.trim());
        }
        self.messages.push(reply);
        Ok(generation)
    }
}
