//! The vocabulary: each token's text (as the model file writes it), the
//! bytes it stands for, and the reverse index.
//!
//! How a token's text turns into bytes depends on the tokenizer family
//! ([`Spelling`]): byte-level BPE writes each byte as one printable
//! character (`Ġthe`), SentencePiece writes a space as `▁` (`▁the`) and
//! bytes without a token of their own as `<0xE2>`.

use super::bytes::char_to_byte;
use super::hash::{FastHasher, FastMap};
use crate::{Error, Result};
use std::collections::hash_map::Entry;
use std::hash::Hasher;

/// What a token is, as GGUF's `tokenizer.ggml.token_type` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Produced by BPE.
    Normal,
    /// Control token (`<|im_start|>`): matched in text only on request.
    Special,
    /// Added by the user: always matched in text, never produced by BPE.
    UserDefined,
    /// A byte-fallback token (`<0x0A>`): stands for one byte, produced for
    /// text the vocabulary has no other token for.
    Byte,
    /// Unknown or unused tokens: never produced from text.
    Other,
}

/// How the vocabulary spells the bytes a token stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spelling {
    /// GPT-2's byte-level alphabet: one character per byte (`Ġ` is a space).
    ByteLevel,
    /// SentencePiece: UTF-8 text with `▁` for a space; byte tokens `<0xXX>`.
    Metaspace,
}

/// The byte a `<0xXX>` token stands for.
pub fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// The text of the byte-fallback token for `b` (`<0x0A>`).
pub fn byte_token_text(b: u8) -> String {
    format!("<0x{b:02X}>")
}

/// Id ↔ text ↔ bytes for every token.
///
/// Loading a model builds this for ~50k tokens, so it avoids one heap
/// allocation per token: the bytes live in one buffer, and the reverse index
/// maps a 64-bit hash of the text to the id (checked against the text on
/// lookup), with the rare texts whose hash collides kept by text.
#[derive(Clone, Debug)]
pub struct Vocab {
    texts: Vec<String>,
    /// Every token's bytes, back to back; `spans[id]` = (start, len).
    byte_buf: Vec<u8>,
    spans: Vec<(u32, u32)>,
    kinds: Vec<TokenKind>,
    index: FastMap<u64, u32>,
    collided: FastMap<String, u32>,
    /// Some text names two tokens (only the first is found by text).
    duplicates: bool,
    spelling: Spelling,
}

fn text_hash(text: &str) -> u64 {
    let mut h = FastHasher::default();
    h.write(text.as_bytes());
    h.write_usize(text.len());
    h.finish()
}

/// The bytes a token stands for. Literal (special and user-defined) tokens
/// stand for their text, byte tokens for their byte. Otherwise, in the
/// byte-level alphabet each character maps back to its byte (a token not in
/// that alphabet stands for its UTF-8 text, as Hugging Face's ByteLevel
/// decoder has it); in SentencePiece's spelling `▁` is a space.
fn push_bytes(text: &str, kind: TokenKind, spelling: Spelling, out: &mut Vec<u8>) {
    let start = out.len();
    if kind == TokenKind::Byte {
        if let Some(b) = byte_token_value(text) {
            out.push(b);
            return;
        }
    }
    if spelling == Spelling::Metaspace {
        if matches!(kind, TokenKind::Special | TokenKind::UserDefined) {
            out.extend_from_slice(text.as_bytes());
        } else {
            for piece in text.split_inclusive('▁') {
                match piece.strip_suffix('▁') {
                    Some(head) => {
                        out.extend_from_slice(head.as_bytes());
                        out.push(b' ');
                    }
                    None => out.extend_from_slice(piece.as_bytes()),
                }
            }
        }
        return;
    }
    if !matches!(kind, TokenKind::Special | TokenKind::UserDefined) {
        for c in text.chars() {
            match char_to_byte(c) {
                Some(b) => out.push(b),
                None => {
                    out.truncate(start);
                    break;
                }
            }
        }
        if out.len() > start || text.is_empty() {
            return;
        }
    }
    out.extend_from_slice(text.as_bytes());
}

