//! Hugging Face `config.json`: the hyperparameters of Llama, Qwen2 and GPT-2
//! checkpoints. GPT-2 spells several keys differently (`n_embd` for
//! `hidden_size`, ...); both spellings are accepted. Missing optional keys
//! take the defaults `transformers` uses for that model type.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct HfConfig {
    /// `llama`, `qwen2`, `gpt2`, ...
    pub model_type: String,
    pub architectures: Vec<String>,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Equal to `num_attention_heads` when absent (no grouped-query attention).
    pub num_key_value_heads: usize,
    /// `hidden_size / num_attention_heads` unless the config says otherwise.
    pub head_dim: usize,
    pub intermediate_size: usize,
    /// `rms_norm_eps` (Llama, Qwen2) or `layer_norm_epsilon` (GPT-2).
    pub norm_eps: f64,
    pub rope_theta: f64,
    /// The `rope_type` of `rope_scaling` (or of transformers 5's
    /// `rope_parameters`), when it is not plain RoPE: `llama3`, `yarn`, ...
    pub rope_scaling: Option<String>,
    pub vocab_size: usize,
    pub max_position_embeddings: Option<usize>,
    pub tie_word_embeddings: bool,
    pub torch_dtype: Option<String>,
    pub hidden_act: Option<String>,
    pub bos_token_id: Option<u32>,
    /// Some configs list several end-of-sequence tokens.
    pub eos_token_ids: Vec<u32>,
}

/// The file as written, every key optional, so that a missing required key
/// gets our own message rather than serde's.
#[derive(Deserialize)]
struct Raw {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(alias = "n_embd")]
    hidden_size: Option<usize>,
    #[serde(alias = "n_layer")]
    num_hidden_layers: Option<usize>,
    #[serde(alias = "n_head")]
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    #[serde(alias = "n_inner")]
    intermediate_size: Option<usize>,
    #[serde(alias = "layer_norm_epsilon")]
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    /// transformers 5 moves `rope_theta` (and any scaling) in here.
    rope_parameters: Option<RopeParameters>,
    rope_scaling: Option<RopeParameters>,
    vocab_size: Option<usize>,
    #[serde(alias = "n_positions")]
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    // Newer `transformers` write `dtype`.
    #[serde(alias = "dtype")]
    torch_dtype: Option<String>,
    #[serde(alias = "activation_function")]
    hidden_act: Option<String>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<OneOrMany>,
}

#[derive(Deserialize)]
struct RopeParameters {
    rope_theta: Option<f64>,
    #[serde(alias = "type")]
    rope_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

impl HfConfig {
    /// `config.json`, or a model directory containing it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path.push("config.json");
        }
        let text = super::read_text(&path)?;
        HfConfig::from_json(&text, path.display())
    }

    /// Parse the text of a `config.json`; `name` appears in errors.
    pub fn from_json(text: &str, name: impl std::fmt::Display) -> Result<Self> {
        let name = name.to_string();
        let raw: Raw = serde_json::from_str(text)
            .map_err(|e| Error::file(&name, format!("not a valid config.json: {e}")))?;
        let missing = |what: &str| Error::file(&name, format!("missing required key {what}"));

        let model_type = raw.model_type.ok_or_else(|| missing("`model_type`"))?;
        let gpt2 = model_type == "gpt2";
        let hidden_size = raw
            .hidden_size
            .ok_or_else(|| missing("`hidden_size` (or `n_embd`)"))?;
        let num_attention_heads = raw
            .num_attention_heads
            .ok_or_else(|| missing("`num_attention_heads` (or `n_head`)"))?;
        if num_attention_heads == 0 {
            return Err(Error::file(&name, "config.json has 0 attention heads"));
        }
        let intermediate_size = match raw.intermediate_size {
            Some(n) => n,
            // GPT-2 writes `n_inner: null`, meaning four times the width.
            None if gpt2 => hidden_size.saturating_mul(4),
            None => return Err(missing("`intermediate_size`")),
        };
        let rope_scaling = [&raw.rope_scaling, &raw.rope_parameters]
            .into_iter()
            .flatten()
            .filter_map(|r| r.rope_type.clone())
            .find(|t| t != "default");
        Ok(HfConfig {
            architectures: raw.architectures,
            hidden_size,
            num_hidden_layers: raw
                .num_hidden_layers
                .ok_or_else(|| missing("`num_hidden_layers` (or `n_layer`)"))?,
            num_attention_heads,
            num_key_value_heads: raw.num_key_value_heads.unwrap_or(num_attention_heads),
            head_dim: raw.head_dim.unwrap_or(hidden_size / num_attention_heads),
            intermediate_size,
            norm_eps: raw.rms_norm_eps.unwrap_or(if gpt2 { 1e-5 } else { 1e-6 }),
            rope_scaling,
            rope_theta: raw
                .rope_theta
                .or(raw.rope_parameters.and_then(|r| r.rope_theta))
                .unwrap_or(10_000.0),
            vocab_size: raw.vocab_size.ok_or_else(|| missing("`vocab_size`"))?,
            max_position_embeddings: raw.max_position_embeddings,
            // `PretrainedConfig` ties by default; Llama and Qwen2 override it.
            tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(gpt2),
            torch_dtype: raw.torch_dtype,
            hidden_act: raw.hidden_act,
            bos_token_id: raw.bos_token_id,
            eos_token_ids: match raw.eos_token_id {
                None => Vec::new(),
                Some(OneOrMany::One(id)) => vec![id],
                Some(OneOrMany::Many(ids)) => ids,
            },
            model_type,
        })
    }
}
