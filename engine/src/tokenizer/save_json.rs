//! Saving a tokenizer as a Hugging Face `tokenizer.json` that `tokenizers`
//! loads to the same ids: byte-level BPE (what the trainer makes) and BPE
//! over characters. SentencePiece's score merges have no exact form there,
//! and WordPiece is not written.

use serde_json::{json, Map, Value};

use super::normalize::PrefixSpace;
use super::pretokenize::{PreTokenizer, Scanner};
use super::regex_split::{Behavior, Finder, RegexSplit};
use super::vocab::TokenKind;
use super::{Algorithm, Tokenizer};
use crate::{Error, Result};

fn byte_level(regex: bool) -> Value {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": regex})
}

fn split(pattern: &str, behavior: Behavior, invert: bool) -> Value {
    json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": format!("{behavior:?}"), "invert": invert})
}

/// The steps of `r` as tokenizers' pre-tokenizers.
fn steps_json(r: &RegexSplit) -> Vec<Value> {
    r.steps
        .iter()
        .map(|s| match &s.finder {
            Finder::Scanner(Scanner::Gpt2) => byte_level(true),
            Finder::Scanner(sc) => {
                let p = PreTokenizer::from_gguf_name(sc.name())
                    .ok()
                    .and_then(|p| pattern_of(&p))
                    .unwrap_or_default();
                split(p, Behavior::Isolated, false)
            }
            Finder::Regex(re) => split(re.as_str(), s.behavior, s.invert),
        })
        .collect()
}

/// The regex a scanner does, where one regex says it all.
fn pattern_of(pre: &PreTokenizer) -> Option<&'static str> {
    use super::pretokenize::{LLAMA3_PATTERN, QWEN2_PATTERN, QWEN35_PATTERN};
    match pre {
        PreTokenizer::Llama3 => Some(LLAMA3_PATTERN),
        PreTokenizer::Qwen2 => Some(QWEN2_PATTERN),
        PreTokenizer::Qwen35 => Some(QWEN35_PATTERN),
        _ => None,
    }
}

/// The `pre_tokenizer` value; `bytes`: the model is byte-level.
fn pre_json(pre: &PreTokenizer, bytes: bool) -> Value {
    let mut list = match pre {
        PreTokenizer::Gpt2 => return byte_level(true),
        PreTokenizer::SmolLm => {
            return json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true}, byte_level(true)]})
        }
        PreTokenizer::Llama3 | PreTokenizer::Qwen2 | PreTokenizer::Qwen35 => {
            vec![split(
                pattern_of(pre).unwrap_or_default(),
                Behavior::Isolated,
                false,
            )]
        }
        PreTokenizer::Regex(r) => steps_json(r),
        // The Metaspace cut only speeds things up: it never changes ids.
        PreTokenizer::Whole | PreTokenizer::Metaspace(_) => vec![],
    };
    if bytes {
        list.push(byte_level(false));
    }
    match list.len() {
        0 => Value::Null,
        1 => list.remove(0),
        _ => json!({"type": "Sequence", "pretokenizers": list}),
    }
}

impl Tokenizer {
    /// This tokenizer as a Hugging Face `tokenizer.json`. SentencePiece
    /// (score-merging) tokenizers cannot be written so: an error.
    pub fn to_json(&self) -> Result<String> {
        let Algorithm::Bpe(bpe) = &self.algorithm else {
            return Err(Error::Invalid(format!(
                "a {} tokenizer cannot be saved as tokenizer.json here (only BPE can)",
                self.family().name()
            )));
        };
        let bytes = !bpe.is_char_level();
        let n = &self.normalizer;
        if n.prefix == PrefixSpace::FirstRun
            || (n.prefix != PrefixSpace::Never && n.prefix_only_if_missing)
        {
            return Err(Error::Invalid(
                "this tokenizer's leading space has no tokenizer.json normalizer".into(),
            ));
        }
        let mut normalizers = vec![];
        if n.nfc {
            normalizers.push(json!({"type": "NFC"}));
        }
        if n.prefix == PrefixSpace::EachRun {
            normalizers.push(json!({"type": "Prepend", "prepend": "▁"}));
        }
        if n.escape_spaces {
            normalizers
                .push(json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"}));
        }
        let normalizer = match normalizers.len() {
            0 => Value::Null,
            1 => normalizers.remove(0),
            _ => json!({"type": "Sequence", "normalizers": normalizers}),
        };
        let texts = self.vocab_texts();
        let mut vocab = Map::new();
        let mut added = Vec::new();
        for (id, t) in texts.iter().enumerate() {
            if let Some(k @ (TokenKind::Special | TokenKind::UserDefined)) =
                self.token_kind(id as u32)
            {
                let (lstrip, rstrip) = self.added.strip_of(id as u32);
                added.push(json!({
                    "id": id, "content": t, "single_word": false, "lstrip": lstrip, "rstrip": rstrip,
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
        let (byte_fallback, fuse_unk) = bpe.fallback_options().unwrap_or((false, false));
        let decoder = if bytes {
            byte_level(true)
        } else {
            let mut list = vec![
                json!({"type": "Replace", "pattern": {"String": "▁"}, "content": " "}),
                json!({"type": "ByteFallback"}),
                json!({"type": "Fuse"}),
            ];
            if n.prefix != PrefixSpace::Never {
                list.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
            }
            json!({"type": "Sequence", "decoders": list})
        };
        let unk = self.unk.and_then(|id| self.token_text(id));
        let root = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": normalizer,
            "pre_tokenizer": pre_json(self.pre_tokenizer(), bytes),
            "post_processor": null,
            "decoder": decoder,
            "model": {
                "type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": fuse_unk, "byte_fallback": byte_fallback,
                "ignore_merges": self.whole_words.is_some(), "vocab": vocab, "merges": merges,
            },
        });
        serde_json::to_string(&root)
            .map_err(|e| Error::Invalid(format!("cannot write tokenizer.json: {e}")))
    }
}
