//! What `tests/reference/llama_cpp_smollm2.py` recorded from llama.cpp
//! (llama-cpp-python) on SmolLM2: 13 prompts, 48 greedy tokens each, the
//! top-5 logits at every generated position and the full logits at the last
//! prompt position. Shared by the CPU and GPU fidelity tests.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Where llama.cpp's top-2 margin is at least this, we must agree with it.
pub const CONFIDENT_MARGIN: f32 = 0.5;

pub struct Prompt {
    pub name: String,
    pub text: String,
    pub prompt_tokens: Vec<u32>,
    pub generated: Vec<u32>,
    /// Per generated position: llama.cpp's top-5 (id, logit) and top-2 margin.
    pub top: Vec<(Vec<(u32, f32)>, f32)>,
    /// llama.cpp's logits at the last prompt position.
    pub last_logits: Vec<f32>,
}

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/reference")
}

pub fn prompts() -> &'static [Prompt] {
    static PROMPTS: OnceLock<Vec<Prompt>> = OnceLock::new();
    PROMPTS.get_or_init(|| {
        let dir = reference_dir();
        let json: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("llama_cpp_smollm2.json")).unwrap(),
        )
        .unwrap();
        let bin = std::fs::read(dir.join("llama_cpp_smollm2.bin")).unwrap();
        let vocab = json["vocab_size"].as_u64().unwrap() as usize;
        let ids = |v: &Value| -> Vec<u32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        };
        json["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let bytes = &bin[i * vocab * 2..(i + 1) * vocab * 2];
                let last_logits = bytes
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect();
                let top = p["top"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| {
                        let pairs = ids(&t["ids"])
                            .into_iter()
                            .zip(t["logits"].as_array().unwrap())
                            .map(|(id, l)| (id, l.as_f64().unwrap() as f32))
                            .collect();
                        (pairs, t["margin"].as_f64().unwrap() as f32)
                    })
                    .collect();
                Prompt {
                    name: p["name"].as_str().unwrap().to_string(),
                    text: p["text"].as_str().unwrap().to_string(),
                    prompt_tokens: ids(&p["prompt_tokens"]),
                    generated: ids(&p["generated"]),
                    top,
                    last_logits,
                }
            })
            .collect()
    })
}

pub fn median(mut xs: Vec<f32>) -> f32 {
    xs.sort_by(f32::total_cmp);
    xs[xs.len() / 2]
}
