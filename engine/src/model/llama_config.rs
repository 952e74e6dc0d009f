//! Hyperparameters of the Llama family and its descendants — Llama 2/3,
//! TinyLlama, SmolLM2, Mistral, Phi-3, Qwen2/3, Gemma 3 — read from GGUF metadata
//! or a Hugging Face `config.json`.
//!
//! The members share one forward pass (`llama.rs`) and differ only in
//! these values: sizes, RoPE, and a few switches (`qk_norm`, `post_norms`,
//! `embed_scale`, the gated activation, sliding-window layers). Adding a
//! member is adding its name to [`LLAMA_FAMILY`] and its switches to
//! [`Traits::of`]; a new switch is one more `if` in the forward pass.

use super::config::{head_dim, matrices_fit};
use super::rope_scaling::RopeScaling;
use crate::error::{Error, Result};
use crate::io::{HfConfig, Metadata};
use crate::ops::rope::RopeLayout;

/// The feed-forward block's gate activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mlp {
    /// `silu(gate) ⊙ up` (Llama, Qwen, Mistral).
    SwiGlu,
    /// `gelu_tanh(gate) ⊙ up` (Gemma).
    GeGlu,
}

/// What sets one architecture apart from Llama, beyond its sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traits {
    /// Q, K and V projections carry a bias (Qwen2).
    pub qkv_bias: bool,
    /// Per-head RMSNorm of the queries and keys before RoPE (Qwen3, Gemma 3).
    pub qk_norm: bool,
    /// Norms of the attention and feed-forward outputs before each residual
    /// add, besides the usual norms of their inputs (Gemma 2/3).
    pub post_norms: bool,
    /// The token embedding is multiplied by √d_model (Gemma).
    pub embed_scale: bool,
    pub mlp: Mlp,
    /// Q, K and V come as one matrix, and gate and up as another (Phi-3);
    /// they are split into their rows at load.
    pub fused: bool,
}

impl Traits {
    /// The traits of a family member, by its GGUF `general.architecture`
    /// or Hugging Face `model_type`.
    pub fn of(arch: &str) -> Option<Traits> {
        let llama = Traits {
            qkv_bias: false,
            qk_norm: false,
            post_norms: false,
            embed_scale: false,
            mlp: Mlp::SwiGlu,
            fused: false,
        };
        Some(match arch {
            "llama" | "mistral" => llama,
            "phi3" => Traits {
                fused: true,
                ..llama
            },
            "qwen2" => Traits {
                qkv_bias: true,
                ..llama
            },
            "qwen3" => Traits {
                qk_norm: true,
                ..llama
            },
            "gemma3" | "gemma3_text" => Traits {
                qk_norm: true,
                post_norms: true,
                embed_scale: true,
                mlp: Mlp::GeGlu,
                ..llama
            },
            _ => return None,
        })
    }
}

/// Architectures this module runs, by their GGUF `general.architecture` or
/// Hugging Face `model_type`.
pub const LLAMA_FAMILY: [&str; 7] = [
    "llama",
    "mistral",
    "phi3",
    "qwen2",
    "qwen3",
    "gemma3",
    "gemma3_text",
];

/// Gemma 3 attends globally in every sixth layer and through a sliding
/// window in the five before it (llama.cpp hard-codes the same pattern).
const GEMMA3_GLOBAL_EVERY: usize = 6;
/// The RoPE base of Gemma 3's sliding-window layers.
const GEMMA3_LOCAL_ROPE_BASE: f32 = 10_000.0;

/// Which layers attend through the sliding window, as a rule rather than
/// a list where it is one: a layer count read from a file is not trusted
/// with an allocation before the weights confirm it.
#[derive(Debug, Clone, PartialEq)]
pub enum SlidingLayers {
    None,
    /// Every layer (Mistral, Phi-3).
    All,
    /// All but every `n`th layer, which attends globally (Gemma 3: 6).
    AllButEvery(usize),
    /// As a config's `layer_types` lists them.
    Listed(Vec<bool>),
}

impl SlidingLayers {
    pub fn slides(&self, layer: usize) -> bool {
        match self {
            SlidingLayers::None => false,
            SlidingLayers::All => true,
            SlidingLayers::AllButEvery(n) => !(layer + 1).is_multiple_of(*n),
            SlidingLayers::Listed(list) => list.get(layer).copied().unwrap_or(false),
        }
    }

