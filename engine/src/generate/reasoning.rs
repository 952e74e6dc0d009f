//! Reasoning traces: splitting a model's output into its reasoning
//! (`<think> … </think>`) and its answer, as the text streams in.
//!
//! [`ReasoningSplitter`] is a small state machine fed decoded text pieces in
//! any cut (a tag may arrive as `<th` + `ink>`); it returns
//! [`ReasoningEvent`]s with the tags removed and holds back only the bytes
//! that could still begin a tag. Rules:
//!
//! - In the answer, an open tag starts reasoning; in reasoning, a close tag
//!   ends it. Reasoning may start again later (a second `<think>`).
//! - Tags do not nest: an open tag inside reasoning is reasoning text, and a
//!   close tag inside the answer is answer text.
//! - Text is passed on as it is: the whitespace models write around tags
//!   (`</think>\n\n`) stays in the events.
//! - A model whose template opened `<think>` in the prompt writes only
//!   `</think>`: start the splitter [inside reasoning](ReasoningSplitter::inside_reasoning).
//!
//! [`ThinkTokens`] finds the token ids that spell the tags, so that a
//! generation loop can force `</think>` when a reasoning budget runs out, and
//! [`strip_reasoning`] removes earlier turns' reasoning from a conversation
//! for templates that do not do it themselves.

use crate::tokenizer::Tokenizer;

use super::chat::Message;

/// The strings that open and close reasoning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThinkTags {
    pub open: String,
    pub close: String,
}

impl Default for ThinkTags {
    /// `<think>` and `</think>` (Qwen 3, DeepSeek-R1, SmolLM3, …).
    fn default() -> Self {
        ThinkTags::new("<think>", "</think>")
    }
}

impl ThinkTags {
    pub fn new(open: impl Into<String>, close: impl Into<String>) -> Self {
        ThinkTags {
            open: open.into(),
            close: close.into(),
        }
    }
}

/// A piece of output, tags removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReasoningEvent {
    Reasoning(String),
    Answer(String),
}

impl ReasoningEvent {
    pub fn text(&self) -> &str {
        match self {
            ReasoningEvent::Reasoning(s) | ReasoningEvent::Answer(s) => s,
        }
    }

    pub fn is_reasoning(&self) -> bool {
        matches!(self, ReasoningEvent::Reasoning(_))
    }
}

/// Splits streamed text into reasoning and answer; see the module docs.
#[derive(Clone, Debug)]
pub struct ReasoningSplitter {
    tags: ThinkTags,
    in_reasoning: bool,
    /// Text held back because it may be the start of the tag looked for.
    pending: String,
}

impl Default for ReasoningSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl ReasoningSplitter {
    /// Starts in the answer, with `<think>` / `</think>`.
    pub fn new() -> Self {
        Self::with_tags(ThinkTags::default())
    }

    /// Starts in the answer, with other tags. Empty tags are never matched.
    pub fn with_tags(tags: ThinkTags) -> Self {
        ReasoningSplitter {
            tags,
            in_reasoning: false,
            pending: String::new(),
        }
    }

    /// Starts inside reasoning, for output whose `<think>` the prompt wrote.
    pub fn inside_reasoning(mut self) -> Self {
        self.in_reasoning = true;
        self
    }

    /// Whether the text being read now is reasoning.
    pub fn in_reasoning(&self) -> bool {
        self.in_reasoning
    }

    pub fn tags(&self) -> &ThinkTags {
        &self.tags
    }

    /// Feeds the next piece of text; returns what is now known, with
    /// neighbouring pieces of the same kind merged.
    pub fn push(&mut self, piece: &str) -> Vec<ReasoningEvent> {
        let mut events = Vec::new();
        self.pending.push_str(piece);
        let mut start = 0;
        loop {
            let tag = if self.in_reasoning {
                &self.tags.close
            } else {
                &self.tags.open
            };
            let rest = &self.pending[start..];
            if !tag.is_empty() {
                if let Some(at) = rest.find(tag.as_str()) {
                    let text = &rest[..at];
                    let tag_len = tag.len();
                    emit(&mut events, self.in_reasoning, text);
                    start += at + tag_len;
                    self.in_reasoning = !self.in_reasoning;
                    continue;
                }
            }
            // No whole tag: keep back the longest end of `rest` that begins it.
            let keep = partial_tag_len(rest, tag);
            let text = &rest[..rest.len() - keep];
            emit(&mut events, self.in_reasoning, text);
            start += text.len();
            break;
        }
        self.pending.drain(..start);
        events
    }

