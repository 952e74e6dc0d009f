//! Hyperparameters of GPT-2, read from GGUF metadata or a Hugging Face
//! `config.json`, and the size checks every architecture's config shares
//! (the Llama family's is `llama_config.rs`).

use crate::error::{Error, Result};
use crate::io::{HfConfig, Metadata};

/// Refuses dimensions whose product (a weight's element count, at 4 bytes
/// each) would overflow: each `(what, rows, cols)`.
pub(super) fn matrices_fit(arch: &str, dims: &[(&str, usize, usize)]) -> Result<()> {
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

pub(super) fn head_dim(d_model: usize, n_heads: usize) -> Result<usize> {
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
