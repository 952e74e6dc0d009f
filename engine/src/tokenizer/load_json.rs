//! Loading and saving Hugging Face `tokenizer.json`, and loading GPT-2's
//! `vocab.json` + `merges.txt`.
//!
//! Supported: a `BPE` model (no dropout, no subword prefix/suffix, no byte
//! fallback), normalizer `null` (or `NFC`, which we do not apply: input is
//! assumed to be NFC already), and one of the pre-tokenizers in
//! [`PreTokenizer`] written as `ByteLevel`, `Sequence[Digits, ByteLevel]`
//! or `Sequence[Split(regex), ByteLevel(use_regex=false)]`. Anything else is
//! an error naming what is unsupported.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::pretokenize::{LLAMA3_PATTERN, QWEN2_PATTERN};
use super::vocab::{TokenKind, Vocab};
use super::{PreTokenizer, SpecialIds, Tokenizer};
use crate::{Error, Result};

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("tokenizer.json: {msg}"))
}

fn flag(v: &Value, key: &str, default: bool) -> Result<bool> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(format!("{key} should be true or false, not {other}"))),
    }
}

fn parse_pre(v: &Value) -> Result<PreTokenizer> {
    let kind = |v: &Value| {
        v.get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let byte_level = |v: &Value, regex: bool| -> Result<()> {
        if kind(v) != "ByteLevel" {
            return Err(bad(format!(
                "expected a ByteLevel pre-tokenizer, found {}",
                kind(v)
            )));
        }
        if flag(v, "add_prefix_space", false)? {
            return Err(bad("ByteLevel add_prefix_space=true is not supported"));
        }
        if flag(v, "use_regex", true)? != regex {
            return Err(bad(format!("ByteLevel use_regex should be {regex} here")));
        }
        Ok(())
    };
    match kind(v).as_str() {
        "ByteLevel" => {
            byte_level(v, true)?;
            Ok(PreTokenizer::Gpt2)
        }
        "Sequence" => {
            let list = v
                .get("pretokenizers")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("Sequence pre-tokenizer without a pretokenizers list"))?;
            match list.as_slice() {
                [d, b] if kind(d) == "Digits" => {
                    if !flag(d, "individual_digits", false)? {
                        return Err(bad(
                            "Digits pre-tokenizer without individual_digits is not supported",
                        ));
                    }
                    byte_level(b, true)?;
                    Ok(PreTokenizer::SmolLm)
                }
                [s, b] if kind(s) == "Split" => {
                    byte_level(b, false)?;
                    let pattern = s
                        .get("pattern")
                        .and_then(|p| p.get("Regex"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad("Split pre-tokenizer without a Regex pattern"))?;
                    let behavior = s.get("behavior").and_then(Value::as_str).unwrap_or("");
                    if behavior != "Isolated" || flag(s, "invert", false)? {
                        return Err(bad(format!(
                            "Split behavior {behavior:?} (invert {}) is not supported; only Isolated",
                            flag(s, "invert", false)?
                        )));
                    }
                    PreTokenizer::from_pattern(pattern).ok_or_else(|| {
                        bad(format!(
                            "unsupported Split regex {pattern:?}; supported: GPT-2's, Llama 3's, Qwen 2's"
                        ))
                    })
                }
                [b] => parse_pre(b),
                _ => Err(bad(format!(
                    "unsupported pre-tokenizer sequence [{}]",
                    list.iter().map(kind).collect::<Vec<_>>().join(", ")
                ))),
            }
        }
        "" if v.is_null() => Err(bad(
            "pre_tokenizer is null; only byte-level BPE is supported",
        )),
        other => Err(bad(format!("unsupported pre-tokenizer {other:?}"))),
    }
}

/// The value JSON would hold for `pre`.
fn pre_json(pre: PreTokenizer) -> Value {
    let byte_level = |regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": regex});
    let split = |p: &str| {
        json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": false},
            byte_level(false)]})
    };
    match pre {
        PreTokenizer::Gpt2 => byte_level(true),
        PreTokenizer::SmolLm => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        PreTokenizer::Llama3 => split(LLAMA3_PATTERN),
        PreTokenizer::Qwen2 => split(QWEN2_PATTERN),
    }
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

fn finish_vocab(texts: Vec<Option<String>>, kinds: Vec<TokenKind>, what: &str) -> Result<Vocab> {
    let texts = texts
        .into_iter()
        .enumerate()
        .map(|(id, t)| t.ok_or_else(|| Error::Invalid(format!("{what}: no token has id {id}"))))
        .collect::<Result<Vec<_>>>()?;
    Vocab::new(texts, kinds)
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
        if flag(model, "byte_fallback", false)? {
            return Err(bad("byte_fallback BPE is not supported (not byte-level)"));
        }
        let ignore_merges = flag(model, "ignore_merges", false)?;
        let nfc = match root.get("normalizer") {
            None | Some(Value::Null) => false,
            Some(n) if n.get("type").and_then(Value::as_str) == Some("NFC") => true,
            Some(n) => {
                return Err(bad(format!(
                    "normalizer {n} is not supported; only null or NFC"
                )))
            }
        };
        let pre = parse_pre(root.get("pre_tokenizer").unwrap_or(&Value::Null))?;
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
            for key in ["single_word", "lstrip", "rstrip"] {
                if flag(t, key, false)? {
                    return Err(bad(format!(
                        "added token {content:?}: {key}=true is not supported"
                    )));
                }
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
        let vocab = finish_vocab(texts, kinds, "tokenizer.json")?;
        let merges = parse_merges(model.get("merges").unwrap_or(&Value::Null))?;
        let unk = match model.get("unk_token") {
            Some(Value::String(s)) => vocab.id(s),
            _ => None,
        };
        let ids = SpecialIds {
            unk,
            ..Default::default()
        };
        let mut tokenizer =
            Self::build(vocab, &merges, pre, ids, false, ignore_merges).map_err(bad)?;
        tokenizer.nfc = nfc;
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
        let vocab = finish_vocab(texts, kinds, "vocab.json")?;
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

    /// This tokenizer as a Hugging Face `tokenizer.json`.
    pub fn to_json(&self) -> String {
        let texts = self.vocab_texts();
        let mut vocab = Map::new();
        let mut added = Vec::new();
        for (id, t) in texts.iter().enumerate() {
            if let Some(k @ (TokenKind::Special | TokenKind::UserDefined)) =
                self.token_kind(id as u32)
            {
                added.push(json!({
                    "id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": k == TokenKind::Special,
                }));
            }
            vocab.entry(t.clone()).or_insert(json!(id));
        }
        let merges: Vec<Value> = self
            .merges()
            .iter()
            .map(|&(a, b)| json!([texts[a as usize], texts[b as usize]]))
            .collect();
        let root = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": pre_json(self.pre_tokenizer()),
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                "ignore_merges": self.whole_words.is_some(), "vocab": vocab, "merges": merges,
            },
        });
        serde_json::to_string(&root).unwrap_or_default()
    }
}
