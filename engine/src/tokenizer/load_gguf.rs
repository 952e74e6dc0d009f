//! Loading the tokenizer a GGUF file carries in its `tokenizer.ggml.*`
//! metadata.

use super::Tokenizer;
use crate::error::{Error, Result};
use crate::io::Metadata;

impl Tokenizer {
    /// The tokenizer described by a GGUF file's metadata. Only byte-level BPE
    /// (`tokenizer.ggml.model = "gpt2"`) is supported; a file without
    /// tokenizer metadata is an error that says so.
    pub fn from_gguf(meta: &Metadata) -> Result<Tokenizer> {
        if !meta.contains("tokenizer.ggml.model") {
            return Err(Error::NotFound(format!(
                "{}: the file has no tokenizer (no tokenizer.ggml.* metadata)",
                meta.source()
            )));
        }
        let model = meta.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::Invalid(format!(
                "{}: tokenizer model `{model}` is not supported (only byte-level BPE, `gpt2`)",
                meta.source()
            )));
        }
        let optional_id = |key: &str| -> Result<Option<u32>> {
            if meta.contains(key) {
                meta.get_u32(key).map(Some)
            } else {
                Ok(None)
            }
        };
        let token_types = if meta.contains("tokenizer.ggml.token_type") {
            Some(meta.get_i32_array("tokenizer.ggml.token_type")?.to_vec())
        } else {
            None
        };
        // Files written before `tokenizer.ggml.pre` existed split text as
        // GPT-2 does, which is also what llama.cpp falls back to.
        let pre = if meta.contains("tokenizer.ggml.pre") {
            meta.get_str("tokenizer.ggml.pre")?
        } else {
            "gpt2"
        };
        let add_bos = meta.contains("tokenizer.ggml.add_bos_token")
            && meta.get_bool("tokenizer.ggml.add_bos_token")?;
        Tokenizer::from_gguf_parts(
            meta.get_str_array("tokenizer.ggml.tokens")?.to_vec(),
            token_types,
            meta.get_str_array("tokenizer.ggml.merges")?.to_vec(),
            pre,
            optional_id("tokenizer.ggml.bos_token_id")?,
            optional_id("tokenizer.ggml.eos_token_id")?,
            optional_id("tokenizer.ggml.unknown_token_id")?,
            optional_id("tokenizer.ggml.padding_token_id")?,
            add_bos,
        )
        .map_err(|e| Error::Invalid(format!("{}: tokenizer: {e}", meta.source())))
    }
}