impl Vocab {
    /// `texts[id]` is token `id` in the byte-level alphabet (`Ġthe`); a
    /// special or user-defined token is its literal text. A text that
    /// appears twice keeps its first id in the reverse index.
    pub fn new(texts: Vec<String>, kinds: Vec<TokenKind>) -> Result<Self> {
        Self::with_spelling(texts, kinds, Spelling::ByteLevel)
    }

    /// [`new`](Self::new) for a vocabulary spelled as `spelling` says.
    pub fn with_spelling(
        texts: Vec<String>,
        kinds: Vec<TokenKind>,
        spelling: Spelling,
    ) -> Result<Self> {
        if texts.len() != kinds.len() {
            return Err(Error::Invalid(format!(
                "{} tokens but {} token types",
                texts.len(),
                kinds.len()
            )));
        }
        // Ids stay below 2^31: encoders mark work in progress with the top
        // bit.
        if texts.len() >= 1 << 31 {
            return Err(Error::Invalid(format!(
                "{} tokens is too many",
                texts.len()
            )));
        }
        let total: usize = texts.iter().map(String::len).sum();
        if total >= u32::MAX as usize {
            return Err(Error::Invalid(format!(
                "the tokens' texts add up to {total} bytes, too many"
            )));
        }
        let mut vocab = Self {
            byte_buf: Vec::with_capacity(total),
            spans: Vec::with_capacity(texts.len()),
            kinds,
            index: FastMap::default(),
            collided: FastMap::default(),
            duplicates: false,
            texts: Vec::new(),
            spelling,
        };
        vocab.index.reserve(texts.len());
        for (id, t) in texts.iter().enumerate() {
            let id = id as u32;
            let start = vocab.byte_buf.len();
            push_bytes(t, vocab.kinds[id as usize], spelling, &mut vocab.byte_buf);
            vocab
                .spans
                .push((start as u32, (vocab.byte_buf.len() - start) as u32));
            match vocab.index.entry(text_hash(t)) {
                Entry::Vacant(slot) => {
                    slot.insert(id);
                }
                Entry::Occupied(slot) => {
                    // The same text again keeps its first id; a different
                    // text with the same hash goes to the side table.
                    if texts[*slot.get() as usize] != *t {
                        if vocab.collided.contains_key(t.as_str()) {
                            vocab.duplicates = true;
                        }
                        vocab.collided.entry(t.clone()).or_insert(id);
                    } else {
                        vocab.duplicates = true;
                    }
                }
            }
        }
        vocab.texts = texts;
        Ok(vocab)
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    pub fn id(&self, text: &str) -> Option<u32> {
        match self.index.get(&text_hash(text)) {
            Some(&id) if self.texts[id as usize] == text => Some(id),
            _ => self.collided.get(text).copied(),
        }
    }

    /// Whether some text names more than one token.
    pub fn has_duplicates(&self) -> bool {
        self.duplicates
    }

    pub fn text(&self, id: u32) -> Option<&str> {
        self.texts.get(id as usize).map(|s| s.as_str())
    }

    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        let &(start, len) = self.spans.get(id as usize)?;
        Some(&self.byte_buf[start as usize..(start + len) as usize])
    }

    pub fn kind(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    pub fn set_kind(&mut self, id: u32, kind: TokenKind) {
        let i = id as usize;
        self.kinds[i] = kind;
        // The new bytes go at the end of the buffer (a rare operation).
        let start = self.byte_buf.len();
        push_bytes(&self.texts[i], kind, self.spelling, &mut self.byte_buf);
        self.spans[i] = (start as u32, (self.byte_buf.len() - start) as u32);
    }

    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    pub fn spelling(&self) -> Spelling {
        self.spelling
    }
}
