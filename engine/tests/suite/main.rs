//! The engine's integration tests in one binary: the workspace links one
//! test executable here instead of thirty, which is most of what CI spent
//! on linking. Each module is one area; run one with
//! `cargo test --release -p monologue --test suite -- smollm2::`.
//!
//! Tests that must be alone in their process stay in binaries of their
//! own: `gguf_memory` (it measures resident memory), `fuzz_inputs` (it
//! limits the process's address space), `gpu_kernels` and `gpu_models`
//! (their own main reports skipped GPUs) and `quant_bench` (benchmarks).

#[path = "../common/mod.rs"]
mod common;

mod chat_template;
mod gemma3_file;
mod generation;
mod gguf;
mod hf_models;
mod inspect_hf;
mod inspect_smollm2;
mod layering;
mod llama_cpp_fidelity;
mod plot;
mod quant_gguf_parity;
mod quant_matvec;
mod quant_roundtrip;
mod reasoning;
mod safetensors;
mod sampling;
mod script_api;
mod script_inspect;
mod script_train;
mod smollm2;
mod tokenizer_basic;
mod tokenizer_llama_cpp;
mod tokenizer_parity;
mod tokenizer_vocabs;
mod train_chat_grpo;
mod train_checkpoint;
mod train_export;
mod train_finetune;
mod train_gpt;
mod train_gradcheck;
mod train_grpo;
mod train_lora;
mod train_pretrained;
mod train_rnn;
mod train_torch_grads;
