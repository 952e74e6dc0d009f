//! Byte-level BPE tokenizer (GPT-2, Llama 3, Qwen 2, SmolLM families).
//!
//! Text → added tokens found first ([`special`]) → pre-tokenizer pieces
//! ([`pretokenize`]) → BPE merges over byte tokens ([`bpe`]) → ids.
//! Ids → bytes per token ([`vocab`]) → UTF-8 text, all at once or streamed
//! ([`decode`]).
//!
//! Loading: [`Tokenizer::from_gguf_parts`] (GGUF metadata values),
//! [`Tokenizer::from_json`] (Hugging Face `tokenizer.json`),
//! [`Tokenizer::from_vocab_merges`] (GPT-2 `vocab.json` + `merges.txt`),
//! [`Tokenizer::from_hf_dir`] (a Hugging Face model folder, with its special
//! tokens from `tokenizer_config.json` / `config.json`).
//! Training: [`train`].
//!
//! Bytes with no token of their own (SmolLM2 has none for a few bytes that
//! never occur in UTF-8) are dropped when encoding, as Hugging Face
//! `tokenizers` and llama.cpp do, so such text does not round-trip.

pub mod bpe;
pub mod bytes;
mod cache;
pub mod decode;
mod hash;
mod hf_dir;
pub mod load_gguf;
pub mod load_json;
mod open;
pub mod pretokenize;
pub mod special;
pub mod train;
pub mod unicode;
mod unicode_tables;
pub mod vocab;

pub use decode::{StreamDecoder, Utf8Stream};
pub use pretokenize::PreTokenizer;
pub use special::Segment;
pub use vocab::TokenKind;

use std::sync::atomic::{AtomicU64, Ordering};

use bpe::{Bpe, NONE};
use bytes::BYTE_TO_CHAR;
use hash::FastMap;
use special::Matcher;
use vocab::Vocab;

use crate::{Error, Result};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A byte-level BPE tokenizer. Cheap to share across threads (`&Tokenizer`).
#[derive(Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    bpe: Bpe,
    /// Merges in rank order, as token ids (for saving).
    merges: Vec<(u32, u32)>,
    pre: PreTokenizer,
    added: Matcher,
    /// Whole pieces that are tokens (only when the model skips merges for
    /// them, `ignore_merges` in tokenizer.json).
    whole_words: Option<FastMap<Box<[u8]>, u32>>,
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    /// Normalize text to NFC before splitting it (tokenizer.json's
    /// `normalizer: NFC`).
    nfc: bool,
    /// Identifies this tokenizer to the per-thread word cache.
    uid: u64,
}

/// The special token ids a model names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
}

