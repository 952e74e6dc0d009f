//! Language models behind one interface. A model turns new tokens into
//! logits, remembering earlier positions in a [`State`] (its KV cache):
//! prefill passes many tokens at once (matrix × matrix), decode passes one
//! (matrix × vector).
//!
//! | file | architecture |
//! |---|---|
//! | `llama.rs` | Llama 2/3, TinyLlama, SmolLM2, Qwen2 |
//! | `gpt2.rs` | GPT-2 |
//!
//! Each architecture writes its forward pass once, against the executor
//! interface of [`exec`], and runs on the CPU and the GPU alike;
//! `catalog.rs` builds one from a GGUF file or a Hugging Face config. (The
//! RNN trained here lives with its training code, `train::rnn_model`; the
//! front door [`crate::load`] knows both.)

mod catalog;
mod config;
pub mod exec;
pub(crate) mod gpt2;
pub mod hooks;
mod llama;
mod names;
mod readout;
pub mod site;
pub(crate) mod state;
mod weights;

pub use catalog::{from_gguf, from_hf, ARCHITECTURES};
pub use config::{Gpt2Config, LlamaConfig};
pub use gpt2::Gpt2;
pub use llama::Llama;
pub use names::{Naming, Part};
pub use readout::{Need, Next};
pub use state::{DeviceCache, State};
pub use weights::Weights;

use crate::backend::GpuOptions;
use crate::error::{Error, Result};
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

/// How to load a model.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Quantize float weight matrices to this format while loading
    /// (Q8_0 or Q4_1 are the useful choices).
    pub quantize: Option<DType>,
    /// Element type of the key/value cache (F32 by default, or F16).
    pub kv_cache: Option<DType>,
    /// Where the forward pass runs.
    pub backend: Backend,
}

/// Where a model's forward pass runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Backend {
    /// The CPU kernels (`backend::cpu`).
    #[default]
    Cpu,
    /// The WGSL kernels on a GPU through wgpu.
    Wgpu(GpuOptions),
}

impl std::str::FromStr for Backend {
    type Err = Error;

    /// `cpu`, `wgpu`, `wgpu:NAME` (an adapter whose name contains NAME),
    /// and `wgpu-f32` / `wgpu-f32:NAME` (never f16 arithmetic).
    fn from_str(s: &str) -> Result<Self> {
        let (kind, adapter) = match s.split_once(':') {
            Some((kind, name)) if !name.is_empty() => (kind, Some(name.to_string())),
            Some(_) => ("", None),
            None => (s, None),
        };
        let f32_only = match kind {
            "cpu" if adapter.is_none() => return Ok(Backend::Cpu),
            "wgpu" | "gpu" => false,
            "wgpu-f32" | "gpu-f32" => true,
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown backend {s:?}: use cpu, wgpu, wgpu:ADAPTER-NAME, or wgpu-f32[:ADAPTER-NAME]"
                )))
            }
        };
        Ok(Backend::Wgpu(GpuOptions { adapter, f32_only }))
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Cpu => write!(f, "cpu"),
            Backend::Wgpu(o) => {
                write!(f, "wgpu{}", if o.f32_only { "-f32" } else { "" })?;
                match &o.adapter {
                    Some(a) => write!(f, ":{a}"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_and_print_back() {
        for text in [
            "cpu",
            "wgpu",
            "wgpu:llvmpipe",
            "wgpu-f32",
            "wgpu-f32:NVIDIA H200",
        ] {
            let backend: Backend = text.parse().unwrap();
            assert_eq!(backend.to_string(), text);
        }
        let gpu: Backend = "gpu-f32:lava".parse().unwrap();
        assert_eq!(
            gpu,
            Backend::Wgpu(GpuOptions {
                adapter: Some("lava".into()),
                f32_only: true
            })
        );
        for bad in ["", "cuda", "cpu:x", "wgpu:", "wgpu-f16"] {
            let err = bad.parse::<Backend>().unwrap_err().to_string();
            assert!(err.contains("unknown backend"), "{bad:?}: {err}");
        }
    }
}
