//! Language models behind one interface. A model turns new tokens into
//! logits, remembering earlier positions in a [`State`] (its KV cache):
//! prefill passes many tokens at once (matrix × matrix), decode passes one
//! (matrix × vector).
//!
//! | file | architecture |
//! |---|---|
//! | `llama.rs` | Llama 2/3, TinyLlama, SmolLM2, Qwen2 |
//! | `gpt2.rs` | GPT-2 |
//! | `rnn.rs` | the GRU+RWKV mixture-of-experts RNN trained here |

mod config;
pub mod exec;
pub(crate) mod gpt2;
pub mod hooks;
mod llama;
mod names;
mod readout;
pub mod rnn;
pub mod site;
pub(crate) mod state;
mod weights;

pub use config::{Gpt2Config, LlamaConfig};
pub use gpt2::Gpt2;
pub use llama::Llama;
pub use names::{Naming, Part};
pub use readout::{Need, Next};
pub use state::{DeviceCache, State};
pub use weights::Weights;

use crate::backend::GpuOptions;
use crate::error::{Error, Result};
use crate::io::{HfConfig, ModelFile};
use crate::tensor::DType;
use hooks::Hooks;
use std::path::Path;

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

/// Loads an architecture onto the backend `options` ask for: `$load` is
/// evaluated with `$store` bound to that backend's weight store, so each
/// architecture's generic `load` is written once.
macro_rules! on_backend {
    ($options:expr, |$store:ident| $load:expr) => {
        match &$options.backend {
            Backend::Cpu => {
                let $store = &exec::cpu::Host;
                Ok(Box::new(exec::cpu::OnCpu($load?)) as Box<dyn Model>)
            }
            #[cfg(feature = "gpu")]
            Backend::Wgpu(gpu) => {
                let $store = &exec::gpu::Device::open(gpu)?;
                Ok(Box::new(exec::gpu::OnGpu::new($load?, $store)?) as Box<dyn Model>)
            }
            #[cfg(not(feature = "gpu"))]
            Backend::Wgpu(_) => Err(no_gpu_backend()),
        }
    };
}

#[cfg(not(feature = "gpu"))]
fn no_gpu_backend() -> Error {
    Error::Invalid("this build has no GPU backend (the engine's `gpu` feature is off)".into())
}

/// The RNN's shape, when `dir`'s `config.json` describes one (its
/// `model_type` is [`RNN_MODEL_TYPE`](crate::train::checkpoint::RNN_MODEL_TYPE)).
fn rnn_config(dir: &Path) -> Result<Option<crate::train::rnn::RnnConfig>> {
    let path = dir.join("config.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = crate::io::read_text(&path)?;
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        // HfConfig reports the parse error.
        Err(_) => return Ok(None),
    };
    if json["model_type"] != crate::train::checkpoint::RNN_MODEL_TYPE {
        return Ok(None);
    }
    serde_json::from_value(json)
        .map(Some)
        .map_err(|e| Error::file(path.display(), format!("not a valid RNN config: {e}")))
}

/// Load a GGUF file or a Hugging Face folder (`config.json` +
/// safetensors).
pub fn load(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Box<dyn Model>> {
    let path = crate::train::checkpoint::resolve(path.as_ref())?;
    from_file(&ModelFile::open(&path)?, &path, options)
}

/// Build the model in an opened file (`path` is where it came from: a
/// safetensors checkpoint's `config.json` sits beside it).
pub fn from_file(file: &ModelFile, path: &Path, options: &LoadOptions) -> Result<Box<dyn Model>> {
    let weights = Weights {
        file,
        quantize: options.quantize,
    };
    match file.format() {
        crate::io::Format::Gguf => {
            let embedding = weights
                .file
                .tensors()
                .iter()
                .find(|t| t.name == "token_embd.weight");
            let vocab = embedding.map(|t| t.shape.dims()[0]).ok_or_else(|| {
                Error::NotFound(format!(
                    "{}: tensor token_embd.weight is missing",
                    file.path()
                ))
            })?;
            let arch = file.metadata().get_str("general.architecture")?;
            // Llama 3.1's per-frequency RoPE factors come as a tensor.
            if weights.has("rope_freqs.weight") {
                return Err(Error::Invalid(format!(
                    "{}: RoPE frequency factors (rope_freqs.weight, Llama 3.1 style) are not supported yet",
                    file.path()
                )));
            }
            match arch {
                "llama" | "qwen2" => {
                    let config = LlamaConfig::from_gguf(file.metadata(), vocab)?;
                    on_backend!(options, |store| Llama::load(
                        config,
                        &weights,
                        Naming::Gguf,
                        store
                    ))
                }
                "gpt2" => {
                    let config = Gpt2Config::from_gguf(file.metadata(), vocab)?;
                    on_backend!(options, |store| Gpt2::load(
                        config,
                        &weights,
                        Naming::Gguf,
                        store
                    ))
                }
                other => Err(Error::Invalid(format!(
                    "{}: architecture `{other}` is not supported (supported: llama, qwen2, gpt2)",
                    file.path()
                ))),
            }
        }
        crate::io::Format::Safetensors => {
            let dir = if path.is_dir() {
                path
            } else {
                path.parent().unwrap_or(Path::new("."))
            };
            if let Some(config) = rnn_config(dir)? {
                if options.backend != Backend::Cpu {
                    return Err(Error::Invalid(format!(
                        "{}: the RNN runs on the CPU backend only",
                        dir.display()
                    )));
                }
                return Ok(Box::new(rnn::RnnModel::load(config, file)?));
            }
            let hf = HfConfig::open(dir)?;
            match hf.model_type.as_str() {
                "llama" | "qwen2" => {
                    let config = LlamaConfig::from_hf(&hf)?;
                    on_backend!(options, |store| {
                        Llama::load(config, &weights, Naming::HuggingFace, store)
                    })
                }
                "gpt2" => {
                    let config = Gpt2Config::from_hf(&hf)?;
                    // Checkpoints saved from `GPT2LMHeadModel` put the body
                    // under `transformer.`; some saved from `GPT2Model` do not.
                    let prefixed = !weights.has("wte.weight");
                    let naming = Naming::HuggingFaceGpt2 { prefixed };
                    on_backend!(options, |store| Gpt2::load(config, &weights, naming, store))
                }
                other => Err(Error::Invalid(format!(
                    "{}: model_type `{other}` is not supported (supported: llama, qwen2, gpt2)",
                    dir.display()
                ))),
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
