//! Tokenizers: byte-level BPE (GPT-2, Llama 3, Qwen, SmolLM and most BPE
//! models), BPE over SentencePiece-spelled text (Gemma 4; `tokenizer.json`
//! with `byte_fallback`), SentencePiece's score-driven merging (Llama 2,
//! TinyLlama, Mistral, Phi-3, Gemma 3) and WordPiece (BERT).
//!
//! Text → added tokens found first ([`special`]) → each run of text between
//! them normalized ([`normalize`]: NFC, SentencePiece's `▁` and leading
//! space) → cut into pieces ([`pretokenize`], [`regex_split`]) → each piece
//! merged ([`bpe`] or [`spm`]; [`wordpiece`] does its own words) → ids.
//! Ids → bytes per token ([`vocab`]) → UTF-8 text, all at once or streamed
//! ([`decode`]).
//!
//! Loading: [`Tokenizer::from_gguf`] / [`Tokenizer::from_gguf_vocab`] (GGUF
//! metadata, as llama.cpp reads it), [`Tokenizer::from_json`] (Hugging Face
//! `tokenizer.json`), [`Tokenizer::from_vocab_merges`] (GPT-2 `vocab.json` +
//! `merges.txt`), [`Tokenizer::from_hf_dir`] (a Hugging Face model folder,
//! with its special tokens from `tokenizer_config.json` / `config.json`).
//! Training (byte-level BPE): [`train`].
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
mod json_pipeline;
pub mod load_gguf;
pub mod load_json;
pub mod metaspace;
pub mod normalize;
mod open;
mod pre_names;
pub mod pretokenize;
pub mod regex_split;
mod save_json;
pub mod special;
pub mod spm;
pub mod train;
pub mod unicode;
mod unicode_tables;
pub mod vocab;
pub mod wordpiece;

pub use decode::{StreamDecoder, Utf8Stream};
pub use load_gguf::GgufVocab;
pub use normalize::{Normalizer, PrefixSpace};
pub use pretokenize::{MetaspaceSplit, PreTokenizer};
pub use special::Segment;
pub use vocab::{Spelling, TokenKind};

use std::sync::atomic::{AtomicU64, Ordering};

use bpe::{Bpe, CharSymbols, NONE};
use bytes::BYTE_TO_CHAR;
use hash::FastMap;
use special::Matcher;
use spm::Spm;
use vocab::Vocab;

use crate::{Error, Result};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A tokenizer. Cheap to share across threads (`&Tokenizer`).
#[derive(Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    algorithm: Algorithm,
    /// Merges in rank order, as token ids (BPE; for saving).
    merges: Vec<(u32, u32)>,
    pre: PreTokenizer,
    normalizer: Normalizer,
    added: Matcher,
    /// Whole pieces that are tokens (only when the model skips merges for
    /// them, `ignore_merges` in tokenizer.json), keyed as pieces are
    /// spelled.
    whole_words: Option<FastMap<Box<[u8]>, u32>>,
    /// A piece of nothing but newlines that is a token is that token
    /// (Gemma 4, as llama.cpp has it).
    whole_newlines: bool,
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    /// Identifies this tokenizer to the per-thread word cache.
    uid: u64,
}

/// How pieces become tokens.
#[derive(Debug)]
enum Algorithm {
    /// Merges by rank.
    Bpe(Box<Bpe>),
    /// Merges by score (SentencePiece), through its BPE form where that is
    /// exact.
    Spm(Box<Spm>, Option<Box<Bpe>>),
    /// Longest tokens first, word by word (BERT).
    WordPiece(Box<wordpiece::WordPiece>),
}

/// The tokenizer families, as [`Tokenizer::family`] names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Byte-level BPE (GGUF `gpt2`).
    ByteLevelBpe,
    /// BPE over SentencePiece-spelled characters with byte fallback (GGUF
    /// `gemma4`; tokenizer.json BPE with `byte_fallback`).
    CharBpe,
    /// SentencePiece score merges (GGUF `llama`).
    SentencePiece,
    /// BERT's WordPiece (GGUF `bert`).
    WordPiece,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Self::ByteLevelBpe => "byte-level BPE",
            Self::CharBpe => "BPE with byte fallback",
            Self::SentencePiece => "SentencePiece",
            Self::WordPiece => "WordPiece",
        }
    }
}

/// The special token ids a model names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
}

/// The merging a tokenizer is built with.
pub(crate) enum Merging<'m> {
    /// Byte-level BPE with these merges.
    ByteBpe(&'m [(&'m str, &'m str)]),
    /// BPE over characters, falling back to `<0xXX>` byte tokens (if
    /// `byte_fallback`) or the unknown token.
    CharBpe {
        merges: &'m [(&'m str, &'m str)],
        byte_fallback: bool,
        fuse_unk: bool,
    },
    /// SentencePiece scores, one per token.
    Spm(Vec<f32>),
    /// WordPiece, lower-casing and stripping accents as asked.
    WordPiece {
        lowercase: bool,
        strip_accents: bool,
    },
}

