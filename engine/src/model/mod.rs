//! Language models behind one interface. A model turns new tokens into
//! logits, remembering earlier positions in a [`State`] (its KV cache):
//! prefill passes many tokens at once (matrix × matrix), decode passes one
//! (matrix × vector).
//!
//! | file | architecture |
//! |---|---|
//! | `llama.rs` | Llama 2/3, TinyLlama, SmolLM2, Mistral, Phi-3, Qwen2/3, Gemma 3 |
//! | `gpt2.rs` | GPT-2 |
//!
//! Each architecture writes its forward pass once, against the executor
//! interface of [`exec`], and runs on the CPU and the GPU alike;
//! `catalog.rs` builds one from a GGUF file or a Hugging Face config. (The
//! RNN trained here lives with its training code, `train::rnn_model`; the
//! front door [`crate::load`] knows both.)

pub mod adapter;
mod catalog;
mod config;
pub mod exec;
pub(crate) mod gpt2;
pub mod hooks;
mod llama;
mod llama_config;
mod load_options;
mod names;
mod readout;
mod rope_scaling;
pub mod site;
pub(crate) mod state;
mod weights;

pub use catalog::{
    adapter_for, build_patched, from_gguf, from_hf, recipe_of_gguf, recipe_of_hf, with_adapter,
    Recipe, ARCHITECTURES,
};
pub use config::Gpt2Config;
pub use gpt2::Gpt2;
pub use llama::Llama;
pub use llama_config::{LlamaConfig, Mlp, Traits, LLAMA_FAMILY};
pub use load_options::{Backend, LoadOptions};
pub use names::{Naming, Nesting, Part, ADAPTABLE};
pub use readout::{Need, Next};
pub use rope_scaling::RopeScaling;
pub use state::{DeviceCache, State};
pub use weights::{Patch, Weights};

use crate::error::Result;
use crate::tensor::DType;
use hooks::Hooks;

/// Which positions' logits `forward` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Only the last new position (generation).
    Last,
    /// Every new position (scoring, teacher forcing).
    All,
}

/// What every face may want to know about a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub architecture: String,
    pub vocab_size: usize,
    pub context_length: usize,
    pub n_layers: usize,
    pub d_model: usize,
    pub n_heads: usize,
    /// Key/value heads (fewer than `n_heads` with grouped-query attention).
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Width of the feed-forward hidden layer.
    pub d_ff: usize,
    /// Each head's queries and keys are normalized before RoPE (Qwen3,
    /// Gemma 3): the hook points `attn.q_norm` and `attn.k_norm` exist.
    pub qk_norm: bool,
    /// Each layer's sliding window, where it has one (empty: no layer
    /// slides). A cache needs only about a window of keys for those layers.
    pub windows: Vec<Option<usize>>,
}

pub trait Model: Send + Sync {
    fn info(&self) -> &ModelInfo;

    /// A fresh state holding up to `capacity` positions, its key/value
    /// cache stored as `kv_dtype` (F32 or F16).
    fn new_state_with(&self, capacity: usize, kv_dtype: DType) -> Result<State>;

    /// A fresh state with an f32 key/value cache.
    fn new_state(&self, capacity: usize) -> Result<State> {
        self.new_state_with(capacity, DType::F32)
    }

    /// Run `tokens` at the state's next positions and return their logits,
    /// `[rows, vocab]` row-major (one row for [`Logits::Last`]). On error the
    /// state is left as it was.
    fn forward(&self, state: &mut State, tokens: &[u32], logits: Logits) -> Result<Vec<f32>>;

    /// [`Model::forward`], offering every activation to `hooks` (see
    /// [`crate::inspect`] for the hook points and their shapes).
    fn forward_hooked(
        &self,
        state: &mut State,
        tokens: &[u32],
        logits: Logits,
        hooks: &mut dyn Hooks,
    ) -> Result<Vec<f32>>;

    /// Run `tokens` like [`Model::forward`] and return the id of the last
    /// position's largest logit (the first on a tie): greedy decoding.
    /// The GPU backend finds it where the logits live and reads back only
    /// the id.
    fn forward_argmax(&self, state: &mut State, tokens: &[u32]) -> Result<u32> {
        let logits = self.forward(state, tokens, Logits::Last)?;
        Ok(crate::ops::select::argmax(&logits))
    }

    /// Run `tokens` like [`Model::forward`] and return the last position's
    /// `k` largest logits with their ids, largest first (the lower id first
    /// on a tie): all that top-k sampling reads. The GPU backend finds
    /// them on the GPU and reads back only these.
    fn forward_top_k(
        &self,
        state: &mut State,
        tokens: &[u32],
        k: usize,
    ) -> Result<Vec<(u32, f32)>> {
        let logits = self.forward(state, tokens, Logits::Last)?;
        Ok(crate::ops::select::top_k(&logits, k))
    }

    /// A GPU model's asynchronous face: submit a forward pass now and await
    /// its result (the browser cannot block on its GPU). None on the CPU.
    #[cfg(feature = "gpu")]
    fn gpu_submit(&self) -> Option<&dyn exec::gpu::Submit> {
        None
    }

    /// The final norm and the unembedding applied to residual-stream rows
    /// `[rows, d_model]`: `[rows, vocab]` logits (the logit lens).
    fn unembed(&self, resid: &[f32]) -> Result<Vec<f32>>;
}