impl Tokenizer {
    /// Builds a tokenizer from GGUF `tokenizer.ggml.*` values: `tokens`,
    /// `token_type` (1 normal, 2 unknown, 3 control, 4 user-defined,
    /// 5 unused, 6 byte), `merges` (`"Ġ t"`), `pre`, the
    /// `bos/eos/unknown/padding_token_id`s and `add_bos_token`.
    #[allow(clippy::too_many_arguments)]
    pub fn from_gguf_parts(
        tokens: Vec<String>,
        token_types: Option<Vec<i32>>,
        merges: Vec<String>,
        pre: &str,
        bos: Option<u32>,
        eos: Option<u32>,
        unk: Option<u32>,
        pad: Option<u32>,
        add_bos: bool,
    ) -> Result<Self> {
        let pre = PreTokenizer::from_gguf_name(pre)?;
        let n = tokens.len();
        let kinds = match token_types {
            Some(types) => {
                if types.len() != n {
                    return Err(Error::Invalid(format!(
                        "tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {n}",
                        types.len()
                    )));
                }
                types
                    .iter()
                    .enumerate()
                    .map(|(id, &t)| match t {
                        1 | 6 => Ok(TokenKind::Normal),
                        3 => Ok(TokenKind::Special),
                        4 => Ok(TokenKind::UserDefined),
                        2 | 5 => Ok(TokenKind::Other),
                        _ => Err(Error::Invalid(format!(
                            "token {id} ({:?}) has unknown token type {t}",
                            tokens[id]
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            None => {
                let mut k = vec![TokenKind::Normal; n];
                for id in [bos, eos, unk, pad].into_iter().flatten() {
                    if let Some(x) = k.get_mut(id as usize) {
                        *x = TokenKind::Special;
                    }
                }
                k
            }
        };
        let vocab = Vocab::new(tokens, kinds)?;
        let pairs = merges
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (a, b) = m.split_once(' ').ok_or_else(|| {
                    Error::Invalid(format!(
                        "merge {i} ({m:?}) is not two tokens separated by a space"
                    ))
                })?;
                Ok((a, b))
            })
            .collect::<Result<Vec<_>>>()?;
        let ids = SpecialIds { bos, eos, unk, pad };
        Self::build(vocab, &pairs, pre, ids, add_bos, false)
    }

    /// The common constructor: `merges` name tokens by text.
    pub(crate) fn build(
        vocab: Vocab,
        merges: &[(&str, &str)],
        pre: PreTokenizer,
        ids: SpecialIds,
        add_bos: bool,
        ignore_merges: bool,
    ) -> Result<Self> {
        let n = vocab.len();
        for (name, id) in [
            ("bos", ids.bos),
            ("eos", ids.eos),
            ("unk", ids.unk),
            ("pad", ids.pad),
        ] {
            if let Some(id) = id {
                if id as usize >= n {
                    return Err(Error::Invalid(format!(
                        "{name} token id {id} is outside the vocabulary of {n} tokens"
                    )));
                }
            }
        }
        let mut byte_ids = [NONE; 256];
        let mut buf = [0u8; 4];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            let c: &str = BYTE_TO_CHAR[b].encode_utf8(&mut buf);
            if let Some(id) = vocab.id(c) {
                *slot = id;
            }
        }
        let triples = resolve_merges(&vocab, merges)?;
        let id_pairs = triples.iter().map(|&(a, b, _)| (a, b)).collect();
        let bpe = Bpe::new(byte_ids, &triples)?;
        let added = Matcher::new((0..n as u32).filter_map(|id| match vocab.kind(id) {
            Some(TokenKind::Special) => Some((vocab.text(id)?.to_string(), id, true)),
            Some(TokenKind::UserDefined) => Some((vocab.text(id)?.to_string(), id, false)),
            _ => None,
        }));
        let whole_words = ignore_merges.then(|| {
            let mut m = FastMap::default();
            for id in 0..n as u32 {
                if vocab.kind(id) == Some(TokenKind::Normal) {
                    if let Some(b) = vocab.bytes(id) {
                        m.entry(b.into()).or_insert(id);
                    }
                }
            }
            m
        });
        Ok(Self {
            vocab,
            bpe,
            merges: id_pairs,
            pre,
            added,
            whole_words,
            bos: ids.bos,
            eos: ids.eos,
            unk: ids.unk,
            pad: ids.pad,
            add_bos,
            nfc: false,
            uid: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    // ----- encoding -----

    /// Token ids of `text`. With `parse_special`, special-token strings in
    /// the text (`<|im_start|>`) become their tokens; without, they are
    /// plain text. User-defined added tokens are always matched. `add_bos`
    /// puts the BOS token first, if the model has one.
    pub fn encode(&self, text: &str, parse_special: bool, add_bos: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 4 + 2);
        self.encode_into(text, parse_special, add_bos, &mut out);
        out
    }

    /// [`encode`](Self::encode), appending to `out`.
    pub fn encode_into(&self, text: &str, parse_special: bool, add_bos: bool, out: &mut Vec<u32>) {
        if add_bos {
            out.extend(self.bos);
        }
        cache::with(self.uid, |cache| {
            self.added.split(text, parse_special, |seg| match seg {
                Segment::Token(id) => out.push(id),
                Segment::Text(t) => {
                    let normalized = self.normalize(t);
                    self.pre.split(&normalized, |piece| {
                        self.encode_piece(piece.as_bytes(), cache, out)
                    })
                }
            })
        });
    }

    /// The text as the model's normalizer leaves it: NFC where the
    /// tokenizer.json asks for it (added tokens are matched before this,
    /// on the text as given, as Hugging Face does).
    fn normalize<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
        if !self.nfc || is_nfc_quick(text.chars()) == IsNormalized::Yes {
            return std::borrow::Cow::Borrowed(text);
        }
        std::borrow::Cow::Owned(text.nfc().collect())
    }

    #[inline]
    fn encode_piece(&self, piece: &[u8], cache: &mut cache::WordCache, out: &mut Vec<u32>) {
        if piece.len() <= 1 {
            self.bpe.encode_piece(piece, out);
            return;
        }
        if let Some(words) = &self.whole_words {
            if let Some(&id) = words.get(piece) {
                out.push(id);
                return;
            }
        }
        if let Some(ids) = cache.get(piece) {
            out.extend_from_slice(ids);
            return;
        }
        let start = out.len();
        self.bpe.encode_piece(piece, out);
        cache.insert(piece, &out[start..]);
    }

    /// Encodes many texts, split across the kernel thread pool (so the
    /// engine's one thread-count setting governs this too).
    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        parse_special: bool,
        add_bos: bool,
    ) -> Vec<Vec<u32>> {
        use crate::backend::cpu::pool;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;
        let pool = pool::global();
        // Texts cost very different amounts per byte (prose hits the word
        // cache, code and digits do not), so a fixed split leaves one thread
        // idle while another finishes. Instead the batch is cut into many
        // chunks of about equal bytes, and each thread claims the next
        // unclaimed chunk until none are left.
        let chunks = chunk_bounds(texts, pool.threads() * CHUNKS_PER_THREAD);
        let results: Vec<Mutex<Vec<Vec<u32>>>> =
            (0..chunks.len()).map(|_| Mutex::default()).collect();
        let next = AtomicUsize::new(0);
        pool.run(&|_, _| {
            // One scratch buffer per thread; each result is allocated at its
            // exact size (over-allocated vectors cost more in malloc than
            // the encoding of a short line).
            let mut scratch = Vec::new();
            loop {
                let chunk = next.fetch_add(1, Ordering::Relaxed);
                let Some(range) = chunks.get(chunk) else {
                    break;
                };
                let ids = texts[range.clone()]
                    .iter()
                    .map(|t| {
                        scratch.clear();
                        self.encode_into(t.as_ref(), parse_special, add_bos, &mut scratch);
                        scratch.to_vec()
                    })
                    .collect();
                *results[chunk].lock().unwrap_or_else(|e| e.into_inner()) = ids;
            }
        });
        results
            .into_iter()
            .flat_map(|p| p.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect()
    }

    /// The pre-tokenizer pieces of `text` (no added-token matching).
    pub fn pieces<'a>(&self, text: &'a str) -> Vec<&'a str> {
        self.pre.pieces(text)
    }

    // ----- decoding -----

    pub(crate) fn token_bytes_checked(&self, id: u32) -> Result<&[u8]> {
        self.vocab.bytes(id).ok_or_else(|| {
            Error::Invalid(format!(
                "token id {id} is outside the vocabulary of {} tokens",
                self.vocab.len()
            ))
        })
    }

    /// The bytes `ids` stand for. Errors on an id outside the vocabulary.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for (i, &id) in ids.iter().enumerate() {
            let b = self
                .token_bytes_checked(id)
                .map_err(|e| Error::Invalid(format!("{e} (at position {i})")))?;
            out.extend_from_slice(b);
        }
        Ok(out)
    }

