//! Hugging Face `config.json`: the hyperparameters of Llama, Qwen2/3,
//! Mistral, Gemma 3 and GPT-2 checkpoints. GPT-2 spells several keys differently (`n_embd` for
//! `hidden_size`, ...); both spellings are accepted. Missing optional keys
//! take the defaults `transformers` uses for that model type.
//!
//! A multimodal Gemma 3 (`Gemma3ForConditionalGeneration`, model type
//! `gemma3`) nests its language model's config under `text_config`, written
//! as the differences from `Gemma3TextConfig`'s defaults; that text config
//! is what is read, with the defaults filled in.

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
    /// `rope_scaling` (or transformers 5's `rope_parameters`) when it is
    /// not plain RoPE: `llama3`, `linear`, `yarn`, ...
    pub rope_scaling: Option<HfRopeScaling>,
    /// The RoPE base of sliding-window layers where it differs (Gemma 3's
    /// `rope_local_base_freq`; `sliding_attention` in `rope_parameters`).
    pub rope_local_theta: Option<f64>,
    /// Each layer's attention: `full_attention` or `sliding_attention`.
    pub layer_types: Option<Vec<String>>,
    /// Keys a sliding-window layer sees (Mistral, Gemma 3, Qwen's
    /// `use_sliding_window`).
    pub sliding_window: Option<usize>,
    /// Gemma 3 before `layer_types`: every Nth layer attends globally.
    pub sliding_window_pattern: Option<usize>,
    /// Qwen2/3: the window applies only when this is set.
    pub use_sliding_window: Option<bool>,
    /// Gemma: scores are scaled by 1/√query_pre_attn_scalar.
    pub query_pre_attn_scalar: Option<f64>,
    /// The share of each head that RoPE rotates (Phi-3, Phi-4: 1.0 or less).
    pub partial_rotary_factor: Option<f64>,
    /// EmbeddingGemma attends both ways: not a language model.
    pub use_bidirectional_attention: Option<bool>,
    /// Gemma 2's soft caps (tanh), unsupported when set.
    pub final_logit_softcapping: Option<f64>,
    pub attn_logit_softcapping: Option<f64>,
    pub vocab_size: usize,
    pub max_position_embeddings: Option<usize>,
    pub tie_word_embeddings: bool,
    pub torch_dtype: Option<String>,
    /// `hidden_act`, or Gemma's `hidden_activation`.
    pub hidden_act: Option<String>,
    pub bos_token_id: Option<u32>,
    /// Some configs list several end-of-sequence tokens.
    pub eos_token_ids: Vec<u32>,
    /// The multimodal model type whose `text_config` this is (`gemma3`):
    /// its weights sit under the language model's prefix.
    pub text_of: Option<String>,
}

/// `Gemma3TextConfig`'s defaults (transformers 5), for the keys a config
/// may leave out.
const GEMMA3_TEXT_DEFAULTS: &str = r#"{
    "vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216,
    "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
    "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-6, "eos_token_id": 1,
    "bos_token_id": 2, "tie_word_embeddings": true, "query_pre_attn_scalar": 256,
    "sliding_window": 4096, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0
}"#;

/// The multimodal model types whose language model is read from
/// `text_config`.
const MULTIMODAL_TEXT: [&str; 1] = ["gemma3"];

/// The config as `transformers` would see the language model: a nested
/// `text_config` lifted out (the multimodal model type it came from is
/// returned), and for Gemma 3's text model the defaults of the keys left
/// out filled in.
fn text_model(
    mut json: serde_json::Value,
    name: &str,
) -> Result<(serde_json::Value, Option<String>)> {
    let mut text_of = None;
    if let Some(text) = json.get("text_config").filter(|t| !t.is_null()).cloned() {
        let outer = json["model_type"].as_str().unwrap_or_default().to_string();
        if !MULTIMODAL_TEXT.contains(&outer.as_str()) {
            return Err(Error::file(
                name,
                format!(
                    "config.json: a multimodal `{outer}` checkpoint; only Gemma 3's language model is read from one"
                ),
            ));
        }
        let serde_json::Value::Object(mut inner) = text else {
            return Err(Error::file(
                name,
                "config.json: text_config is not an object",
            ));
        };
        // The outer config's token ids hold for the whole model.
        for key in ["eos_token_id", "bos_token_id", "tie_word_embeddings"] {
            if let Some(v) = json.get(key).filter(|v| !v.is_null()) {
                inner.entry(key).or_insert_with(|| v.clone());
            }
        }
        inner
            .entry("model_type")
            .or_insert_with(|| "gemma3_text".into());
        json = serde_json::Value::Object(inner);
        text_of = Some(outer);
    }
    if json["model_type"] == "gemma3_text" {
        let defaults: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(GEMMA3_TEXT_DEFAULTS).expect("valid defaults");
        if let serde_json::Value::Object(map) = &mut json {
            // transformers 5 moves the RoPE bases into `rope_parameters`.
            let has_parameters = map.get("rope_parameters").is_some_and(|v| !v.is_null());
            for (key, value) in defaults {
                let rope_base = key == "rope_theta" || key == "rope_local_base_freq";
                if !(rope_base && has_parameters) {
                    map.entry(key).or_insert(value);
                }
            }
        }
    }
    Ok((json, text_of))
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
    /// transformers 5 moves `rope_theta` (and any scaling) in here; models
    /// with two kinds of layers (Gemma 3) key it by layer type.
    rope_parameters: Option<serde_json::Value>,
    rope_scaling: Option<RopeParameters>,
    rope_local_base_freq: Option<f64>,
    layer_types: Option<Vec<String>>,
    sliding_window: Option<usize>,
    sliding_window_pattern: Option<usize>,
    use_sliding_window: Option<bool>,
    query_pre_attn_scalar: Option<f64>,
    partial_rotary_factor: Option<f64>,
    final_logit_softcapping: Option<f64>,
    attn_logit_softcapping: Option<f64>,
    use_bidirectional_attention: Option<bool>,
    hidden_activation: Option<String>,
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

#[derive(Deserialize, Clone)]
struct RopeParameters {
    rope_theta: Option<f64>,
    partial_rotary_factor: Option<f64>,
    #[serde(alias = "type")]
    rope_type: Option<String>,
    factor: Option<f64>,
    low_freq_factor: Option<f64>,
    high_freq_factor: Option<f64>,
    original_max_position_embeddings: Option<usize>,
    beta_fast: Option<f64>,
    beta_slow: Option<f64>,
    attention_factor: Option<f64>,
    mscale: Option<f64>,
    mscale_all_dim: Option<f64>,
    truncate: Option<bool>,
}

/// A config's RoPE scaling, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct HfRopeScaling {
    /// `linear`, `llama3`, `yarn`, `dynamic`, ...
    pub rope_type: String,
    pub factor: Option<f64>,
    pub low_freq_factor: Option<f64>,
    pub high_freq_factor: Option<f64>,
    pub original_max_position_embeddings: Option<usize>,
    /// YaRN's: where its blend between kept and divided frequencies
    /// starts and ends (in rotations over the original context), the
    /// magnitude on the rotated vectors, and whether the blend's ends are
    /// rounded to whole dimensions.
    pub beta_fast: Option<f64>,
    pub beta_slow: Option<f64>,
    pub attention_factor: Option<f64>,
    pub mscale: Option<f64>,
    pub mscale_all_dim: Option<f64>,
    pub truncate: Option<bool>,
}

