//! A conversation through the model's chat template, into token ids with
//! the assistant's tokens marked.
//!
//! Which characters are the assistant's: the template renders the
//! conversation up to each assistant turn with the turn opened
//! (`add_generation_prompt`), then through the end of that turn. The
//! second text extends the first; what it adds is the turn's content and
//! its closing (the end-of-turn token, which the model must learn to say).
//! Where a template rewrites earlier turns (Qwen3 drops the reasoning of
//! turns before the last question), the texts do not extend each other,
//! and only the last assistant turn is scored.
//!
//! The whole conversation is then tokenized at once, as a chat prompt is
//! at inference, and each token is scored if it starts inside an
//! assistant span. Token offsets come from decoding: a tokenizer whose
//! decoding does not give back the text exactly (a normalizer at work)
//! tokenizes span by span instead.

use crate::error::{Error, Result};
use crate::generate::chat_template::{ChatTemplate, RenderOptions};
use crate::generate::Message;
use crate::tokenizer::Tokenizer;
use std::ops::Range;

/// One conversation as tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    /// Whether each token is the assistant's (its prediction is scored).
    pub scored: Vec<bool>,
}

/// What turns a conversation into tokens: the model's template, the
/// variables it is rendered with, and the tokenizer.
pub struct ChatEncoder<'a> {
    pub tokenizer: &'a Tokenizer,
    pub template: &'a ChatTemplate,
    pub options: &'a RenderOptions,
    /// Whether sequences start with BOS (when the template does not write
    /// it itself).
    pub add_bos: bool,
}

impl ChatEncoder<'_> {
    pub fn encode(&self, messages: &[Message]) -> Result<Encoded> {
        let (text, spans) = self.assistant_spans(messages)?;
        let mut ids = self.tokenizer.encode(&text, true, false);
        let bos = self.tokenizer.bos_id().filter(|_| self.add_bos);
        let added_bos = bos.is_some_and(|b| ids.first() != Some(&b));
        let scored = match self.token_starts(&ids, &text) {
            Some(starts) => starts
                .iter()
                .map(|s| spans.iter().any(|span| span.contains(s)))
                .collect(),
            None => {
                let by_span = self.encode_by_span(&text, &spans);
                ids = by_span.ids;
                by_span.scored
            }
        };
        let mut encoded = Encoded { ids, scored };
        if let (Some(b), true) = (bos, added_bos) {
            encoded.ids.insert(0, b);
            encoded.scored.insert(0, false);
        }
        if !encoded.scored.contains(&true) {
            return Err(Error::Invalid(
                "the assistant's turns came out as no tokens".into(),
            ));
        }
        Ok(encoded)
    }

    /// The rendered conversation and the byte ranges of its assistant
    /// turns.
    fn assistant_spans(&self, messages: &[Message]) -> Result<(String, Vec<Range<usize>>)> {
        let render =
            |upto: usize, open: bool| self.template.render(&messages[..upto], open, self.options);
        let full = render(messages.len(), false)?;
        let turns: Vec<usize> = (0..messages.len())
            .filter(|&i| messages[i].role == "assistant")
            .collect();
        let mut spans = Vec::new();
        let mut nested = true;
        for &i in &turns {
            let (before, through) = (render(i, true)?, render(i + 1, false)?);
            if !through.starts_with(&before) || !full.starts_with(&through) {
                nested = false;
                break;
            }
            spans.push(before.len()..through.len());
        }
        if !nested {
            // Score the last turn only: its prompt as the template renders it.
            let last = *turns
                .last()
                .ok_or_else(|| Error::Invalid("no assistant message to learn from".into()))?;
            let before = render(last, true)?;
            if !full.starts_with(&before) {
                return Err(Error::Invalid(format!(
                    "the chat template renders the conversation before assistant turn {} differently from the whole conversation: cannot tell which tokens are the assistant's",
                    last + 1
                )));
            }
            let end = match last + 1 == messages.len() {
                true => full.len(),
                false => render(last + 1, false)?.len(),
            };
            spans = std::iter::once(before.len()..end).collect();
        }
        Ok((full, spans))
    }

    /// The byte each token starts at, if decoding gives `text` back.
    fn token_starts(&self, ids: &[u32], text: &str) -> Option<Vec<usize>> {
        let mut starts = Vec::with_capacity(ids.len());
        let mut at = 0;
        for (i, &id) in ids.iter().enumerate() {
            starts.push(at);
            at += self.tokenizer.token_len_at(i, id).ok()?;
        }
        let decoded = self.tokenizer.decode_bytes(ids).ok()?;
        (decoded == text.as_bytes()).then_some(starts)
    }

    /// Tokenizes the text piece by piece, each piece scored or not.
    fn encode_by_span(&self, text: &str, spans: &[Range<usize>]) -> Encoded {
        let mut cuts = vec![0];
        for s in spans {
            cuts.extend([s.start, s.end]);
        }
        cuts.push(text.len());
        let mut out = Encoded {
            ids: Vec::new(),
            scored: Vec::new(),
        };
        for piece in cuts.windows(2).filter(|w| w[0] < w[1]) {
            let ids = self
                .tokenizer
                .encode(&text[piece[0]..piece[1]], true, false);
            let scored = spans.iter().any(|s| s.start == piece[0]);
            out.scored.extend(std::iter::repeat_n(scored, ids.len()));
            out.ids.extend(ids);
        }
        out
    }
}