    /// The text `ids` stand for. Errors on an unknown id or if the bytes are
    /// not valid UTF-8 (e.g. a character cut in half); see
    /// [`decode_lossy`](Self::decode_lossy) and [`StreamDecoder`].
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let bytes = self.decode_bytes(ids)?;
        String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let mut pos = 0;
            let mut token = 0;
            for (i, &id) in ids.iter().enumerate() {
                pos += self.vocab.bytes(id).map_or(0, |b| b.len());
                if pos > at {
                    token = i;
                    break;
                }
            }
            Error::Invalid(format!(
                "tokens decode to invalid UTF-8: byte {at} (in token {} at position {token}) \
                 does not continue a valid character",
                ids[token]
            ))
        })
    }

    /// [`decode`](Self::decode), with invalid UTF-8 replaced by U+FFFD.
    pub fn decode_lossy(&self, ids: &[u32]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.decode_bytes(ids)?).into_owned())
    }

    /// A decoder for tokens that arrive one at a time.
    pub fn stream_decoder(&self) -> StreamDecoder<'_> {
        StreamDecoder::new(self)
    }

    // ----- inspection -----

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The bytes token `id` stands for.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.vocab.bytes(id)
    }

    /// Token `id` as the vocabulary writes it (`Ġthe`).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.vocab.text(id)
    }

    /// Token `id` for people: its bytes as text, with bytes that are not
    /// valid UTF-8 on their own written `\xNN` (`" the"`, `"\xe2\x80"`).
    pub fn token_display(&self, id: u32) -> Option<String> {
        let b = self.vocab.bytes(id)?;
        let mut out = String::new();
        let mut rest = b;
        while !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&rest[..good]).unwrap_or_default());
                    let bad = e.error_len().unwrap_or(rest.len() - good);
                    for x in &rest[good..good + bad] {
                        out.push_str(&format!("\\x{x:02x}"));
                    }
                    rest = &rest[good + bad..];
                }
            }
        }
        Some(out)
    }

    pub fn token_kind(&self, id: u32) -> Option<TokenKind> {
        self.vocab.kind(id)
    }

    /// The id of a token by its vocabulary text.
    pub fn token_to_id(&self, text: &str) -> Option<u32> {
        self.vocab.id(text)
    }

    pub fn pre_tokenizer(&self) -> PreTokenizer {
        self.pre
    }

    pub fn special_ids(&self) -> SpecialIds {
        SpecialIds {
            bos: self.bos,
            eos: self.eos,
            unk: self.unk,
            pad: self.pad,
        }
    }

    /// Sets the special ids (a tokenizer.json does not name them).
    pub fn set_special_ids(&mut self, ids: SpecialIds) -> Result<()> {
        for id in [ids.bos, ids.eos, ids.unk, ids.pad].into_iter().flatten() {
            self.token_bytes_checked(id)?;
        }
        self.bos = ids.bos;
        self.eos = ids.eos;
        self.unk = ids.unk;
        self.pad = ids.pad;
        Ok(())
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Whether the model wants BOS first by default (GGUF `add_bos_token`).
    pub fn add_bos_default(&self) -> bool {
        self.add_bos
    }

    /// Whether `id` is a special (control) token.
    pub fn is_special(&self, id: u32) -> bool {
        self.vocab.kind(id) == Some(TokenKind::Special)
    }

    /// The added tokens: (text, id, special).
    pub fn added_tokens(&self) -> impl Iterator<Item = (&[u8], u32, bool)> {
        self.added.tokens()
    }

    /// The merges in rank order, as token ids.
    pub fn merges(&self) -> &[(u32, u32)] {
        &self.merges
    }

    /// Every token's vocabulary text, by id.
    pub fn vocab_texts(&self) -> &[String] {
        self.vocab.texts()
    }
}

