//! Loading the tokenizer a GGUF file carries in its `tokenizer.ggml.*`
//! metadata, as llama.cpp reads it.
//!
//! `tokenizer.ggml.model` names the family: `gpt2` (byte-level BPE, with
//! `tokenizer.ggml.pre` naming how text is cut), `llama` (SentencePiece:
//! scores, `▁` for spaces, a leading space, `<0xXX>` byte tokens) and
//! `gemma4` (BPE over SentencePiece-spelled text, cut at newlines) and
//! `bert` (WordPiece). Where a
//! key is missing, llama.cpp's defaults for that family apply.

use std::sync::Arc;

use super::normalize::{Normalizer, PrefixSpace};
use super::pretokenize::{MetaspaceSplit, PreTokenizer};
use super::vocab::{Spelling, TokenKind, Vocab};
use super::{Merging, Parts, SpecialIds, Tokenizer};
use crate::error::{Error, Result};
use crate::io::Metadata;

/// The `tokenizer.ggml.*` values of a GGUF file.
#[derive(Clone, Debug, Default)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: `gpt2`, `llama` or `gemma4`.
    pub model: String,
    pub tokens: Vec<String>,
    /// 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    pub token_types: Option<Vec<i32>>,
    /// SentencePiece scores (needed for `llama`).
    pub scores: Option<Vec<f32>>,
    /// `"Ġ t"`: two tokens and a space (BPE).
    pub merges: Vec<String>,
    /// `tokenizer.ggml.pre` (BPE).
    pub pre: Option<String>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    pub add_bos: Option<bool>,
    pub add_space_prefix: Option<bool>,
    /// WordPiece's normalizer (`tokenizer.ggml.normalizer.*`).
    pub lowercase: Option<bool>,
    pub strip_accents: Option<bool>,
}

impl GgufVocab {
    /// The values in `meta`; a file without tokenizer metadata is an error
    /// that says so.
    pub fn read(meta: &Metadata) -> Result<Self> {
        if !meta.contains("tokenizer.ggml.model") {
            return Err(Error::NotFound(format!(
                "{}: the file has no tokenizer (no tokenizer.ggml.* metadata)",
                meta.source()
            )));
        }
        let id = |key: &str| -> Result<Option<u32>> {
            let key = format!("tokenizer.ggml.{key}");
            meta.contains(&key).then(|| meta.get_u32(&key)).transpose()
        };
        let flag = |key: &str| -> Result<Option<bool>> {
            let key = format!("tokenizer.ggml.{key}");
            meta.contains(&key).then(|| meta.get_bool(&key)).transpose()
        };
        let has = |key: &str| meta.contains(&format!("tokenizer.ggml.{key}"));
        let model = meta.get_str("tokenizer.ggml.model")?;
        check_model(model)?;
        Ok(Self {
            model: model.to_string(),
            tokens: meta.get_str_array("tokenizer.ggml.tokens")?.to_vec(),
            token_types: has("token_type")
                .then(|| {
                    meta.get_i32_array("tokenizer.ggml.token_type")
                        .map(<[i32]>::to_vec)
                })
                .transpose()?,
            scores: has("scores")
                .then(|| {
                    meta.get_f32_array("tokenizer.ggml.scores")
                        .map(<[f32]>::to_vec)
                })
                .transpose()?,
            merges: if has("merges") {
                meta.get_str_array("tokenizer.ggml.merges")?.to_vec()
            } else if model != "llama" && model != "bert" {
                // (A byte-level vocabulary may have no merges at all, but
                // it says so with an empty list.)
                return Err(Error::Invalid(format!(
                    "{}: a BPE vocabulary needs tokenizer.ggml.merges, which the file lacks",
                    meta.source()
                )));
            } else {
                Vec::new()
            },
            pre: has("pre")
                .then(|| meta.get_str("tokenizer.ggml.pre").map(str::to_string))
                .transpose()?,
            // BERT names its first token the CLS token.
            bos: id("bos_token_id")?.or(id("cls_token_id")?),
            eos: id("eos_token_id")?,
            unk: id("unknown_token_id")?,
            pad: id("padding_token_id")?,
            add_bos: flag("add_bos_token")?,
            add_space_prefix: flag("add_space_prefix")?,
            lowercase: flag("normalizer.lowercase")?,
            strip_accents: flag("normalizer.strip_accents")?,
        })
    }
}

