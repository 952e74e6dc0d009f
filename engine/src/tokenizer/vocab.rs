//! The vocabulary: each token's text (in the byte-level alphabet), the bytes
//! it stands for, and the reverse index.

use super::bytes::text_to_bytes;
use super::hash::FastMap;
use crate::{Error, Result};

/// What a token is, as GGUF's `tokenizer.ggml.token_type` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Produced by BPE.
    Normal,
    /// Control token (`<|im_start|>`): matched in text only on request.
    Special,
    /// Added by the user: always matched in text, never produced by BPE.
    UserDefined,
    /// Unknown, unused or byte tokens: never produced from text.
    Other,
}

/// Id ↔ text ↔ bytes for every token.
#[derive(Clone, Debug)]
pub struct Vocab {
    texts: Vec<String>,
    bytes: Vec<Box<[u8]>>,
    kinds: Vec<TokenKind>,
    index: FastMap<String, u32>,
}

impl Vocab {
    /// `texts[id]` is token `id` in the byte-level alphabet (`Ġthe`); a
    /// special or user-defined token is its literal text. A text that
    /// appears twice keeps its first id in the reverse index.
    pub fn new(texts: Vec<String>, kinds: Vec<TokenKind>) -> Result<Self> {
        if texts.len() != kinds.len() {
            return Err(Error::Invalid(format!(
                "{} tokens but {} token types",
                texts.len(),
                kinds.len()
            )));
        }
        if texts.len() >= u32::MAX as usize {
            return Err(Error::Invalid(format!(
                "{} tokens is too many",
                texts.len()
            )));
        }
        let mut index = FastMap::default();
        index.reserve(texts.len());
        let mut bytes = Vec::with_capacity(texts.len());
        for (id, (t, k)) in texts.iter().zip(&kinds).enumerate() {
            index.entry(t.clone()).or_insert(id as u32);
            // Literal tokens, and any token not in the byte alphabet, stand
            // for their UTF-8 text (as Hugging Face's ByteLevel decoder does).
            let b = match k {
                TokenKind::Special | TokenKind::UserDefined => None,
                _ => text_to_bytes(t),
            }
            .unwrap_or_else(|| t.as_bytes().to_vec());
            bytes.push(b.into_boxed_slice());
        }
        Ok(Self {
            texts,
            bytes,
            kinds,
            index,
        })
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    pub fn id(&self, text: &str) -> Option<u32> {
        self.index.get(text).copied()
    }

    pub fn text(&self, id: u32) -> Option<&str> {
        self.texts.get(id as usize).map(|s| s.as_str())
    }

    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        self.bytes.get(id as usize).map(|b| &b[..])
    }

    pub fn kind(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    pub fn set_kind(&mut self, id: u32, kind: TokenKind) {
        let i = id as usize;
        self.kinds[i] = kind;
        let t = &self.texts[i];
        let b = match kind {
            TokenKind::Special | TokenKind::UserDefined => None,
            _ => text_to_bytes(t),
        }
        .unwrap_or_else(|| t.as_bytes().to_vec());
        self.bytes[i] = b.into_boxed_slice();
    }

    pub fn texts(&self) -> &[String] {
        &self.texts
    }
}
