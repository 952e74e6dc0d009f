//! The tiny Hugging Face fixtures under `tests/fixtures/hf/` and what
//! `transformers` recorded on them (`tests/reference/make_hf_fixtures.py`).

use serde_json::Value as Json;
use std::path::{Path, PathBuf};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/fixtures/hf/{name}"))
}

/// A recorded array: row-major f32 of `shape`.
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// One recorded input and its outputs.
pub struct Case {
    pub text: Option<String>,
    pub ids: Vec<u32>,
    /// `[T, vocab]`.
    pub logits: Vec<f32>,
    /// `[n_layers + 1, T, d]`: the residual stream entering each layer,
    /// then the final norm's output (f32 fixtures only).
    pub hidden_states: Option<Array>,
    /// `[n_layers, heads, T, T]` softmax probabilities (f32 fixtures only).
    pub attentions: Option<Array>,
    pub greedy: Vec<u32>,
    pub greedy_margin: Vec<f32>,
}

pub fn reference(dir: &Path) -> Vec<Case> {
    let index: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let blob = std::fs::read(dir.join("reference.bin")).unwrap();
    let array = |entry: &Json| -> Array {
        let offset = entry["offset"].as_u64().unwrap() as usize;
        let shape: Vec<usize> = entry["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let n: usize = shape.iter().product();
        let data = blob[offset..offset + 4 * n]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        Array { shape, data }
    };
    let ints = |v: &Json| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    index["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| Case {
            text: e.get("text").and_then(Json::as_str).map(str::to_string),
            ids: ints(&e["ids"]),
            logits: array(&e["logits"]).data,
            hidden_states: e.get("hidden_states").map(array),
            attentions: e.get("attentions").map(array),
            greedy: ints(&e["greedy"]),
            greedy_margin: e["greedy_margin"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}