impl Tokenizer {
    /// The tokenizer described by a GGUF file's metadata.
    pub fn from_gguf(meta: &Metadata) -> Result<Tokenizer> {
        let vocab = GgufVocab::read(meta)?;
        Tokenizer::from_gguf_vocab(vocab)
            .map_err(|e| Error::Invalid(format!("{}: tokenizer: {e}", meta.source())))
    }

    /// The tokenizer these `tokenizer.ggml.*` values describe.
    pub fn from_gguf_vocab(v: GgufVocab) -> Result<Tokenizer> {
        check_model(&v.model)?;
        match v.model.as_str() {
            "llama" => sentencepiece(v),
            "gemma4" => gemma4(v),
            "bert" => wordpiece(v),
            _ => byte_level_bpe(v),
        }
    }
}

/// Refuses a `tokenizer.ggml.model` we do not implement, by name.
fn check_model(model: &str) -> Result<()> {
    match model {
        "gpt2" | "llama" | "gemma4" | "bert" => Ok(()),
        "t5" | "rwkv" | "plamo2" | "no_vocab" | "none" => Err(Error::Invalid(format!(
            "tokenizer model `{model}` is not supported (supported: gpt2, llama, gemma4, bert)"
        ))),
        other => Err(Error::Invalid(format!(
            "unknown tokenizer model `{other}` (tokenizer.ggml.model; supported: gpt2, llama, gemma4, bert)"
        ))),
    }
}

/// Token kinds from `token_type`; without it, the named special tokens are
/// special, SentencePiece's `<0xXX>` are byte tokens and the rest normal.
fn kinds(v: &GgufVocab, ids: &SpecialIds) -> Result<Vec<TokenKind>> {
    let n = v.tokens.len();
    match &v.token_types {
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
                    1 => Ok(TokenKind::Normal),
                    3 => Ok(TokenKind::Special),
                    4 => Ok(TokenKind::UserDefined),
                    6 => Ok(TokenKind::Byte),
                    2 | 5 => Ok(TokenKind::Other),
                    _ => Err(Error::Invalid(format!(
                        "token {id} ({:?}) has unknown token type {t}",
                        v.tokens[id]
                    ))),
                })
                .collect()
        }
        None => {
            // Without types, SentencePiece's `<0xXX>` tokens are its byte
            // tokens still.
            let bytes = v.model != "gpt2";
            let mut k: Vec<TokenKind> = v
                .tokens
                .iter()
                .map(|t| match super::vocab::byte_token_value(t) {
                    Some(_) if bytes => TokenKind::Byte,
                    _ => TokenKind::Normal,
                })
                .collect();
            for id in [ids.bos, ids.eos, ids.unk, ids.pad].into_iter().flatten() {
                if let Some(x) = k.get_mut(id as usize) {
                    *x = TokenKind::Special;
                }
            }
            Ok(k)
        }
    }
}

/// `"a b"` merges as pairs.
fn merge_pairs(merges: &[String]) -> Result<Vec<(&str, &str)>> {
    merges
        .iter()
        .enumerate()
        .map(|(i, m)| {
            // The first character may itself be a space (llama.cpp looks
            // for the separator from the second byte on).
            let cut = m
                .char_indices()
                .skip(1)
                .find(|&(_, c)| c == ' ')
                .map(|(at, _)| at);
            cut.map(|at| (&m[..at], &m[at + 1..])).ok_or_else(|| {
                Error::Invalid(format!(
                    "merge {i} ({m:?}) is not two tokens separated by a space"
                ))
            })
        })
        .collect()
}

/// Special ids: the file's, else the family's defaults (dropped if outside
/// the vocabulary, as llama.cpp does).
fn special_ids(v: &GgufVocab, defaults: SpecialIds) -> SpecialIds {
    let n = v.tokens.len() as u32;
    let pick = |given: Option<u32>, default: Option<u32>| given.or(default.filter(|&d| d < n));
    SpecialIds {
        bos: pick(v.bos, defaults.bos),
        eos: pick(v.eos, defaults.eos),
        unk: pick(v.unk, defaults.unk),
        pad: pick(v.pad, defaults.pad),
    }
}