/// Everything a tokenizer is built from.
pub(crate) struct Parts<'m> {
    pub vocab: Vocab,
    pub merging: Merging<'m>,
    pub pre: PreTokenizer,
    pub normalizer: Normalizer,
    pub ids: SpecialIds,
    pub add_bos: bool,
    pub ignore_merges: bool,
    pub whole_newlines: bool,
}

/// The `<0xXX>` token of each byte (else, for ASCII, the byte's own
/// character, as llama.cpp falls back to), `NONE` where there is neither.
pub(crate) fn byte_tokens(vocab: &Vocab) -> [u32; 256] {
    let mut ids = [NONE; 256];
    for (b, slot) in ids.iter_mut().enumerate() {
        let b = b as u8;
        if let Some(id) = vocab.id(&vocab::byte_token_text(b)) {
            *slot = id;
        } else if b.is_ascii() {
            if let Some(id) = vocab.id(&(b as char).to_string()) {
                *slot = id;
            }
        }
    }
    ids
}

impl Tokenizer {
    /// The common constructor for byte-level BPE: `merges` name tokens by
    /// text.
    pub(crate) fn build(
        vocab: Vocab,
        merges: &[(&str, &str)],
        pre: PreTokenizer,
        ids: SpecialIds,
        add_bos: bool,
        ignore_merges: bool,
    ) -> Result<Self> {
        Self::assemble(Parts {
            vocab,
            merging: Merging::ByteBpe(merges),
            pre,
            normalizer: Normalizer::default(),
            ids,
            add_bos,
            ignore_merges,
            whole_newlines: false,
        })
    }

