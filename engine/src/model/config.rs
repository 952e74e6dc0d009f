//! Hyperparameters of the Llama family (Llama 2/3, TinyLlama, SmolLM2, Qwen2),
//! read from GGUF metadata or a Hugging Face `config.json`. The family's
//! members differ only in these values, never in code.

use crate::error::{Error, Result};
use crate::io::{HfConfig, Metadata};
use crate::ops::rope::RopeLayout;

#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// `llama` or `qwen2`, as the file names it.
    pub arch: String,
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub d_ff: usize,
    pub norm_eps: f32,
    pub rope_base: f32,
    /// Dimensions of each head that are rotated (usually all of them).
    pub rope_dim: usize,
    pub rope_layout: RopeLayout,
    /// The longest context the model was trained for.
    pub context_length: usize,
    /// Q, K and V projections carry a bias (Qwen2).
    pub qkv_bias: bool,
}

/// Architectures this module runs, by their GGUF `general.architecture`.
pub const LLAMA_FAMILY: [&str; 2] = ["llama", "qwen2"];

impl LlamaConfig {
    /// From GGUF metadata (`llama.*` or `qwen2.*` keys). The vocabulary size
    /// comes from the token embedding, which every file has.
    pub fn from_gguf(meta: &Metadata, vocab_size: usize) -> Result<Self> {
        let arch = meta.get_str("general.architecture")?.to_string();
        if !LLAMA_FAMILY.contains(&arch.as_str()) {
            return Err(Error::Invalid(format!(
                "architecture `{arch}` is not supported (supported: {}, gpt2)",
                LLAMA_FAMILY.join(", ")
            )));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let d_model = meta.get_usize(&key("embedding_length"))?;
        let n_heads = meta.get_usize(&key("attention.head_count"))?;
        let n_kv_heads = if meta.contains(&key("attention.head_count_kv")) {
            meta.get_usize(&key("attention.head_count_kv"))?
        } else {
            n_heads
        };
        let head_dim = head_dim(d_model, n_heads)?;
        let rope_dim = if meta.contains(&key("rope.dimension_count")) {
            meta.get_usize(&key("rope.dimension_count"))?
        } else {
            head_dim
        };
        // Scaled RoPE (Llama 3.1's frequency factors, YaRN, linear) changes
        // every position's angles: refuse it rather than compute silently
        // wrong values.
        if meta.contains(&key("rope.scaling.type")) {
            let kind = meta.get_str(&key("rope.scaling.type"))?;
            if kind != "none" {
                return Err(Error::Invalid(format!(
                    "{}: RoPE scaling `{kind}` is not supported yet",
                    meta.source()
                )));
            }
        }
        let rope_base = if meta.contains(&key("rope.freq_base")) {
            meta.get_f32(&key("rope.freq_base"))?
        } else {
            10_000.0
        };
        let config = LlamaConfig {
            // llama.cpp's converter permutes Llama's Q and K rows so that
            // GGUF `llama` files rotate adjacent pairs; Qwen2 is stored as
            // trained, rotating the two halves of each head.
            rope_layout: if arch == "llama" {
                RopeLayout::Interleaved
            } else {
                RopeLayout::NeoX
            },
            qkv_bias: arch == "qwen2",
            vocab_size,
            d_model,
            n_layers: meta.get_usize(&key("block_count"))?,
            n_heads,
            n_kv_heads,
            head_dim,
            d_ff: meta.get_usize(&key("feed_forward_length"))?,
            norm_eps: meta.get_f32(&key("attention.layer_norm_rms_epsilon"))?,
            rope_base,
            rope_dim,
            context_length: meta.get_usize(&key("context_length"))?,
            arch,
        };
        config.validate()
    }

    /// From a Hugging Face `config.json` (`model_type` llama or qwen2).
    pub fn from_hf(hf: &HfConfig) -> Result<Self> {
        let arch = hf.model_type.clone();
        if !LLAMA_FAMILY.contains(&arch.as_str()) {
            return Err(Error::Invalid(format!(
                "model_type `{arch}` is not a Llama-family model"
            )));
        }
        if let Some(kind) = &hf.rope_scaling {
            return Err(Error::Invalid(format!(
                "{arch} config: RoPE scaling `{kind}` (rope_scaling) is not supported yet"
            )));
        }
        let config = LlamaConfig {
            // Hugging Face checkpoints rotate the two halves of each head.
            rope_layout: RopeLayout::NeoX,
            qkv_bias: arch == "qwen2",
            vocab_size: hf.vocab_size,
            d_model: hf.hidden_size,
            n_layers: hf.num_hidden_layers,
            n_heads: hf.num_attention_heads,
            n_kv_heads: hf.num_key_value_heads,
            head_dim: hf.head_dim,
            d_ff: hf.intermediate_size,
            norm_eps: hf.norm_eps as f32,
            rope_base: hf.rope_theta as f32,
            rope_dim: hf.head_dim,
            context_length: hf.max_position_embeddings.unwrap_or(2048),
            arch,
        };
        config.validate()
    }

    fn validate(self) -> Result<Self> {
        let bad = |why: String| Err(Error::Invalid(format!("{} config: {why}", self.arch)));
        if self.n_heads == 0
            || self.n_kv_heads == 0
            || !self.n_heads.is_multiple_of(self.n_kv_heads)
        {
            return bad(format!(
                "{} attention heads cannot share {} key/value heads",
                self.n_heads, self.n_kv_heads
            ));
        }
        if self.rope_dim > self.head_dim || !self.rope_dim.is_multiple_of(2) {
            return bad(format!(
                "rotary dimension {} does not fit heads of {}",
                self.rope_dim, self.head_dim
            ));
        }
        if self.n_layers == 0 || self.d_ff == 0 || self.vocab_size == 0 || self.head_dim == 0 {
            return bad(
                "layers, feed-forward width, vocabulary and head size must be non-zero".into(),
            );
        }
        if self.context_length == 0 {
            return bad("the context length must be non-zero".into());
        }
        // Every weight's element count, so that a huge value cannot wrap a
        // product into a shape the file happens to match.
        let c = &self;
        matrices_fit(
            &c.arch,
            &[
                ("attention heads × head size", c.n_heads, c.head_dim),
                ("key/value heads × head size", c.n_kv_heads, c.head_dim),
                ("vocabulary × width", c.vocab_size, c.d_model),
                ("feed-forward × width", c.d_ff, c.d_model),
                (
                    "attention width × width",
                    c.n_heads.saturating_mul(c.head_dim),
                    c.d_model,
                ),
            ],
        )?;
        Ok(self)
    }
}

/// Refuses dimensions whose product (a weight's element count, at 4 bytes
/// each) would overflow: each `(what, rows, cols)`.
fn matrices_fit(arch: &str, dims: &[(&str, usize, usize)]) -> Result<()> {
    for &(what, rows, cols) in dims {
        let fits = rows
            .checked_mul(cols)
            .and_then(|n| n.checked_mul(4))
            .is_some_and(|bytes| bytes <= isize::MAX as usize);
        if !fits {
            return Err(Error::Invalid(format!(
                "{arch} config: {what} ({rows} × {cols}) is too large for any model"
            )));
        }
    }
    Ok(())
}

fn head_dim(d_model: usize, n_heads: usize) -> Result<usize> {
    if n_heads == 0 || !d_model.is_multiple_of(n_heads) {
        return Err(Error::Invalid(format!(
            "{d_model} wide embeddings cannot be split into {n_heads} heads"
        )));
    }
    Ok(d_model / n_heads)
}

/// Hyperparameters of GPT-2, from GGUF metadata (`gpt2.*`) or a Hugging
/// Face `config.json` (`n_embd`, `n_layer`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub head_dim: usize,
    pub d_ff: usize,
    pub norm_eps: f32,
    /// Rows of the learned position table: the longest context.
    pub context_length: usize,
}

