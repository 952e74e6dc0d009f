//! Tokenizers in scripts, with or without a model: `load_tokenizer(name)`
//! opens any vocabulary (a GGUF file, a tokenizer.json, a Hugging Face
//! folder, a short model name) without loading weights, and `m.tokenizer`
//! is a loaded model's. Both answer `encode`, `decode`, `tokens`,
//! `show_tokens`, `pieces`, `token`, `vocab_size` and `family`.

use super::convert::{engine_err, int_array, runtime, token_ids, ScriptResult};
use super::model_api::ModelHandle;
use super::register::{func, getter};
use crate::tokenizer::Tokenizer;
use crate::LanguageModel;
use rhai::{Array, Dynamic, Engine, Map, INT};
use std::sync::Arc;

/// A tokenizer of its own, or a loaded model's.
#[derive(Clone)]
pub enum TokenizerHandle {
    Own(Arc<Tokenizer>, String),
    Model(Arc<LanguageModel>),
}

impl TokenizerHandle {
    pub fn get(&self) -> &Tokenizer {
        match self {
            Self::Own(t, _) => t,
            Self::Model(lm) => &lm.tokenizer,
        }
    }

    /// A one-line summary.
    pub fn describe(&self) -> String {
        let t = self.get();
        let source = match self {
            Self::Own(_, source) => source.clone(),
            Self::Model(lm) => lm.path.display().to_string(),
        };
        format!(
            "Tokenizer({source}: {}, {} tokens, pre-tokenizer {})",
            t.family().name(),
            t.vocab_size(),
            t.pre_tokenizer().name()
        )
    }

    fn show(&self, ids: Vec<u32>) -> crate::rich::TokenView {
        let t = self.get();
        crate::rich::TokenView {
            tokens: ids
                .into_iter()
                .map(|id| (id, t.token_display(id).unwrap_or_default()))
                .collect(),
        }
    }
}

/// `#{special, bos}` for encoding: special tokens parsed and BOS as the
/// model asks, unless the map says otherwise.
fn encode_options(t: &Tokenizer, options: &Map) -> ScriptResult<(bool, bool)> {
    let mut special = true;
    let mut bos = t.add_bos_default();
    for (key, value) in options {
        let flag = value
            .as_bool()
            .map_err(|_| runtime(format!("encode: option {key} should be true or false")))?;
        match key.as_str() {
            "special" => special = flag,
            "bos" => bos = flag,
            other => {
                return Err(runtime(format!(
                    "encode: unknown option {other} (known: special, bos)"
                )))
            }
        }
    }
    Ok((special, bos))
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<TokenizerHandle>("Tokenizer");
    func(
        "load_tokenizer",
        "Open a tokenizer without a model: a GGUF file, a tokenizer.json, a Hugging Face folder,\nor a short model name (smollm2, gemma3).",
    )
    .register_into_engine(engine, |name: &str| -> ScriptResult<TokenizerHandle> {
        let path = crate::load::resolve_model_path(name).map_err(engine_err)?;
        let t = Tokenizer::open(&path).map_err(engine_err)?;
        Ok(TokenizerHandle::Own(Arc::new(t), path.display().to_string()))
    });
    getter("tokenizer", "The model's tokenizer.")
        .register_into_engine(engine, |m: &mut ModelHandle| {
            TokenizerHandle::Model(m.lm.clone())
        });
    func(
        "encode",
        "Token ids of a text (special tokens such as <|im_start|> parsed; BOS added if the model asks).",
    )
    .register_into_engine(engine, |t: &mut TokenizerHandle, text: &str| {
        let tok = t.get();
        int_array(tok.encode(text, true, tok.add_bos_default()))
    });
    func(
        "encode",
        "Token ids of a text, with options #{ special: parse special tokens (true), bos: add BOS (as the model asks) }.",
    )
    .register_into_engine(
        engine,
        |t: &mut TokenizerHandle, text: &str, options: Map| -> ScriptResult<Array> {
            let tok = t.get();
            let (special, bos) = encode_options(tok, &options)?;
            Ok(int_array(tok.encode(text, special, bos)))
        },
    );
    func("decode", "The text of an array of token ids.").register_into_engine(
        engine,
        |t: &mut TokenizerHandle, ids: Array| -> ScriptResult<String> {
            let tok = t.get();
            let ids = token_ids(&ids, tok.vocab_size())?;
            tok.decode_lossy(&ids).map_err(engine_err)
        },
    );
    func(
        "tokens",
        "The tokens of a text as a person reads them (bytes that are not text on their own as \\xNN).",
    )
    .register_into_engine(engine, |t: &mut TokenizerHandle, text: &str| -> Array {
        let tok = t.get();
        tok.encode(text, true, tok.add_bos_default())
            .into_iter()
            .map(|id| Dynamic::from(tok.token_display(id).unwrap_or_default()))
            .collect()
    });
    func(
        "show_tokens",
        "The tokens of a text with their boundaries visible (coloured spans in notebooks, a list in the REPL).",
    )
    .register_into_engine(engine, |t: &mut TokenizerHandle, text: &str| {
        let tok = t.get();
        t.show(tok.encode(text, true, tok.add_bos_default()))
    });
    func(
        "pieces",
        "How the text is cut before merging, as the tokenizer spells it (SentencePiece writes spaces as ▁).",
    )
    .register_into_engine(engine, |t: &mut TokenizerHandle, text: &str| -> Array {
        t.get().pieces(text).into_iter().map(Dynamic::from).collect()
    });
    func("token", "The display string of one token id.").register_into_engine(
        engine,
        |t: &mut TokenizerHandle, id: INT| -> ScriptResult<String> {
            let tok = t.get();
            u32::try_from(id)
                .ok()
                .and_then(|id| tok.token_display(id))
                .ok_or_else(|| {
                    runtime(format!(
                        "token id {id} is outside the vocabulary of {}",
                        tok.vocab_size()
                    ))
                })
        },
    );
    getter("vocab_size", "How many tokens the vocabulary has.")
        .register_into_engine(engine, |t: &mut TokenizerHandle| {
            t.get().vocab_size() as INT
        });
    getter(
        "family",
        "The kind of tokenizer: byte-level BPE, BPE with byte fallback, or SentencePiece.",
    )
    .register_into_engine(engine, |t: &mut TokenizerHandle| {
        t.get().family().name().to_string()
    });
    for name in ["to_string", "to_debug"] {
        func(name, "A one-line summary of the tokenizer.")
            .register_into_engine(engine, |t: &mut TokenizerHandle| t.describe());
    }
}