    /// Whether any layer slides (of a model with at least one layer).
    pub fn any(&self) -> bool {
        match self {
            SlidingLayers::None => false,
            SlidingLayers::All => true,
            SlidingLayers::AllButEvery(n) => *n > 1,
            SlidingLayers::Listed(list) => list.contains(&true),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// The architecture, as the file names it.
    pub arch: String,
    pub traits: Traits,
    pub vocab_size: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub d_ff: usize,
    pub norm_eps: f32,
    /// Added to every norm weight as loaded: Gemma's checkpoints store `w`
    /// for a norm that scales by `1 + w` (llama.cpp's converter adds the 1
    /// when it writes GGUF).
    pub norm_offset: f32,
    pub rope_base: f32,
    /// Dimensions of each head that are rotated (usually all of them).
    pub rope_dim: usize,
    pub rope_layout: RopeLayout,
    /// The RoPE scaling of full-attention layers.
    pub rope_scaling: RopeScaling,
    /// The RoPE base of sliding-window layers where it differs (Gemma 3;
    /// unscaled).
    pub rope_local_base: Option<f32>,
    /// The factor on attention scores (1/√head_dim unless the model says
    /// otherwise).
    pub attn_scale: f32,
    /// Keys a sliding-window layer sees, and which layers slide.
    pub sliding_window: Option<usize>,
    pub sliding_layers: SlidingLayers,
    /// The longest context the model was trained for.
    pub context_length: usize,
}

impl LlamaConfig {
    /// From GGUF metadata (`{arch}.*` keys). The vocabulary size comes from
    /// the token embedding, which every file has; `rope_freqs` is the
    /// file's `rope_freqs.weight` (Llama 3.1's RoPE factors), if any.
    pub fn from_gguf(
        meta: &Metadata,
        vocab_size: usize,
        rope_freqs: Option<Vec<f32>>,
    ) -> Result<Self> {
        let arch = meta.get_str("general.architecture")?.to_string();
        let traits = Traits::of(&arch).ok_or_else(|| {
            Error::Invalid(format!(
                "architecture `{arch}` is not supported (supported: {}, gpt2)",
                LLAMA_FAMILY.join(", ")
            ))
        })?;
        // Scaled RoPE changes every position's angles: an unsupported kind
        // is refused before anything else is read.
        let rope_scaling = RopeScaling::from_gguf(meta, &arch, rope_freqs)?;
        let key = |k: &str| format!("{arch}.{k}");
        let optional_usize = |k: &str| -> Result<Option<usize>> {
            match meta.contains(&key(k)) {
                true => meta.get_usize(&key(k)).map(Some),
                false => Ok(None),
            }
        };
        let d_model = meta.get_usize(&key("embedding_length"))?;
        let n_heads = meta.get_usize(&key("attention.head_count"))?;
        let n_kv_heads = optional_usize("attention.head_count_kv")?.unwrap_or(n_heads);
        // Qwen3 and Gemma 3 size their heads independently of the width.
        let head_dim = match optional_usize("attention.key_length")? {
            Some(k) => k,
            None => head_dim(d_model, n_heads)?,
        };
        if let Some(v) = optional_usize("attention.value_length")? {
            if v != head_dim {
                return Err(Error::Invalid(format!(
                    "{}: value heads of {v} differ from key heads of {head_dim}, which is not supported",
                    meta.source()
                )));
            }
        }
        let rope_dim = optional_usize("rope.dimension_count")?.unwrap_or(head_dim);
        let rope_base = if meta.contains(&key("rope.freq_base")) {
            meta.get_f32(&key("rope.freq_base"))?
        } else {
            10_000.0
        };
        let n_layers = meta.get_usize(&key("block_count"))?;
        let gemma3 = arch == "gemma3";
        // Newer converters write the sliding layers' base; older files
        // leave it to be known.
        let rope_local_base = match meta.contains(&key("rope.freq_base_swa")) {
            true => Some(meta.get_f32(&key("rope.freq_base_swa"))?),
            false => gemma3.then_some(GEMMA3_LOCAL_ROPE_BASE),
        };
        let sliding_window = match gemma3 {
            true => optional_usize("attention.sliding_window")?,
            false => None,
        };
        let sliding_layers = match sliding_window {
            Some(_) => SlidingLayers::AllButEvery(GEMMA3_GLOBAL_EVERY),
            None => SlidingLayers::None,
        };
        // llama.cpp scales Gemma 3 27B's queries by its width per head
        // rather than its head size (the only size where they differ).
        let attn_scale = if gemma3 && n_layers == 62 {
            1.0 / ((d_model / n_heads) as f32).sqrt()
        } else {
            1.0 / (head_dim as f32).sqrt()
        };
        let config = LlamaConfig {
            // llama.cpp's converter permutes Llama's Q and K rows so that
            // GGUF `llama` files rotate adjacent pairs; the others are
            // stored as trained, rotating the two halves of each head.
            rope_layout: if arch == "llama" {
                RopeLayout::Interleaved
            } else {
                RopeLayout::NeoX
            },
            rope_scaling,
            rope_local_base,
            traits,
            norm_offset: 0.0,
            attn_scale,
            sliding_window,
            sliding_layers,
            vocab_size,
            d_model,
            n_layers,
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

    /// From a Hugging Face `config.json`.
    pub fn from_hf(hf: &HfConfig) -> Result<Self> {
        let arch = hf.model_type.clone();
        let traits = Traits::of(&arch).ok_or_else(|| {
            Error::Invalid(format!("model_type `{arch}` is not a Llama-family model"))
        })?;
        let bad = |why: String| Error::Invalid(format!("{arch} config: {why}"));
        let gemma = arch.starts_with("gemma");
        let activation = hf.hidden_act.as_deref();
        let activation_ok = match traits.mlp {
            Mlp::SwiGlu => matches!(activation, None | Some("silu" | "swish")),
            Mlp::GeGlu => matches!(activation, None | Some("gelu_pytorch_tanh" | "gelu_new")),
        };
        if !activation_ok {
            return Err(bad(format!(
                "activation `{}` is not supported here",
                activation.unwrap_or_default()
            )));
        }
        if hf.use_bidirectional_attention == Some(true) {
            return Err(bad(
                "bidirectional attention (an embedding model, not a language model) is not supported"
                    .into(),
            ));
        }
        for (what, cap) in [
            ("final_logit_softcapping", hf.final_logit_softcapping),
            ("attn_logit_softcapping", hf.attn_logit_softcapping),
        ] {
            if let Some(cap) = cap {
                return Err(bad(format!("{what} ({cap}) is not supported")));
            }
        }
        let n_layers = hf.num_hidden_layers;
        let sliding_layers = hf_sliding_layers(hf, n_layers).map_err(bad)?;
        let sliding_window = match sliding_layers.any() {
            true => Some(
                hf.sliding_window
                    .ok_or_else(|| bad("sliding-window layers need `sliding_window`".into()))?,
            ),
            false => None,
        };
        let rope_base = hf.rope_theta as f32;
        // Phi-3 and Phi-4 may rotate only part of each head.
        let rope_dim = match hf.partial_rotary_factor {
            Some(f) if f > 0.0 && f <= 1.0 => ((hf.head_dim as f64 * f) as usize) & !1,
            Some(f) => return Err(bad(format!("partial_rotary_factor {f} is not in (0, 1]"))),
            None => hf.head_dim,
        };
        let rope_scaling = match &hf.rope_scaling {
            Some(s) => RopeScaling::from_hf(s, hf.max_position_embeddings)?,
            None => RopeScaling::None,
        };
        let attn_scale = match hf.query_pre_attn_scalar {
            Some(s) if gemma => 1.0 / (s as f32).sqrt(),
            _ => 1.0 / (hf.head_dim as f32).sqrt(),
        };
        let config = LlamaConfig {
            // Hugging Face checkpoints rotate the two halves of each head.
            rope_layout: RopeLayout::NeoX,
            rope_scaling,
            rope_local_base: match gemma {
                true => Some(hf.rope_local_theta.unwrap_or(GEMMA3_LOCAL_ROPE_BASE as f64) as f32),
                false => hf.rope_local_theta.map(|t| t as f32),
            },
            traits,
            norm_offset: if gemma { 1.0 } else { 0.0 },
            attn_scale,
            sliding_window,
            sliding_layers,
            vocab_size: hf.vocab_size,
            d_model: hf.hidden_size,
            n_layers,
            n_heads: hf.num_attention_heads,
            n_kv_heads: hf.num_key_value_heads,
            head_dim: hf.head_dim,
            d_ff: hf.intermediate_size,
            norm_eps: hf.norm_eps as f32,
            rope_base,
            rope_dim,
            context_length: hf.max_position_embeddings.unwrap_or(2048),
            arch,
        };
        config.validate()
    }

    /// Whether block `layer` attends through the sliding window.
    pub fn slides(&self, layer: usize) -> bool {
        self.sliding_layers.slides(layer)
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
        if self.sliding_window == Some(0) {
            return bad("a sliding window of 0 keys leaves nothing to attend to".into());
        }
        if !(self.attn_scale > 0.0 && self.attn_scale.is_finite()) {
            return bad(format!(
                "attention scale {} must be positive",
                self.attn_scale
            ));
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

/// Which layers of a Hugging Face model attend through a sliding window:
/// `layer_types` where the config lists them, else Gemma 3's pattern
/// (`sliding_window_pattern`, default 6) or Mistral's window on every
/// layer; Qwen's window only with `use_sliding_window`.
fn hf_sliding_layers(hf: &HfConfig, n_layers: usize) -> std::result::Result<SlidingLayers, String> {
    if let Some(types) = &hf.layer_types {
        if types.len() != n_layers {
            return Err(format!(
                "layer_types lists {} layers, the model has {n_layers}",
                types.len()
            ));
        }
        return types
            .iter()
            .map(|t| match t.as_str() {
                "full_attention" => Ok(false),
                "sliding_attention" => Ok(true),
                other => Err(format!("layer type `{other}` is not supported")),
            })
            .collect::<std::result::Result<_, _>>()
            .map(SlidingLayers::Listed);
    }
    Ok(match hf.model_type.as_str() {
        "gemma3" | "gemma3_text" => {
            match hf.sliding_window_pattern.unwrap_or(GEMMA3_GLOBAL_EVERY) {
                0 => return Err("sliding_window_pattern must be at least 1".into()),
                pattern => SlidingLayers::AllButEvery(pattern),
            }
        }
        // transformers applies Phi-3's window too (llama.cpp does not, for
        // GGUF files: their converter does not say which layers slide).
        "mistral" | "phi3" if hf.sliding_window.is_some() => SlidingLayers::All,
        "qwen2" | "qwen3" if hf.use_sliding_window == Some(true) => {
            return Err("use_sliding_window without layer_types is not supported".into())
        }
        _ => SlidingLayers::None,
    })
}
