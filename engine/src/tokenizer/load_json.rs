//! Loading Hugging Face `tokenizer.json`, and GPT-2's `vocab.json` +
//! `merges.txt`.
//!
//! Supported: a `BPE` model, byte-level (a `ByteLevel` pre-tokenizer or
//! decoder) or over characters with `byte_fallback` (SentencePiece models
//! converted to BPE: Llama 2, Mistral, Gemma), with the normalizers and
//! pre-tokenizers [`json_pipeline`](super::json_pipeline) reads. Anything
//! else (dropout, subword prefixes, Unigram and WordPiece models) is an
//! error naming what is unsupported.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::json_pipeline::{self, flag};
use super::pretokenize::MetaspaceSplit;
use super::vocab::{Spelling, TokenKind, Vocab};
use super::{Merging, Parts, PreTokenizer, SpecialIds, Tokenizer};
use crate::{Error, Result};

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("tokenizer.json: {msg}"))
}

/// Merges as `"a b"` strings or `["a", "b"]` pairs.
fn parse_merges(v: &Value) -> Result<Vec<(&str, &str)>> {
    let list = v
        .as_array()
        .ok_or_else(|| bad("model.merges is not a list"))?;
    list.iter()
        .enumerate()
        .map(|(i, m)| match m {
            Value::String(s) => s
                .split_once(' ')
                .filter(|(_, b)| !b.contains(' '))
                .ok_or_else(|| {
                    bad(format!(
                        "merge {i} ({s:?}) is not two tokens separated by one space"
                    ))
                }),
            Value::Array(p) => match p.as_slice() {
                [Value::String(a), Value::String(b)] => Ok((a.as_str(), b.as_str())),
                _ => Err(bad(format!("merge {i} ({m}) is not a pair of strings"))),
            },
            _ => Err(bad(format!("merge {i} ({m}) is not a string or a pair"))),
        })
        .collect()
}

/// Dense texts by id from a `{text: id}` map plus added tokens. Ids must
/// run from 0 without gaps, so none can reach `listed`, the number of
/// tokens the file lists in all: checking that first keeps a hostile id
/// from sizing the table.
fn dense(vocab: &Map<String, Value>, listed: usize, what: &str) -> Result<Vec<Option<String>>> {
    let mut texts: Vec<Option<String>> = Vec::new();
    for (t, id) in vocab {
        let id = id
            .as_u64()
            .filter(|&i| i < u32::MAX as u64 / 2)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{what}: token {t:?} has id {id}, not a small integer"
                ))
            })? as usize;
        check_listed(id, listed, what)?;
        if texts.len() <= id {
            texts.resize(id + 1, None);
        }
        if let Some(prev) = &texts[id] {
            return Err(Error::Invalid(format!(
                "{what}: id {id} is used by both {prev:?} and {t:?}"
            )));
        }
        texts[id] = Some(t.clone());
    }
    Ok(texts)
}

/// Refuses an id that the `listed` tokens cannot reach without a gap.
fn check_listed(id: usize, listed: usize, what: &str) -> Result<()> {
    if id >= listed {
        return Err(Error::Invalid(format!(
            "{what}: id {id} leaves a gap: the file lists only {listed} tokens, so ids must run 0..{listed}"
        )));
    }
    Ok(())
}

fn finish_vocab(
    texts: Vec<Option<String>>,
    kinds: Vec<TokenKind>,
    spelling: Spelling,
    what: &str,
) -> Result<Vocab> {
    let texts = texts
        .into_iter()
        .enumerate()
        .map(|(id, t)| t.ok_or_else(|| Error::Invalid(format!("{what}: no token has id {id}"))))
        .collect::<Result<Vec<_>>>()?;
    Vocab::with_spelling(texts, kinds, spelling)
}

/// Whether `v` (a decoder, possibly a Sequence) contains a `ByteLevel`.
fn has_byte_level(v: &Value) -> bool {
    match v.get("type").and_then(Value::as_str) {
        Some("ByteLevel") => true,
        Some("Sequence") => v
            .get("decoders")
            .and_then(Value::as_array)
            .is_some_and(|l| l.iter().any(has_byte_level)),
        _ => false,
    }
}