    /// Ends the stream: text held back as a possible tag start is emitted
    /// as text of the current kind.
    pub fn finish(&mut self) -> Vec<ReasoningEvent> {
        let mut events = Vec::new();
        let text = std::mem::take(&mut self.pending);
        emit(&mut events, self.in_reasoning, &text);
        events
    }

    /// Splits a whole text at once: (reasoning, answer), each the
    /// concatenation of its pieces.
    pub fn split_all(mut self, text: &str) -> (String, String) {
        let mut reasoning = String::new();
        let mut answer = String::new();
        let mut events = self.push(text);
        events.extend(self.finish());
        for e in events {
            match e {
                ReasoningEvent::Reasoning(s) => reasoning.push_str(&s),
                ReasoningEvent::Answer(s) => answer.push_str(&s),
            }
        }
        (reasoning, answer)
    }
}

fn emit(events: &mut Vec<ReasoningEvent>, reasoning: bool, text: &str) {
    if text.is_empty() {
        return;
    }
    match (events.last_mut(), reasoning) {
        (Some(ReasoningEvent::Reasoning(s)), true) | (Some(ReasoningEvent::Answer(s)), false) => {
            s.push_str(text)
        }
        _ => events.push(if reasoning {
            ReasoningEvent::Reasoning(text.to_string())
        } else {
            ReasoningEvent::Answer(text.to_string())
        }),
    }
}

/// The length of the longest proper suffix of `text` that is a prefix of
/// `tag` (the bytes that may yet become the tag).
fn partial_tag_len(text: &str, tag: &str) -> usize {
    let longest = text.len().min(tag.len().saturating_sub(1));
    (1..=longest)
        .rev()
        .find(|&n| {
            let at = text.len() - n;
            text.is_char_boundary(at) && tag.starts_with(&text[at..])
        })
        .unwrap_or(0)
}

/// The token ids that spell the reasoning tags in one model's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThinkTokens {
    /// `<think>`: one id where the vocabulary has the tag as a token of its
    /// own, else the ids the tokenizer encodes the text to.
    pub open: Vec<u32>,
    /// `</think>`, likewise: what to insert to end reasoning.
    pub close: Vec<u32>,
}

impl ThinkTokens {
    /// The ids for `tags`. Added tokens (special or not) are matched first,
    /// so a vocabulary with a `<think>` token gives that single id.
    pub fn find(tokenizer: &Tokenizer, tags: &ThinkTags) -> Self {
        let ids = |text: &str| match tokenizer.token_to_id(text) {
            Some(id) if tokenizer.token_bytes(id) == Some(text.as_bytes()) => vec![id],
            _ => tokenizer.encode(text, true, false),
        };
        ThinkTokens {
            open: ids(&tags.open),
            close: ids(&tags.close),
        }
    }

    /// Whether each tag is a single token (then a generation loop can spot
    /// it by id; otherwise watch the decoded text).
    pub fn single_tokens(&self) -> bool {
        self.open.len() == 1 && self.close.len() == 1
    }
}

/// `content` without its reasoning: every `<think> … </think>` block goes,
/// as does text before a close tag that has no open tag (reasoning whose
/// `<think>` was in the prompt) and an unclosed block at the end; the
/// whitespace after a removed block goes too.
pub fn strip_reasoning(content: &str) -> String {
    strip_reasoning_with(content, &ThinkTags::default())
}

