//! The architectures this layer knows, built from a GGUF file or a Hugging
//! Face config and placed on the backend the load options ask for. Adding
//! an architecture: its file (a `load` and an [`Architecture`] impl), its
//! config, and one arm in each function below.
//!
//! [`Architecture`]: super::exec::Architecture

use super::adapter::{AdapterSource, LoraAdapter};
use super::exec::{self};
use super::weights::Patch;
use super::{
    Backend, Gpt2, Gpt2Config, Llama, LlamaConfig, LoadOptions, Model, Naming, Nesting, Weights,
    LLAMA_FAMILY,
};
use crate::error::{Error, Result};
use crate::io::{HfConfig, ModelFile};

/// The architecture names (GGUF `general.architecture`, Hugging Face
/// `model_type`) that [`from_gguf`] and [`from_hf`] build.
pub const ARCHITECTURES: [&str; 8] = [
    "llama",
    "mistral",
    "phi3",
    "qwen2",
    "qwen3",
    "gemma3",
    "gemma3_text",
    "gpt2",
];

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
            Backend::Wgpu(_) => Err(Error::Invalid(
                "this build has no GPU backend (the engine's `gpu` feature is off)".into(),
            )),
        }
    };
}

fn unsupported(what: &str, name: &str, source: impl std::fmt::Display) -> Error {
    Error::Invalid(format!(
        "{source}: {what} `{name}` is not supported (supported: {})",
        ARCHITECTURES.join(", ")
    ))
}

/// Llama 3.1's RoPE frequency factors, in GGUF.
const ROPE_FREQS: &str = "rope_freqs.weight";

/// What a file holds, ready to load onto any [`Store`](exec::Store): the
/// architecture's config and the names its tensors go by.
#[derive(Debug, Clone)]
pub enum Recipe {
    Llama(LlamaConfig, Naming),
    Gpt2(Gpt2Config, Naming),
}

/// The recipe of a GGUF file.
pub fn recipe_of_gguf(file: &ModelFile) -> Result<Recipe> {
    let weights = Weights {
        file,
        quantize: None,
        patch: None,
    };
    let embedding = file
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
    let naming = Naming::Gguf;
    match arch {
        _ if LLAMA_FAMILY.contains(&arch) => {
            // Llama 3.1's per-frequency RoPE factors come as a tensor.
            let rope_freqs = match weights.has(ROPE_FREQS) {
                true => {
                    let len = file.tensors().iter().find(|t| t.name == ROPE_FREQS);
                    let len = len.map_or(0, |t| t.shape.numel());
                    Some(weights.vector(ROPE_FREQS, len)?)
                }
                false => None,
            };
            let config = LlamaConfig::from_gguf(file.metadata(), vocab, rope_freqs)?;
            Ok(Recipe::Llama(config, naming))
        }
        "gpt2" => Ok(Recipe::Gpt2(
            Gpt2Config::from_gguf(file.metadata(), vocab)?,
            naming,
        )),
        other => Err(unsupported("architecture", other, file.path())),
    }
}

/// The recipe of a safetensors file whose `config.json` is `hf`.
pub fn recipe_of_hf(file: &ModelFile, hf: &HfConfig) -> Result<Recipe> {
    match hf.model_type.as_str() {
        arch if LLAMA_FAMILY.contains(&arch) => {
            let config = LlamaConfig::from_hf(hf)?;
            let naming = match (config.traits.post_norms, &hf.text_of) {
                (true, None) => Naming::HuggingFaceGemma,
                (false, None) => Naming::HuggingFace,
                (_, Some(outer)) => {
                    let nesting =
                        Nesting::detect(|name| file.tensors().iter().any(|t| t.name == name))
                            .ok_or_else(|| {
                                Error::file(
                                    file.path(),
                                    format!(
                                "a multimodal `{outer}` checkpoint without its language model's \
                                     embedding (`model.language_model.embed_tokens.weight` or \
                                     `language_model.model.embed_tokens.weight`)"
                            ),
                                )
                            })?;
                    Naming::HuggingFaceGemmaNested(nesting)
                }
            };
            Ok(Recipe::Llama(config, naming))
        }
        "gpt2" => {
            // Checkpoints saved from `GPT2LMHeadModel` put the body under
            // `transformer.`; some saved from `GPT2Model` do not.
            let prefixed = !file.tensors().iter().any(|t| t.name == "wte.weight");
            let naming = Naming::HuggingFaceGpt2 { prefixed };
            Ok(Recipe::Gpt2(Gpt2Config::from_hf(hf)?, naming))
        }
        other => Err(unsupported("model_type", other, file.path())),
    }
}

/// The model in a GGUF file.
pub fn from_gguf(file: &ModelFile, options: &LoadOptions) -> Result<Box<dyn Model>> {
    build(file, recipe_of_gguf(file)?, options, None)
}

/// The model in a safetensors file whose `config.json` is `hf`.
pub fn from_hf(file: &ModelFile, hf: &HfConfig, options: &LoadOptions) -> Result<Box<dyn Model>> {
    build(file, recipe_of_hf(file, hf)?, options, None)
}

/// The model a recipe describes with the LoRA adapters of `source` (a
/// `peft` folder or its files' contents) merged in as it loads.
pub fn with_adapter(
    file: &ModelFile,
    recipe: Recipe,
    options: &LoadOptions,
    source: &AdapterSource,
) -> Result<Box<dyn Model>> {
    let adapter = adapter_for(&recipe, source)?;
    build(file, recipe, options, Some(&adapter))
}

/// The adapters of `source`, for the model a recipe describes (their
/// tensor names and row order).
pub fn adapter_for(recipe: &Recipe, source: &AdapterSource) -> Result<LoraAdapter> {
    let Recipe::Llama(config, naming) = recipe else {
        return Err(Error::Invalid(format!(
            "{}: LoRA adapters apply to Llama-family models",
            source.describe()
        )));
    };
    let gguf_llama = naming == &Naming::Gguf && config.arch == "llama";
    let info = super::ModelInfo {
        architecture: config.arch.clone(),
        vocab_size: config.vocab_size,
        context_length: config.context_length,
        n_layers: config.n_layers,
        d_model: config.d_model,
        n_heads: config.n_heads,
        n_kv_heads: config.n_kv_heads,
        head_dim: config.head_dim,
        d_ff: config.d_ff,
        qk_norm: config.traits.qk_norm,
        windows: Vec::new(),
    };
    LoraAdapter::open(source, *naming, &info, gguf_llama)
}

/// The model a recipe describes, on the backend `options` ask for.
fn build(
    file: &ModelFile,
    recipe: Recipe,
    options: &LoadOptions,
    adapter: Option<&LoraAdapter>,
) -> Result<Box<dyn Model>> {
    build_patched(file, recipe, options, adapter.map(|a| a as &dyn Patch))
}

/// The model a recipe describes, every tensor passed through `patch` as it
/// loads (a model in training, its current weights in place of the
/// file's).
pub fn build_patched(
    file: &ModelFile,
    recipe: Recipe,
    options: &LoadOptions,
    patch: Option<&dyn Patch>,
) -> Result<Box<dyn Model>> {
    let weights = Weights {
        file,
        quantize: options.quantize,
        patch,
    };
    match recipe {
        Recipe::Llama(config, naming) => {
            on_backend!(options, |store| Llama::load(
                config, &weights, naming, store
            ))
        }
        Recipe::Gpt2(config, naming) => {
            on_backend!(options, |store| Gpt2::load(config, &weights, naming, store))
        }
    }
}