impl Tokenizer {
    /// Parses a Hugging Face `tokenizer.json`.
    pub fn from_json(text: &str) -> Result<Self> {
        let root: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let model = root.get("model").ok_or_else(|| bad("no \"model\""))?;
        match model.get("type").and_then(Value::as_str) {
            Some("BPE") | None => {}
            Some(other) => {
                return Err(bad(format!(
                    "model type {other:?} is not supported; only BPE"
                )))
            }
        }
        if !model.get("dropout").is_none_or(Value::is_null) {
            return Err(bad("BPE dropout is not supported"));
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            match model.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s.is_empty() => {}
                Some(v) => return Err(bad(format!("model.{key} {v} is not supported"))),
            }
        }
        let byte_fallback = flag(model, "byte_fallback", false)?;
        let fuse_unk = flag(model, "fuse_unk", false)?;
        let ignore_merges = flag(model, "ignore_merges", false)?;
        let mut normalizer =
            json_pipeline::normalizer(root.get("normalizer").unwrap_or(&Value::Null))?;
        let split = json_pipeline::pre_tokenizer(
            root.get("pre_tokenizer").unwrap_or(&Value::Null),
            &mut normalizer,
        )?;
        let byte_level = split.byte_level || root.get("decoder").is_some_and(has_byte_level);
        if byte_level && (byte_fallback || normalizer.escape_spaces) {
            return Err(bad(
                "a byte-level BPE cannot also fall back to bytes or write spaces as ▁",
            ));
        }
        let spelling = if byte_level {
            Spelling::ByteLevel
        } else {
            Spelling::Metaspace
        };
        let vocab = model
            .get("vocab")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("model.vocab is missing or not an object"))?;
        let empty = Vec::new();
        let added = match root.get("added_tokens") {
            None | Some(Value::Null) => &empty,
            Some(Value::Array(a)) => a,
            Some(_) => return Err(bad("added_tokens is not a list")),
        };
        let listed = vocab.len() + added.len();
        let mut texts = dense(vocab, listed, "tokenizer.json model.vocab")?;
        let mut kinds = vec![TokenKind::Normal; texts.len()];
        for (i, t) in added.iter().enumerate() {
            let id = t
                .get("id")
                .and_then(Value::as_u64)
                .filter(|&i| i < u32::MAX as u64 / 2);
            let content = t.get("content").and_then(Value::as_str);
            let (Some(id), Some(content)) = (id, content) else {
                return Err(bad(format!(
                    "added_tokens[{i}] needs an integer id and a string content: {t}"
                )));
            };
            if flag(t, "single_word", false)? {
                return Err(bad(format!(
                    "added token {content:?}: single_word=true is not supported"
                )));
            }
            let id = id as usize;
            check_listed(id, listed, "tokenizer.json added_tokens")?;
            if texts.len() <= id {
                texts.resize(id + 1, None);
                kinds.resize(id + 1, TokenKind::Normal);
            }
            texts[id] = Some(content.to_string());
            kinds[id] = if flag(t, "special", false)? {
                TokenKind::Special
            } else {
                TokenKind::UserDefined
            };
        }
        let vocab = finish_vocab(texts, kinds, spelling, "tokenizer.json")?;
        let merges = parse_merges(model.get("merges").unwrap_or(&Value::Null))?;
        let unk = match model.get("unk_token") {
            Some(Value::String(s)) => vocab.id(s),
            _ => None,
        };
        let ids = SpecialIds {
            unk,
            ..Default::default()
        };
        let mut pre = split.pre;
        if !byte_level && normalizer.escape_spaces && pre == PreTokenizer::Whole {
            // Nothing cuts the text: cut it where no token reaches across,
            // which gives the same tokens faster.
            let joined: Vec<String> = merges.iter().map(|(a, b)| format!("{a}{b}")).collect();
            pre = PreTokenizer::Metaspace(Arc::new(MetaspaceSplit::for_texts(
                vocab
                    .texts()
                    .iter()
                    .map(String::as_str)
                    .chain(joined.iter().map(String::as_str)),
                false,
            )));
        }
        let merging = if byte_level {
            Merging::ByteBpe(&merges)
        } else {
            Merging::CharBpe {
                merges: &merges,
                byte_fallback,
                fuse_unk,
            }
        };
        let mut tokenizer = Self::assemble(Parts {
            vocab,
            merging,
            pre,
            normalizer,
            ids,
            add_bos: false,
            ignore_merges,
            whole_newlines: false,
        })
        .map_err(bad)?;
        tokenizer.added_strips(added)?;
        Ok(tokenizer)
    }

    /// [`from_json`](Self::from_json) from a file.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::io::read_text(path)?;
        Self::from_json(&text).map_err(|e| Error::file(path.display(), e))
    }

    /// GPT-2 style `vocab.json` (`encoder.json`) and `merges.txt`
    /// (`vocab.bpe`) contents; `specials` are the token texts that are
    /// special (e.g. `<|endoftext|>`) and must be in the vocabulary.
    pub fn from_vocab_merges(
        vocab_json: &str,
        merges_txt: &str,
        pre: PreTokenizer,
        specials: &[&str],
    ) -> Result<Self> {
        let v: Value = serde_json::from_str(vocab_json)
            .map_err(|e| Error::Invalid(format!("vocab.json: not valid JSON: {e}")))?;
        let map = v
            .as_object()
            .ok_or_else(|| Error::Invalid("vocab.json: not a {token: id} object".into()))?;
        let texts = dense(map, map.len(), "vocab.json")?;
        let mut kinds = vec![TokenKind::Normal; texts.len()];
        for s in specials {
            let id = map.get(*s).and_then(Value::as_u64).ok_or_else(|| {
                Error::NotFound(format!("special token {s:?} is not in vocab.json"))
            })?;
            kinds[id as usize] = TokenKind::Special;
        }
        let vocab = finish_vocab(texts, kinds, Spelling::ByteLevel, "vocab.json")?;
        let mut merges = Vec::new();
        for (i, line) in merges_txt.lines().enumerate() {
            if line.is_empty() || (i == 0 && line.starts_with("#version")) {
                continue;
            }
            let pair = line
                .split_once(' ')
                .filter(|(_, b)| !b.contains(' '))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "merges.txt line {}: {line:?} is not two tokens separated by one space",
                        i + 1
                    ))
                })?;
            merges.push(pair);
        }
        let eot = specials.first().and_then(|s| vocab.id(s));
        let ids = SpecialIds {
            bos: eot,
            eos: eot,
            ..Default::default()
        };
        Self::build(vocab, &merges, pre, ids, false, false)
            .map_err(|e| Error::Invalid(format!("merges.txt: {e}")))
    }

    /// [`from_vocab_merges`](Self::from_vocab_merges) from files.
    pub fn from_vocab_merges_files(
        vocab: impl AsRef<Path>,
        merges: impl AsRef<Path>,
        pre: PreTokenizer,
        specials: &[&str],
    ) -> Result<Self> {
        let read = |p: &Path| crate::io::read_text(p);
        Self::from_vocab_merges(
            &read(vocab.as_ref())?,
            &read(merges.as_ref())?,
            pre,
            specials,
        )
    }

    /// Applies the `lstrip` / `rstrip` flags of tokenizer.json's added
    /// tokens.
    fn added_strips(&mut self, added: &[Value]) -> Result<()> {
        for t in added {
            let (l, r) = (flag(t, "lstrip", false)?, flag(t, "rstrip", false)?);
            if l || r {
                if let Some(id) = t.get("id").and_then(Value::as_u64) {
                    self.added.set_strip(id as u32, l, r);
                }
            }
        }
        Ok(())
    }
}