/// [`strip_reasoning`] with other tags.
pub fn strip_reasoning_with(content: &str, tags: &ThinkTags) -> String {
    if tags.open.is_empty() || tags.close.is_empty() {
        return content.to_string();
    }
    let mut rest = content;
    // A close tag before any open tag: everything up to it was reasoning.
    if let Some(close) = rest.find(tags.close.as_str()) {
        if rest
            .find(tags.open.as_str())
            .is_none_or(|open| close < open)
        {
            rest = rest[close + tags.close.len()..].trim_start();
        }
    }
    let mut out = String::with_capacity(rest.len());
    while let Some(open) = rest.find(tags.open.as_str()) {
        out.push_str(&rest[..open]);
        let after = &rest[open + tags.open.len()..];
        match after.find(tags.close.as_str()) {
            Some(close) => rest = after[close + tags.close.len()..].trim_start(),
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A conversation with reasoning removed from the assistant turns: their
/// content passed through [`strip_reasoning`] and their `reasoning_content`
/// (or `reasoning`, `thinking`) fields dropped.
pub fn strip_reasoning_from_history(messages: &[Message]) -> Vec<Message> {
    messages
        .iter()
        .map(|m| {
            if m.role != "assistant" {
                return m.clone();
            }
            let mut m = m.clone();
            m.content = strip_reasoning(&m.content);
            for field in ["reasoning_content", "reasoning", "thinking"] {
                m.extra.remove(field);
            }
            m
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReasoningEvent::{Answer, Reasoning};

    /// Feeds `pieces`; returns all events (merged by kind) and also checks
    /// that held-back text is never more than a tag's length.
    fn feed(mut s: ReasoningSplitter, pieces: &[&str]) -> Vec<ReasoningEvent> {
        let mut all = Vec::new();
        for p in pieces {
            for e in s.push(p) {
                emit(&mut all, e.is_reasoning(), e.text());
            }
            let longest = s.tags.open.len().max(s.tags.close.len());
            assert!(
                s.pending.is_empty() || s.pending.len() < longest,
                "{:?}",
                s.pending
            );
        }
        for e in s.finish() {
            emit(&mut all, e.is_reasoning(), e.text());
        }
        all
    }

    fn r(s: &str) -> ReasoningEvent {
        Reasoning(s.into())
    }

    fn a(s: &str) -> ReasoningEvent {
        Answer(s.into())
    }

    /// Every split of `text` into two and three pieces, and one character at
    /// a time, gives `want`.
    fn check_all_splits(make: impl Fn() -> ReasoningSplitter, text: &str, want: &[ReasoningEvent]) {
        assert_eq!(feed(make(), &[text]), want, "whole {text:?}");
        let cuts: Vec<usize> = (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        for &i in &cuts {
            assert_eq!(
                feed(make(), &[&text[..i], &text[i..]]),
                want,
                "{text:?} cut at {i}"
            );
            for &j in cuts.iter().filter(|&&j| j >= i) {
                let pieces = [&text[..i], &text[i..j], &text[j..]];
                assert_eq!(feed(make(), &pieces), want, "{text:?} cut at {i}, {j}");
            }
        }
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let chars: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(feed(make(), &chars), want, "{text:?} by characters");
    }

    #[test]
    fn splits_at_every_boundary() {
        let cases: Vec<(&str, Vec<ReasoningEvent>)> = vec![
            (
                "<think>\nLet me see.\n</think>\n\nParis.",
                vec![r("\nLet me see.\n"), a("\n\nParis.")],
            ),
            ("Hello, world!", vec![a("Hello, world!")]),
            ("<think>never closed", vec![r("never closed")]),
            (
                "before<think>mid</think>after",
                vec![a("before"), r("mid"), a("after")],
            ),
            // Near misses stay text.
            (
                "<thinker> < think> <think",
                vec![a("<thinker> < think> <think")],
            ),
            ("a <b> c</thin", vec![a("a <b> c</thin")]),
            // Repeated blocks: reasoning again after an answer.
            (
                "<think>1</think>A<think>2</think>B",
                vec![r("1"), a("A"), r("2"), a("B")],
            ),
            // Not nested: an inner open tag is reasoning text, and the
            // second close tag is answer text.
            (
                "<think>x<think>y</think>z</think>w",
                vec![r("x<think>y"), a("z</think>w")],
            ),
            // A stray close tag in the answer is text.
            ("no</think>think", vec![a("no</think>think")]),
            // Tags back to back, empty reasoning.
            ("<think></think>ok", vec![a("ok")]),
            // Non-ASCII around and inside.
            ("é<think>日本</think>🦀", vec![a("é"), r("日本"), a("🦀")]),
            ("<<think><</think><", vec![a("<"), r("<"), a("<")]),
        ];
        for (text, want) in &cases {
            check_all_splits(ReasoningSplitter::new, text, want);
        }
    }

    #[test]
    fn starting_inside_reasoning() {
        let inside = || ReasoningSplitter::new().inside_reasoning();
        check_all_splits(
            inside,
            "First, recall.\n</think>\n\nRome.",
            &[r("First, recall.\n"), a("\n\nRome.")],
        );
        check_all_splits(inside, "all thought", &[r("all thought")]);
        check_all_splits(inside, "</think>", &[]);
        check_all_splits(inside, "x</think>y<think>z", &[r("x"), a("y"), r("z")]);
        assert!(inside().in_reasoning());
    }

    #[test]
    fn other_tags() {
        let make = || ReasoningSplitter::with_tags(ThinkTags::new("[THINK]", "[/THINK]"));
        check_all_splits(make, "[THINK]ab[/THINK]cd", &[r("ab"), a("cd")]);
        check_all_splits(make, "<think>x</think>", &[a("<think>x</think>")]);
        // Multi-byte tags may not be cut inside a character.
        let make = || ReasoningSplitter::with_tags(ThinkTags::new("«", "»"));
        check_all_splits(make, "a«b»c«", &[a("a"), r("b"), a("c")]);
        // Empty tags are never found.
        let make = || ReasoningSplitter::with_tags(ThinkTags::new("", ""));
        check_all_splits(make, "abc", &[a("abc")]);
    }

    #[test]
    fn a_dangling_partial_tag_is_flushed_as_text() {
        let mut s = ReasoningSplitter::new();
        assert_eq!(s.push("answer <thi"), vec![a("answer ")]);
        assert_eq!(s.finish(), vec![a("<thi")]);
        let mut s = ReasoningSplitter::new().inside_reasoning();
        assert_eq!(s.push("hmm </th"), vec![r("hmm ")]);
        assert!(s.in_reasoning());
        assert_eq!(s.finish(), vec![r("</th")]);
        assert_eq!(s.finish(), vec![]);
    }

    #[test]
    fn split_all_concatenates() {
        let (reasoning, answer) =
            ReasoningSplitter::new().split_all("<think>a</think>b<think>c</think>d");
        assert_eq!((reasoning.as_str(), answer.as_str()), ("ac", "bd"));
    }

    #[test]
    fn strip_reasoning_cases() {
        for (text, want) in [
            ("<think>\nhmm\n</think>\n\nParis.", "Paris."),
            ("Paris.", "Paris."),
            ("hmm\n</think>\n\nParis.", "Paris."),
            ("A <think>x</think> B", "A B"),
            ("A<think>x</think>B<think>y</think>C", "ABC"),
            ("Answer.<think>unclosed", "Answer."),
            ("<think></think>", ""),
            ("keep </b> this", "keep </b> this"),
        ] {
            assert_eq!(strip_reasoning(text), want, "{text:?}");
        }
        let tags = ThinkTags::new("[T]", "[/T]");
        assert_eq!(strip_reasoning_with("[T]x[/T] y", &tags), "y");
    }

    #[test]
    fn history_loses_reasoning_in_assistant_turns_only() {
        let history = [
            Message::user("<think>user text stays</think>"),
            Message::assistant("<think>a</think>\n\nB").with("reasoning_content", "a"),
        ];
        let stripped = strip_reasoning_from_history(&history);
        assert_eq!(stripped[0], history[0]);
        assert_eq!(stripped[1], Message::assistant("B"));
    }
}
