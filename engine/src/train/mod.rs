//! Training on the CPU.
//!
//! - [`graph`]: the autograd tape over f32 activations.
//! - [`kernels`]: forward/backward kernel pairs (f32 to train, f64 to check).
//! - [`real`]: the number types and the strided gemm the kernels share.
//! - [`gpt`]: a trainable GPT-2; [`rnn`]: the GRU+RWKV mixture-of-experts
//!   RNN; [`net`]: either, behind one face.
//! - [`tape`]: the model files of [`crate::model`] run on the tape (what
//!   [`crate::finetune`] trains pretrained models with); [`lora`]: the
//!   adapters it can put beside frozen weights.
//! - [`rnn_model`]: a trained RNN as a [`crate::model::Model`], so that
//!   generation, chat and the faces run it like any model.
//! - [`adamw`]: the optimizer, clipping and the learning-rate schedule.
//! - [`data`]: tokenized text, split, drawn as random windows.
//! - [`run`]: a training run, step by step; [`options`]: how to start one,
//!   in the names every face uses.
//! - `plot`: loss curves.
//! - [`tasks`], [`grpo`]: verifiable-reward tasks and GRPO on them.
//! - [`checkpoint`]: atomic saves that resume bit for bit and load as GPT-2.
//! - [`export`]: a checkpoint as a GGUF file for llama.cpp.
//!
//! ```text
//! Run::step ─► Dataset::batch ─► Net::loss (each op runs its forward, records its backward)
//!           ─► Graph::backward (kernels in reverse, gradients into Param::grad)
//!           ─► clip ─► AdamW::step ─► StepRecord
//! ```

pub mod adamw;
pub mod checkpoint;
pub mod data;
pub mod export;
pub mod gpt;
pub mod graph;
pub mod grpo;
pub mod kernels;
pub mod lora;
pub mod net;
pub mod options;
#[cfg(feature = "plot")]
pub mod plot;
pub mod real;
pub mod rnn;
pub mod rnn_model;
pub mod run;
pub mod tape;
pub mod tasks;

pub use graph::{Graph, Param, Var};
pub use options::TrainOptions;
pub use run::{Run, StepRecord, TrainConfig};
