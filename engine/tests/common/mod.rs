//! Helpers shared by the integration tests: a small GGUF writer, a seeded
//! random number generator, the location of the default model, and
//! comparisons of logits.
#![allow(dead_code)] // each test binary uses a different subset

pub mod gguf_writer;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod grads;
pub mod hf_reference;
pub mod llama_cpp;
mod rng;
#[cfg(feature = "script")]
pub mod script;

#[allow(unused_imports)] // only the kernel tests draw random numbers
pub use rng::Rng;

use monologue::generate::argmax;
use monologue::model::{Logits, Model};
use std::path::PathBuf;

pub const MODEL_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where models and fetched sources live: `$MONOLOGUE_MODELS`, else the
/// repository's `models/`.
fn models_dir() -> PathBuf {
    std::env::var_os("MONOLOGUE_MODELS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models"),
        PathBuf::from,
    )
}

/// Makes sure `marker` exists, running `scripts/SCRIPT ARGS` once (one
/// test at a time) if it does not.
fn fetch_once(marker: &std::path::Path, script: &str, args: &[&str]) {
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    if marker.is_file() {
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(script);
    let status = std::process::Command::new("bash")
        .arg(&script)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        status.success(),
        "{} {args:?} failed: {status}",
        script.display()
    );
}

/// The default model. Tests that need it fail (never skip) without it.
pub fn smollm2() -> PathBuf {
    let path = models_dir().join(MODEL_NAME);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-model.sh",
        path.display()
    );
    path
}

/// llama.cpp's sources as the llama-cpp-python sdist carries them (its
/// tokenizer suite, templates and converter), fetched by
/// `scripts/fetch-llama-cpp.sh` the first time a test asks.
pub fn llama_cpp_sources() -> PathBuf {
    let dest = models_dir().join("llama.cpp");
    fetch_once(
        &dest.join(".llama-cpp-python-0.3.36"),
        "fetch-llama-cpp.sh",
        &[],
    );
    dest
}

/// A fresh path in Cargo's scratch directory for integration tests.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("io-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}-{name}", std::process::id()))
}

/// The largest |a − b| (the slices must be as long).
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// `model`'s greedy continuation of `prompt`: each token with the logits
/// it was chosen from.
pub fn greedy(model: &dyn Model, prompt: &[u32], steps: usize) -> Vec<(u32, Vec<f32>)> {
    let mut state = model.new_state(prompt.len() + steps).unwrap();
    let mut logits = model.forward(&mut state, prompt, Logits::Last).unwrap();
    let mut out = Vec::with_capacity(steps);
    for _ in 0..steps {
        let next = argmax(&logits);
        let chosen = std::mem::take(&mut logits);
        if out.len() + 1 < steps {
            logits = model.forward(&mut state, &[next], Logits::Last).unwrap();
        }
        out.push((next, chosen));
    }
    out
}

/// Gemma 3 270M (Q4_K_M GGUF), fetched by `scripts/fetch-model.sh gemma3`
/// the first time a test asks.
pub fn gemma3() -> PathBuf {
    let path = models_dir().join("gemma-3-270m-q4_k_m.gguf");
    fetch_once(&path, "fetch-model.sh", &["gemma3"]);
    path
}