impl Gpt2Config {
    pub fn from_gguf(meta: &Metadata, vocab_size: usize) -> Result<Self> {
        let d_model = meta.get_usize("gpt2.embedding_length")?;
        let n_heads = meta.get_usize("gpt2.attention.head_count")?;
        let config = Gpt2Config {
            vocab_size,
            d_model,
            n_layers: meta.get_usize("gpt2.block_count")?,
            n_heads,
            head_dim: head_dim(d_model, n_heads)?,
            d_ff: meta.get_usize("gpt2.feed_forward_length")?,
            norm_eps: meta.get_f32("gpt2.attention.layer_norm_epsilon")?,
            context_length: meta.get_usize("gpt2.context_length")?,
        };
        config.validate()
    }

    pub fn from_hf(hf: &HfConfig) -> Result<Self> {
        if hf.model_type != "gpt2" {
            return Err(Error::Invalid(format!(
                "model_type `{}` is not gpt2",
                hf.model_type
            )));
        }
        if let Some(act) = hf.hidden_act.as_deref() {
            // `gelu_new`, `gelu_pytorch_tanh` and `gelu_fast` are all the
            // tanh approximation (to well within f32 noise).
            if !matches!(act, "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast") {
                return Err(Error::Invalid(format!(
                    "gpt2 config: activation_function `{act}` is not supported (supported: gelu_new)"
                )));
            }
        }
        let config = Gpt2Config {
            vocab_size: hf.vocab_size,
            d_model: hf.hidden_size,
            n_layers: hf.num_hidden_layers,
            n_heads: hf.num_attention_heads,
            head_dim: head_dim(hf.hidden_size, hf.num_attention_heads)?,
            d_ff: hf.intermediate_size,
            norm_eps: hf.norm_eps as f32,
            context_length: hf.max_position_embeddings.unwrap_or(1024),
        };
        config.validate()
    }

    fn validate(self) -> Result<Self> {
        if self.n_layers == 0 || self.d_ff == 0 || self.vocab_size == 0 || self.context_length == 0
        {
            return Err(Error::Invalid(
                "gpt2 config: layers, feed-forward width, vocabulary and context must be non-zero"
                    .into(),
            ));
        }
        let c = &self;
        matrices_fit(
            "gpt2",
            &[
                ("vocabulary × width", c.vocab_size, c.d_model),
                ("positions × width", c.context_length, c.d_model),
                ("feed-forward × width", c.d_ff, c.d_model),
                ("width × 3 width", c.d_model, c.d_model.saturating_mul(3)),
            ],
        )?;
        Ok(self)
    }
}
