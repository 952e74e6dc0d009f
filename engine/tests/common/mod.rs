//! Helpers shared by the integration tests: a small GGUF writer, a seeded
//! random number generator and the location of the default model.
#![allow(dead_code)] // each test binary uses a different subset

pub mod gguf_writer;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod hf_reference;
pub mod llama_cpp;
mod rng;
#[cfg(feature = "script")]
pub mod script;

#[allow(unused_imports)] // only the kernel tests draw random numbers
pub use rng::Rng;

use std::path::PathBuf;

pub const MODEL_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The default model. Tests that need it fail (never skip) without it.
pub fn smollm2() -> PathBuf {
    let dir = std::env::var_os("MONOLOGUE_MODELS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models"),
        PathBuf::from,
    );
    let path = dir.join(MODEL_NAME);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-model.sh",
        path.display()
    );
    path
}

/// A fresh path in Cargo's scratch directory for integration tests.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("io-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}-{name}", std::process::id()))
}