impl RopeParameters {
    fn scaling(&self) -> Option<HfRopeScaling> {
        let kind = self.rope_type.as_deref()?;
        (kind != "default").then(|| HfRopeScaling {
            rope_type: kind.to_string(),
            factor: self.factor,
            low_freq_factor: self.low_freq_factor,
            high_freq_factor: self.high_freq_factor,
            original_max_position_embeddings: self.original_max_position_embeddings,
            beta_fast: self.beta_fast,
            beta_slow: self.beta_slow,
            attention_factor: self.attention_factor,
            mscale: self.mscale,
            mscale_all_dim: self.mscale_all_dim,
            truncate: self.truncate,
        })
    }
}

/// transformers 5's `rope_parameters`: one set, or one per layer type
/// (`full_attention`, `sliding_attention`).
fn rope_parameters(
    value: &serde_json::Value,
    name: &str,
) -> Result<(Option<RopeParameters>, Option<RopeParameters>)> {
    let parse = |v: &serde_json::Value| {
        serde_json::from_value::<RopeParameters>(v.clone())
            .map_err(|e| Error::file(name, format!("config.json: bad rope_parameters: {e}")))
    };
    match value.get("full_attention") {
        Some(full) => {
            let sliding = value.get("sliding_attention").map(parse).transpose()?;
            Ok((Some(parse(full)?), sliding))
        }
        None if value.is_null() => Ok((None, None)),
        None => Ok((Some(parse(value)?), None)),
    }
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
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::file(&name, format!("not a valid config.json: {e}")))?;
        let (json, text_of) = text_model(json, &name)?;
        let raw: Raw = serde_json::from_value(json)
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
        let (full, sliding) = match &raw.rope_parameters {
            Some(v) => rope_parameters(v, &name)?,
            None => (None, None),
        };
        let rope_scaling = [&raw.rope_scaling, &full]
            .into_iter()
            .flatten()
            .find_map(RopeParameters::scaling);
        if let Some(kind) = sliding.as_ref().and_then(RopeParameters::scaling) {
            return Err(Error::file(
                &name,
                format!(
                    "config.json: RoPE scaling `{}` on sliding-window layers is not supported",
                    kind.rope_type
                ),
            ));
        }
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
                .or(full.as_ref().and_then(|r| r.rope_theta))
                .unwrap_or(10_000.0),
            rope_local_theta: raw
                .rope_local_base_freq
                .or(sliding.and_then(|r| r.rope_theta)),
            layer_types: raw.layer_types,
            sliding_window: raw.sliding_window,
            sliding_window_pattern: raw.sliding_window_pattern,
            use_sliding_window: raw.use_sliding_window,
            query_pre_attn_scalar: raw.query_pre_attn_scalar,
            partial_rotary_factor: raw
                .partial_rotary_factor
                .or(full.as_ref().and_then(|r| r.partial_rotary_factor)),
            final_logit_softcapping: raw.final_logit_softcapping,
            use_bidirectional_attention: raw.use_bidirectional_attention,
            attn_logit_softcapping: raw.attn_logit_softcapping,
            vocab_size: raw.vocab_size.ok_or_else(|| missing("`vocab_size`"))?,
            max_position_embeddings: raw.max_position_embeddings,
            // `PretrainedConfig` ties by default; Llama and Qwen override it.
            tie_word_embeddings: raw
                .tie_word_embeddings
                .unwrap_or(gpt2 || model_type.starts_with("gemma")),
            torch_dtype: raw.torch_dtype,
            hidden_act: raw.hidden_act.or(raw.hidden_activation),
            bos_token_id: raw.bos_token_id,
            eos_token_ids: match raw.eos_token_id {
                None => Vec::new(),
                Some(OneOrMany::One(id)) => vec![id],
                Some(OneOrMany::Many(ids)) => ids,
            },
            model_type,
            text_of,
        })
    }
}