/// GGUF `gpt2`.
fn byte_level_bpe(v: GgufVocab) -> Result<Tokenizer> {
    // Files written before `tokenizer.ggml.pre` existed split text as
    // GPT-2 does.
    let pre_name = v.pre.as_deref().unwrap_or("gpt2");
    let pre = PreTokenizer::from_gguf_name(pre_name)?;
    let ids = special_ids(&v, SpecialIds::default());
    let kinds = kinds(&v, &ids)?;
    let add_bos = v.add_bos.unwrap_or(super::pre_names::adds_bos(pre_name));
    let ignore_merges = super::pre_names::ignores_merges(pre_name);
    let merges = merge_pairs(&v.merges)?;
    let vocab = Vocab::new(v.tokens, kinds)?;
    Tokenizer::build(vocab, &merges, pre, ids, add_bos, ignore_merges)
}

/// GGUF `llama`: SentencePiece.
fn sentencepiece(mut v: GgufVocab) -> Result<Tokenizer> {
    let scores = v.scores.take().ok_or_else(|| {
        Error::Invalid(
            "a SentencePiece vocabulary (tokenizer.ggml.model = llama) needs \
             tokenizer.ggml.scores, which the file lacks"
                .into(),
        )
    })?;
    let ids = special_ids(
        &v,
        SpecialIds {
            bos: Some(1),
            eos: Some(2),
            unk: Some(0),
            pad: None,
        },
    );
    let kinds = kinds(&v, &ids)?;
    let pre = PreTokenizer::Metaspace(Arc::new(MetaspaceSplit::for_texts(
        v.tokens.iter().map(String::as_str),
        false,
    )));
    let normalizer = Normalizer {
        prefix: if v.add_space_prefix.unwrap_or(true) {
            PrefixSpace::EachRun
        } else {
            PrefixSpace::Never
        },
        escape_spaces: true,
        ..Default::default()
    };
    let add_bos = v.add_bos.unwrap_or(true);
    let vocab = Vocab::with_spelling(v.tokens, kinds, Spelling::Metaspace)?;
    Tokenizer::assemble(Parts {
        vocab,
        merging: Merging::Spm(scores),
        pre,
        normalizer,
        ids,
        add_bos,
        ignore_merges: false,
        whole_newlines: false,
    })
}

/// GGUF `bert`: WordPiece.
fn wordpiece(v: GgufVocab) -> Result<Tokenizer> {
    let ids = special_ids(
        &v,
        SpecialIds {
            bos: Some(101),
            eos: None,
            unk: Some(100),
            pad: Some(0),
        },
    );
    let kinds = kinds(&v, &ids)?;
    let lowercase = v.lowercase.unwrap_or(true);
    let strip_accents = v.strip_accents.unwrap_or(lowercase);
    let vocab = Vocab::with_spelling(v.tokens, kinds, Spelling::Metaspace)?;
    Tokenizer::assemble(Parts {
        vocab,
        merging: Merging::WordPiece {
            lowercase,
            strip_accents,
        },
        pre: PreTokenizer::Whole,
        normalizer: Normalizer::default(),
        ids,
        add_bos: v.add_bos.unwrap_or(true),
        ignore_merges: false,
        whole_newlines: false,
    })
}

/// GGUF `gemma4`: BPE merges over SentencePiece-spelled characters.
fn gemma4(v: GgufVocab) -> Result<Tokenizer> {
    let ids = special_ids(&v, SpecialIds::default());
    let kinds = kinds(&v, &ids)?;
    let merges = merge_pairs(&v.merges)?;
    // Merges may produce strings the vocabulary lacks: they count for where
    // text may be cut too.
    let joined: Vec<String> = merges.iter().map(|(a, b)| format!("{a}{b}")).collect();
    let pre = PreTokenizer::Metaspace(Arc::new(MetaspaceSplit::for_texts(
        v.tokens
            .iter()
            .map(String::as_str)
            .chain(joined.iter().map(String::as_str)),
        true,
    )));
    let normalizer = Normalizer {
        escape_spaces: true,
        ..Default::default()
    };
    let vocab = Vocab::with_spelling(v.tokens, kinds, Spelling::Metaspace)?;
    Tokenizer::assemble(Parts {
        vocab,
        merging: Merging::CharBpe {
            merges: &merges,
            byte_fallback: true,
            fuse_unk: false,
        },
        pre,
        normalizer,
        ids,
        // llama.cpp adds BOS for Gemma 4 whatever the file says.
        add_bos: true,
        ignore_merges: false,
        whole_newlines: true,
    })
}
