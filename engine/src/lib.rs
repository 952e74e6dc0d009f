//! Monologue: an LLM engine you can drive interactively and look inside.
//!
//! Data flows one way: a name or path ([`load`]) → memory-mapped weights
//! ([`io`], [`tensor`]) → an architecture's forward pass ([`model`]), written
//! once as calls on an executor that runs them on the CPU (through [`ops`])
//! or records them for the GPU ([`backend::gpu`]) → logits. Every kernel
//! launch is recorded by [`profile`]: CPU kernels in `ops::launch`, GPU
//! kernels in the GPU batch's `dispatch`.
//!
//! Quantized weights stay quantized: the GGUF block formats in [`quant`] are
//! consumed directly by the matrix kernels.
//!
//! The modules form layers (ARCHITECTURE.md): each imports only from its
//! own layer and those below, which `tests/suite/layering.rs` checks.

pub mod backend;
pub mod bench;
pub mod chat_session;
pub mod error;
#[cfg(feature = "plot")]
mod evcxr;
pub mod finetune;
pub mod generate;
pub mod inspect;
pub mod io;
pub mod language_model;
pub mod load;
pub mod model;
pub mod ops;
#[cfg(feature = "plot")]
pub mod plot;
pub mod profile;
pub mod quant;
pub mod rich;
#[cfg(feature = "script")]
pub mod script;
pub mod tensor;
pub mod tokenizer;
pub mod train;

pub use error::{Error, Result};
pub use language_model::LanguageModel;
pub use tensor::{DType, Shape, Storage, Tensor};
