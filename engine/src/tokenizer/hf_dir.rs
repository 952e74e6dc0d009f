//! The tokenizer of a Hugging Face model folder: `tokenizer.json` (or GPT-2's
//! `vocab.json` + `merges.txt`), with the special tokens and the BOS policy
//! that `tokenizer_config.json` and `config.json` declare.
//!
//! Which file wins:
//! - BOS / EOS / UNK / PAD: `tokenizer_config.json`'s `bos_token` etc. (a
//!   string or `{"content": ...}`; an explicit `null` means none), else
//!   `config.json`'s `bos_token_id` / `eos_token_id` (the first, if a list).
//! - Adding BOS when encoding: `tokenizer_config.json`'s `add_bos_token`,
//!   else whether `tokenizer.json`'s post-processor starts every sequence
//!   with the BOS token (Llama-style `TemplateProcessing`).

use std::path::Path;

use serde_json::Value;

use super::{PreTokenizer, SpecialIds, Tokenizer};
use crate::{Error, Result};

/// What a JSON file says about one special token.
enum Declared {
    /// The key is absent: ask the next file.
    Unsaid,
    /// `null`: the model has none.
    None,
    Text(String),
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = crate::io::read_text(path)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::file(path.display(), format!("not valid JSON: {e}")))
}

fn declared(config: Option<&Value>, key: &str) -> Declared {
    match config.and_then(|c| c.get(key)) {
        None => Declared::Unsaid,
        Some(Value::Null) => Declared::None,
        Some(Value::String(s)) => Declared::Text(s.clone()),
        Some(v) => match v.get("content").and_then(Value::as_str) {
            Some(s) => Declared::Text(s.to_string()),
            None => Declared::Unsaid,
        },
    }
}

/// `config.json`'s `key` (a number or a list of numbers; the first).
fn config_id(config: Option<&Value>, key: &str) -> Option<u32> {
    let v = config?.get(key)?;
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    v.as_u64().and_then(|id| u32::try_from(id).ok())
}

impl Tokenizer {
    /// The tokenizer of the Hugging Face model folder `dir`.
    pub fn from_hf_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let tok_config_path = dir.join("tokenizer_config.json");
        let tok_config = read_json(&tok_config_path)?;
        let model_config = read_json(&dir.join("config.json"))?;
        let json_path = dir.join("tokenizer.json");
        // OpenAI's original GPT-2 release names the same files encoder.json
        // and vocab.bpe.
        let (vocab_path, merges_path) =
            [("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")]
                .map(|(v, m)| (dir.join(v), dir.join(m)))
                .into_iter()
                .find(|(v, m)| v.is_file() && m.is_file())
                .unwrap_or_else(|| (dir.join("vocab.json"), dir.join("merges.txt")));

        let names = ["bos_token", "eos_token", "unk_token", "pad_token"]
            .map(|key| declared(tok_config.as_ref(), key));
        let mut post_processor_bos = None;
        let mut tok = if json_path.is_file() {
            let text = crate::io::read_text(&json_path)?;
            let tok =
                Tokenizer::from_json(&text).map_err(|e| Error::file(json_path.display(), e))?;
            post_processor_bos = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|root| leading_special(root.get("post_processor")?));
            tok
        } else if vocab_path.is_file() && merges_path.is_file() {
            // GPT-2's files: the special tokens are the declared ones that
            // vocab.json holds (GPT-2 declares `<|endoftext|>` for all four).
            let mut specials: Vec<&str> = names
                .iter()
                .filter_map(|n| match n {
                    Declared::Text(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect();
            specials.dedup();
            if specials.is_empty() {
                // Nothing declared: GPT-2's one special token.
                specials.push("<|endoftext|>");
            }
            Tokenizer::from_vocab_merges_files(
                &vocab_path,
                &merges_path,
                PreTokenizer::Gpt2,
                &specials,
            )?
        } else {
            return Err(Error::NotFound(format!(
                "{}: no tokenizer.json, nor vocab.json with merges.txt (or encoder.json with vocab.bpe)",
                dir.display()
            )));
        };

        let current = tok.special_ids();
        let resolve = |i: usize, config_key: Option<&str>, current: Option<u32>| match &names[i] {
            Declared::Text(s) => tok.token_to_id(s).map(Some).ok_or_else(|| {
                Error::file(
                    tok_config_path.display(),
                    format!("special token {s:?} is not in the vocabulary"),
                )
            }),
            Declared::None => Ok(None),
            Declared::Unsaid => Ok(config_key
                .and_then(|k| config_id(model_config.as_ref(), k))
                .or(current)),
        };
        let ids = SpecialIds {
            bos: resolve(0, Some("bos_token_id"), current.bos)?,
            eos: resolve(1, Some("eos_token_id"), current.eos)?,
            unk: resolve(2, None, current.unk)?,
            pad: resolve(3, Some("pad_token_id"), current.pad)?,
        };
        tok.set_special_ids(ids)?;
        tok.add_bos = match tok_config.as_ref().and_then(|c| c.get("add_bos_token")) {
            Some(Value::Bool(b)) => *b,
            _ => ids.bos.is_some() && post_processor_bos.is_some_and(|s| Some(s) == ids.bos),
        };
        Ok(tok)
    }
}

/// The id of the special token a `TemplateProcessing` post-processor puts
/// first in a single sequence (`"<s> $A"`), if any.
fn leading_special(post: &Value) -> Option<u32> {
    let post = match post.get("type")?.as_str()? {
        "TemplateProcessing" => post,
        // A Sequence of processors (ByteLevel, then the template).
        "Sequence" => post
            .get("processors")?
            .as_array()?
            .iter()
            .find(|p| p.get("type").and_then(Value::as_str) == Some("TemplateProcessing"))?,
        _ => return None,
    };
    let first = post.get("single")?.as_array()?.first()?;
    let name = first.get("SpecialToken")?.get("id")?.as_str()?;
    let ids = post
        .get("special_tokens")?
        .get(name)?
        .get("ids")?
        .as_array()?;
    match ids.as_slice() {
        [id] => id.as_u64().and_then(|id| u32::try_from(id).ok()),
        _ => None,
    }
}
