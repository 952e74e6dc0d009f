//! Streaming decoding: tokens arrive one at a time and a multi-byte
//! character may be split across them. The decoder holds back an incomplete
//! UTF-8 sequence until it completes, so it never emits a broken one.

use super::Tokenizer;
use crate::Result;

/// Turns a stream of token ids into text, one piece per token.
#[derive(Debug)]
pub struct StreamDecoder<'t> {
    tokenizer: &'t Tokenizer,
    text: Utf8Stream,
}

impl<'t> StreamDecoder<'t> {
    pub fn new(tokenizer: &'t Tokenizer) -> Self {
        Self {
            tokenizer,
            text: Utf8Stream::default(),
        }
    }

    /// Adds one token; returns the text that is now complete (possibly
    /// empty). Bytes that can never be valid UTF-8 come out as U+FFFD.
    /// Errors only for an id outside the vocabulary.
    pub fn push(&mut self, id: u32) -> Result<String> {
        self.text.push_token(self.tokenizer, id)
    }

    /// Bytes held back waiting for the rest of a character.
    pub fn pending(&self) -> &[u8] {
        self.text.pending()
    }

    /// Ends the stream: whatever is held back comes out, an incomplete
    /// character as U+FFFD.
    pub fn finish(&mut self) -> String {
        self.text.finish()
    }
}

/// The byte side of [`StreamDecoder`], which borrows no tokenizer: a
/// generation that lives across calls (the browser's, one token per call)
/// keeps this and passes the tokenizer to each push.
#[derive(Debug, Clone, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Adds token `id`'s bytes; returns the text that is now complete.
    pub fn push_token(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<String> {
        let bytes = tokenizer.token_bytes_checked(id)?;
        self.pending.extend_from_slice(bytes);
        Ok(self.take_complete())
    }

    /// Bytes held back waiting for the rest of a character.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    /// Ends the stream: whatever is held back comes out, an incomplete
    /// character as U+FFFD.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }

    fn take_complete(&mut self) -> String {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    // from_utf8 said this prefix is valid.
                    out.push_str(std::str::from_utf8(&rest[..good]).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            rest = &rest[good + bad..];
                        }
                        None => {
                            rest = &rest[good..];
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let n = self.pending.len();
        self.pending.drain(..n - keep);
        out
    }
}