/// Each merge `(a, b)` as token ids `(a, b, ab)`, in rank order; a merge
/// naming a token the vocabulary lacks is an error. Large merge lists are
/// resolved in two halves at once: the lookups are most of a model load.
fn resolve_merges(vocab: &Vocab, merges: &[(&str, &str)]) -> Result<Vec<(u32, u32, u32)>> {
    if merges.len() > 4096 {
        let (first, second) = merges.split_at(merges.len() / 2);
        let offset = first.len();
        let (a, b) = crate::backend::cpu::pool::join(
            || resolve_range(vocab, first, 0),
            || resolve_range(vocab, second, offset),
        );
        let mut all = a?;
        all.extend(b?);
        return Ok(all);
    }
    resolve_range(vocab, merges, 0)
}

/// [`resolve_merges`] for merges whose ranks start at `first_rank`.
fn resolve_range(
    vocab: &Vocab,
    merges: &[(&str, &str)],
    first_rank: usize,
) -> Result<Vec<(u32, u32, u32)>> {
    let mut triples = Vec::with_capacity(merges.len());
    let mut joined = String::new();
    // Trained vocabularies list merged tokens in merge order, so the merged
    // token is usually the one after the previous merge's: try that (a
    // sequential read) before the hash lookup (a random one).
    let mut next_guess = u32::MAX;
    for (i, &(a, b)) in merges.iter().enumerate() {
        joined.clear();
        joined.push_str(a);
        joined.push_str(b);
        let merged = match vocab.text(next_guess) {
            // (With duplicate texts the lookup decides which id is meant.)
            Some(t) if t == joined && !vocab.has_duplicates() => Some(next_guess),
            _ => vocab.id(&joined),
        };
        next_guess = merged.map_or(u32::MAX, |m| m.wrapping_add(1));
        match (vocab.id(a), vocab.id(b), merged) {
            (Some(ia), Some(ib), Some(im)) => triples.push((ia, ib, im)),
            (ia, ib, _) => {
                let missing = if ia.is_none() {
                    a
                } else if ib.is_none() {
                    b
                } else {
                    joined.as_str()
                };
                return Err(Error::Invalid(format!(
                    "merge {} ({a:?} + {b:?}) names {missing:?}, which is not in the vocabulary",
                    first_rank + i
                )));
            }
        }
    }
    Ok(triples)
}

