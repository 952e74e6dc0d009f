//! Monologue: an LLM engine you can drive interactively and look inside.
//!
//! Data flows one way: model file → memory-mapped weights ([`io`], [`tensor`])
//! → kernels ([`ops`], dispatched to a [`backend`]) → logits. Every kernel
//! launch passes through [`ops`], which is also where [`profile`] records it.
//!
//! Quantized weights stay quantized: the GGUF block formats in [`quant`] are
//! consumed directly by the matrix kernels.

pub mod backend;
pub mod bench;
pub mod chat_session;
pub mod error;
#[cfg(feature = "plot")]
mod evcxr;
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
