//! What `tests/reference/llama_cpp_reference.py` recorded from llama.cpp
//! (llama-cpp-python) on SmolLM2 and on Gemma 3 270M: a dozen prompts,
//! 48 greedy tokens each, the top-5 logits at every generated position and
//! the full logits at the last prompt position (Gemma 3: of its first
//! prompts only). Shared by the CPU and GPU fidelity tests.

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
    /// llama.cpp's logits at the last prompt position, where recorded.
    pub last_logits: Option<Vec<f32>>,
}

/// The models recorded: `smollm2` and `gemma3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    SmolLm2,
    Gemma3,
}

impl Reference {
    pub fn name(self) -> &'static str {
        match self {
            Reference::SmolLm2 => "smollm2",
            Reference::Gemma3 => "gemma3",
        }
    }
}

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/reference")
}

pub fn prompts(model: Reference) -> &'static [Prompt] {
    static SMOLLM2: OnceLock<Vec<Prompt>> = OnceLock::new();
    static GEMMA3: OnceLock<Vec<Prompt>> = OnceLock::new();
    let cell = match model {
        Reference::SmolLm2 => &SMOLLM2,
        Reference::Gemma3 => &GEMMA3,
    };
    cell.get_or_init(|| read(model.name()))
}

fn read(name: &str) -> Vec<Prompt> {
    {
        let dir = reference_dir();
        let json: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("llama_cpp_{name}.json"))).unwrap(),
        )
        .unwrap();
        let bin = std::fs::read(dir.join(format!("llama_cpp_{name}.bin"))).unwrap();
        let vocab = json["vocab_size"].as_u64().unwrap() as usize;
        // SmolLM2's file predates the key: every prompt has its vector.
        let with_full = json["full_logits_prompts"]
            .as_u64()
            .map_or(usize::MAX, |n| n as usize);
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
                let last_logits = (i < with_full).then(|| {
                    bin[i * vocab * 2..(i + 1) * vocab * 2]
                        .chunks_exact(2)
                        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                        .collect()
                });
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
    }
}

pub fn median(mut xs: Vec<f32>) -> f32 {
    xs.sort_by(f32::total_cmp);
    xs[xs.len() / 2]
}

/// One position of the exact computation (`gemma3_dequantized.py`).
pub struct ExactPosition {
    /// Its own top-5 (id, logit) and top-2 margin.
    pub top: Vec<(u32, f32)>,
    pub margin: f32,
    /// Its logits at llama.cpp's top-5 ids.
    pub at_llama_cpp_top: Vec<f32>,
}

pub struct ExactPrompt {
    pub name: String,
    pub top: Vec<ExactPosition>,
}

/// transformers in f32 on Gemma 3's dequantized weights, teacher-forced on
/// the same tokens as [`prompts`]`(Reference::Gemma3)`.
pub fn dequantized_gemma3() -> &'static [ExactPrompt] {
    static EXACT: OnceLock<Vec<ExactPrompt>> = OnceLock::new();
    EXACT.get_or_init(|| {
        let path = reference_dir().join("gemma3_dequantized.json");
        let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let floats = |v: &Value| -> Vec<f32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        json["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| ExactPrompt {
                name: p["name"].as_str().unwrap().to_string(),
                top: p["top"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| ExactPosition {
                        top: t["ids"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|i| i.as_u64().unwrap() as u32)
                            .zip(floats(&t["logits"]))
                            .collect(),
                        margin: t["margin"].as_f64().unwrap() as f32,
                        at_llama_cpp_top: floats(&t["at_llama_cpp_top"]),
                    })
                    .collect(),
            })
            .collect()
    })
}