/// Chunks per pool thread in [`Tokenizer::encode_batch`]: enough that the
/// last chunk is a small share of a thread's work, few enough that claiming
/// one costs nothing.
const CHUNKS_PER_THREAD: usize = 16;

/// Cuts `texts` into at most `parts` consecutive ranges of about equal bytes
/// (never splitting a text, never returning an empty range).
fn chunk_bounds<S: AsRef<str>>(texts: &[S], parts: usize) -> Vec<std::ops::Range<usize>> {
    let total: usize = texts.iter().map(|t| t.as_ref().len() + 1).sum();
    let target = total.div_ceil(parts.max(1));
    let mut bounds = Vec::with_capacity(parts);
    let (mut start, mut bytes) = (0, 0);
    for (i, t) in texts.iter().enumerate() {
        bytes += t.as_ref().len() + 1;
        if bytes >= target {
            bounds.push(start..i + 1);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < texts.len() {
        bounds.push(start..texts.len());
    }
    bounds
}

#[cfg(test)]
mod tests {
    use super::chunk_bounds;

    #[test]
    fn chunks_cover_every_text_once_in_order() {
        let texts: Vec<String> = (0..1000).map(|i| "x".repeat(i % 37)).collect();
        for parts in [1, 2, 7, 32, 5000] {
            let chunks = chunk_bounds(&texts, parts);
            assert!(chunks.len() <= parts.max(1), "{parts}: {}", chunks.len());
            let mut at = 0;
            for c in &chunks {
                assert_eq!(c.start, at);
                assert!(c.end > c.start);
                at = c.end;
            }
            assert_eq!(at, texts.len());
        }
        assert!(chunk_bounds(&Vec::<String>::new(), 4).is_empty());
    }

    #[test]
    fn chunks_balance_bytes_not_counts() {
        // One huge text and many small ones: the huge one gets a chunk of
        // its own rather than dragging its neighbours along.
        let mut texts = vec!["y".repeat(10_000)];
        texts.extend((0..100).map(|_| "z".repeat(99)));
        let chunks = chunk_bounds(&texts, 2);
        assert_eq!(chunks[0], 0..1);
        assert_eq!(chunks.len(), 2);
    }
}
