//! Pretrained models on the training tape: the model files the inference
//! path runs (`llama.rs`, `gpt2.rs`) recorded as graph operations. Every
//! tiny Hugging Face fixture of `tests/fixtures/hf/` (GQA, tied and untied
//! heads, Qwen2's biases, Qwen3's and Gemma 3's q/k norms, Gemma 3's
//! post-norms, √d scale and GeGLU, sliding windows in Mistral and Gemma 3,
//! Phi-3's fused projections and partial RoPE, Llama 3.1's and YaRN's
//! scaled RoPE) gives the logits, loss and gradient of every parameter that
//! `transformers` computed for one batch, recorded in float64 by
//! `tests/reference/train_pretrained_grads.py`.

use crate::common::grads::{self, compare, f32s, token_ids, Diff};
use crate::common::hf_reference::fixture;
use monologue::finetune::pretrained::Pretrained;
use monologue::train::kernels::loss::IGNORE;
use safetensors::SafeTensors;
use std::path::PathBuf;
use std::sync::Arc;

/// Tolerance: |ours − transformers| ≤ ABS · max|transformers| + REL · |value|,
/// tensor by tensor. The reference is float64 rounded to f32, so this
/// measures our f32 rounding through up to six layers (Gemma 3).
const ABS: f64 = 2e-5;
const REL: f64 = 2e-5;

fn grads_fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../tests/fixtures/train/pretrained/{name}.safetensors"
    ));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Our gradient of the checkpoint tensor `name`: its parameter's, or the
/// rows a fused tensor was cut into (`name (q)`, `name (k)`, …), in order.
fn gradient_of(model: &Pretrained, name: &str) -> Option<Vec<f32>> {
    let params = &model.graph.params;
    if let Some(p) = params.iter().find(|p| p.name == name) {
        return Some(p.grad.clone());
    }
    let prefix = format!("{name} (");
    let parts: Vec<f32> = params
        .iter()
        .filter(|p| p.name.starts_with(&prefix))
        .flat_map(|p| p.grad.iter().copied())
        .collect();
    (!parts.is_empty()).then_some(parts)
}

fn matches_transformers(name: &str) {
    let bytes = grads_fixture(name);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut model = Pretrained::load(fixture(name)).unwrap();
    let (ids, targets) = (token_ids(&st, "ids"), token_ids(&st, "targets"));
    assert!(targets.contains(&IGNORE));
    let batch = st.tensor("ids").unwrap().shape()[0];

    let loss = model.loss(&ids, &targets, batch).unwrap();
    // The logits are the loss's input: the node before it.
    let g = &model.graph;
    let mut diffs: Vec<Diff> = vec![compare(
        "loss",
        g.value(loss),
        &f32s(&st, "loss").1,
        ABS,
        REL,
    )];
    model.graph.backward(loss).unwrap();
    let mut checked = 0;
    for tensor in st.names() {
        let Some(param) = tensor.strip_prefix("grad.") else {
            continue;
        };
        let ours = gradient_of(&model, param)
            .unwrap_or_else(|| panic!("{name}: no parameter {param} on the tape"));
        diffs.push(compare(tensor, &ours, &f32s(&st, tensor).1, ABS, REL));
        checked += 1;
    }
    // Every parameter on the tape has its gradient checked.
    let on_tape = model
        .graph
        .params
        .iter()
        .map(|p| p.name.split(" (").next().unwrap_or(&p.name))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert_eq!(checked, on_tape, "{name}: gradients in the fixture");
    eprintln!("{name}:");
    grads::assert_within(&diffs, ABS, REL);
}

/// The logits of the fixture's batch, from the model loaded onto the tape.
fn tape_logits(model: &mut Pretrained, st: &SafeTensors) -> Vec<f32> {
    let ids = token_ids(st, "ids");
    let batch = st.tensor("ids").unwrap().shape()[0];
    let logits = model.forward(&ids, batch).unwrap();
    model.graph.value(logits).to_vec()
}

#[test]
fn llama_trains_like_transformers() {
    matches_transformers("llama");
}

#[test]
fn llama3_rope_scaling_trains_like_transformers() {
    matches_transformers("llama3");
}

#[test]
fn mistral_sliding_window_trains_like_transformers() {
    matches_transformers("mistral");
}

#[test]
fn phi3_trains_like_transformers() {
    matches_transformers("phi3");
}

#[test]
fn qwen2_trains_like_transformers() {
    matches_transformers("qwen2");
}

#[test]
fn qwen3_trains_like_transformers() {
    matches_transformers("qwen3");
}

#[test]
fn qwen3_yarn_trains_like_transformers() {
    matches_transformers("qwen3-yarn");
}

#[test]
fn gemma3_trains_like_transformers() {
    matches_transformers("gemma3");
}

/// The same checkpoints converted by llama.cpp (GGUF, whose `llama` files
/// rotate adjacent pairs, their Q and K rows permuted) give the same
/// logits on the tape.
#[test]
fn gguf_copies_give_the_same_logits_on_the_tape() {
    for name in ["llama", "llama3", "gemma3"] {
        let bytes = grads_fixture(name);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut model = Pretrained::load(fixture(name).join("llama_cpp.gguf")).unwrap();
        let ours = tape_logits(&mut model, &st);
        let diff = compare(name, &ours, &f32s(&st, "logits").1, ABS, REL);
        grads::assert_within(&[diff], ABS, REL);
    }
}

/// A sequence packed from two documents gives each document the logits it
/// has alone: positions restart and attention stops at the boundary.
#[test]
fn packed_documents_are_read_as_if_alone() {
    for name in ["qwen3", "gemma3"] {
        let mut model = Pretrained::load(fixture(name)).unwrap();
        let vocab = model.info().vocab_size;
        let (a, b): (Vec<u32>, Vec<u32>) = ((1..12).collect(), (40..50).collect());
        let mut alone = Vec::new();
        for doc in [&a, &b] {
            let logits = model.forward(doc, 1).unwrap();
            alone.extend_from_slice(model.graph.value(logits));
            model.graph.clear();
        }
        let ids: Vec<u32> = a.iter().chain(&b).copied().collect();
        let starts: Vec<usize> = (0..ids.len())
            .map(|i| if i < a.len() { 0 } else { a.len() })
            .collect();
        let packed = model
            .forward_packed(&ids, 1, Arc::new(starts), None)
            .unwrap();
        let packed = model.graph.value(packed);
        assert_eq!(packed.len(), alone.len());
        let worst = packed
            .iter()
            .zip(&alone)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        // Only the order of sums differs (products of other shapes).
        assert!(
            worst < 1e-4,
            "{name}: packed logits differ by {worst} (vocab {vocab})"
        );
        // Unpacked, the second document would see the first.
        model.graph.clear();
        let joined = model.forward(&ids, 1).unwrap();
        let joined = model.graph.value(joined);
        let moved = joined
            .iter()
            .zip(&alone)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(moved > 1e-2, "{name}: the boundary made no difference");
    }
}