    /// Builds a tokenizer from its parts, checking that they fit together.
    pub(crate) fn assemble(parts: Parts) -> Result<Self> {
        let Parts {
            vocab,
            merging,
            pre,
            normalizer,
            ids,
            add_bos,
            ignore_merges,
            whole_newlines,
        } = parts;
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
        let (algorithm, id_pairs) = match merging {
            Merging::ByteBpe(merges) => {
                let mut byte_ids = [NONE; 256];
                let mut buf = [0u8; 4];
                for (b, slot) in byte_ids.iter_mut().enumerate() {
                    let c: &str = BYTE_TO_CHAR[b].encode_utf8(&mut buf);
                    if let Some(id) = vocab.id(c) {
                        *slot = id;
                    }
                }
                let triples = resolve_merges(&vocab, merges)?;
                let pairs = triples.iter().map(|&(a, b, _)| (a, b)).collect();
                (
                    Algorithm::Bpe(Box::new(Bpe::new(byte_ids, &triples)?)),
                    pairs,
                )
            }
            Merging::CharBpe {
                merges,
                byte_fallback,
                fuse_unk,
            } => {
                let triples = resolve_merges(&vocab, merges)?;
                let pairs = triples.iter().map(|&(a, b, _)| (a, b)).collect();
                let chars = (0..n as u32).filter_map(|id| {
                    let t = vocab.text(id)?;
                    let mut it = t.chars();
                    let c = it.next()?;
                    it.next().is_none().then_some((c, id))
                });
                let fallback = if byte_fallback {
                    let byte_ids = byte_tokens(&vocab);
                    if byte_ids.contains(&NONE) && ids.unk.is_none() {
                        let missing = byte_ids.iter().filter(|&&i| i == NONE).count();
                        return Err(Error::Invalid(format!(
                            "the vocabulary falls back to byte tokens but lacks {missing} of the 256 \
                             (<0x00>..<0xFF>) and has no unknown token"
                        )));
                    }
                    Some(byte_ids)
                } else {
                    None
                };
                let chars = CharSymbols::new(chars, fallback, ids.unk, fuse_unk);
                let bpe = Bpe::new([NONE; 256], &triples)?.over_chars(chars);
                (Algorithm::Bpe(Box::new(bpe)), pairs)
            }
            Merging::Spm(scores) => {
                let spm = Spm::new(&vocab, scores, ids.unk)?;
                let fast = spm.as_bpe(&vocab).map(Box::new);
                (Algorithm::Spm(Box::new(spm), fast), Vec::new())
            }
            Merging::WordPiece {
                lowercase,
                strip_accents,
            } => {
                let wp = wordpiece::WordPiece::new(&vocab, ids.unk, lowercase, strip_accents)?;
                (Algorithm::WordPiece(Box::new(wp)), Vec::new())
            }
        };
        let added = Matcher::new((0..n as u32).filter_map(|id| match vocab.kind(id) {
            Some(TokenKind::Special) => Some((vocab.text(id)?.to_string(), id, true)),
            Some(TokenKind::UserDefined) => Some((vocab.text(id)?.to_string(), id, false)),
            _ => None,
        }));
        // Pieces are spelled as byte-level tokens' bytes, or as the other
        // vocabularies' texts.
        let byte_level = matches!(&algorithm, Algorithm::Bpe(b) if !b.is_char_level());
        let whole_words = ignore_merges.then(|| {
            let mut m = FastMap::default();
            for id in 0..n as u32 {
                if vocab.kind(id) == Some(TokenKind::Normal) {
                    let key = if byte_level {
                        vocab.bytes(id)
                    } else {
                        vocab.text(id).map(str::as_bytes)
                    };
                    if let Some(b) = key {
                        m.entry(b.into()).or_insert(id);
                    }
                }
            }
            m
        });
        Ok(Self {
            vocab,
            algorithm,
            merges: id_pairs,
            pre,
            normalizer,
            added,
            whole_words,
            whole_newlines,
            bos: ids.bos,
            eos: ids.eos,
            unk: ids.unk,
            pad: ids.pad,
            add_bos,
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
        let mut at_start = true;
        cache::with(self.uid, |cache| {
            self.added.split(text, parse_special, |seg| match seg {
                Segment::Token(id) => {
                    out.push(id);
                    at_start = false;
                }
                Segment::Text(t) => {
                    let normalized = self.normalizer.apply(t, at_start);
                    at_start = false;
                    self.pre
                        .split(&normalized, |piece| self.encode_piece(piece, cache, out))
                }
            })
        });
    }

    #[inline]
    fn encode_piece(&self, bytes: &[u8], cache: &mut cache::WordCache, out: &mut Vec<u32>) {
        if let Algorithm::Bpe(bpe) = &self.algorithm {
            if bytes.len() <= 1 {
                bpe.encode_piece(bytes, out);
                return;
            }
        }
        if let Some(words) = &self.whole_words {
            if let Some(&id) = words.get(bytes) {
                out.push(id);
                return;
            }
        }
        if self.whole_newlines && bytes.iter().all(|&b| b == b'\n') {
            if let Some(id) = std::str::from_utf8(bytes)
                .ok()
                .and_then(|t| self.vocab.id(t))
            {
                out.push(id);
                return;
            }
        }
        if let Some(ids) = cache.get(bytes) {
            out.extend_from_slice(ids);
            return;
        }
        let start = out.len();
        match &self.algorithm {
            Algorithm::Bpe(bpe) => bpe.encode_piece(bytes, out),
            Algorithm::Spm(_, Some(bpe)) => bpe.encode_piece(bytes, out),
            // Pieces of SentencePiece-spelled text are whole characters.
            Algorithm::Spm(spm, None) => {
                spm.encode_piece(&self.vocab, &String::from_utf8_lossy(bytes), out)
            }
            Algorithm::WordPiece(wp) => wp.encode(&String::from_utf8_lossy(bytes), out),
        }
        cache.insert(bytes, &out[start..]);
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

    /// The pre-tokenizer pieces of `text` (no added-token matching), as
    /// this tokenizer spells them (SentencePiece: `▁` for spaces).
    pub fn pieces(&self, text: &str) -> Vec<String> {
        self.pre.pieces(&self.normalizer.apply(text, true))
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
    /// Where the tokenizer puts a space before the text (SentencePiece),
    /// the first token's leading space goes, as llama.cpp and Hugging Face
    /// decode it: `decode(encode(x)) == x`.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for (i, &id) in ids.iter().enumerate() {
            let b = self
                .decoded_bytes(i, id)
                .map_err(|e| Error::Invalid(format!("{e} (at position {i})")))?;
            out.extend_from_slice(b);
        }
        Ok(out)
    }

    /// The bytes token `id` adds at position `i` of a decode: its own, less
    /// the leading space of a first token where the tokenizer adds one.
    /// How many bytes token `id` decodes to at position `i` of a sequence
    /// (the first token loses the leading space its encoding added).
    pub fn token_len_at(&self, i: usize, id: u32) -> Result<usize> {
        self.decoded_bytes(i, id).map(<[u8]>::len)
    }

    fn decoded_bytes(&self, i: usize, id: u32) -> Result<&[u8]> {
        let b = self.token_bytes_checked(id)?;
        if i == 0 && self.normalizer.prefix != PrefixSpace::Never && !self.is_special(id) {
            return Ok(b.strip_prefix(b" ").unwrap_or(b));
        }
        Ok(b)
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
                pos += self.decoded_bytes(i, id).map_or(0, |b| b.len());
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

    pub fn pre_tokenizer(&self) -> &PreTokenizer {
        &self.pre
    }

    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// Which kind of tokenizer this is.
    pub fn family(&self) -> Family {
        match &self.algorithm {
            Algorithm::Bpe(b) if b.is_char_level() => Family::CharBpe,
            Algorithm::Bpe(_) => Family::ByteLevelBpe,
            Algorithm::Spm(..) => Family::SentencePiece,
            Algorithm::WordPiece(_) => Family::WordPiece,
        }
    }

    /// The SentencePiece scores, by id (empty for BPE).
    pub fn scores(&self) -> &[f32] {
        match &self.algorithm {
            Algorithm::Spm(s, _) => s.scores(),
            Algorithm::Bpe(_) | Algorithm::WordPiece(_) => &[],
        }
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
