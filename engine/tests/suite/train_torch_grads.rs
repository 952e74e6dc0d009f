//! The whole training GPT against PyTorch, as llm.c's test_gpt2 checks its
//! model: the same parameters and batch give the same logits, loss and
//! gradient of every parameter.
//!
//! `tests/fixtures/train/gpt_grads.safetensors` comes from
//! `tests/reference/train_gpt_grads.py`: a tiny GPT-2 (vocabulary 67,
//! context 16, 2 layers, width 32, 4 heads) written in torch ops, one batch
//! of 3 × 16 tokens with one target not scored, forward and backward in
//! float64 from f32 parameters, stored as f32. The parameters are random
//! throughout (LayerNorm gains and biases too), so every term of every
//! backward pass moves some gradient.

use crate::common::grads::{self, compare, f32s, token_ids};
use monologue::generate::Rng;
use monologue::train::gpt::{Gpt, GptConfig};
use monologue::train::kernels::loss::IGNORE;
use monologue::train::Graph;
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::PathBuf;

/// Tolerance, element by element: |ours − torch| ≤ ABS · scale + REL · |torch|,
/// where `scale` is the largest |value| of that tensor (its gradient, or the
/// logits).
///
/// Why this size: the fixture is the float64 answer, so the difference is
/// our f32 rounding alone. Rounding one f32 operation costs 6e-8 of its
/// result; a gradient here comes out of about 30 kernels in a chain, each
/// summing up to 128 products, and torch's own float32 pass lands up to
/// 1.4e-6 of a tensor's scale from float64 (the script prints this). Ours
/// lands as close: the worst is 1.2e-6 of the scale (layer 0's `ln_2`
/// weight gradient; logits 4.4e-7, the loss exact to f32), about a tenth of
/// the tolerance, in the table this test prints. 1e-5 leaves room for
/// other SIMD paths and thread counts, which sum in other orders, while a
/// wrong term (a missing factor, a dropped path, a transposed product)
/// moves a gradient by far more.
const ABS: f64 = 1e-5;
const REL: f64 = 1e-5;

fn fixture() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/train/gpt_grads.safetensors");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn logits_loss_and_every_gradient_match_pytorch() {
    let bytes = fixture();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta: &HashMap<String, String> = header.metadata().as_ref().expect("config metadata");
    let get = |k: &str| -> usize { meta[k].parse().unwrap() };
    let config = GptConfig {
        vocab: get("vocab"),
        context: get("context"),
        layers: get("layers"),
        width: get("width"),
        heads: get("heads"),
    };
    let batch = get("batch");

    let mut g = Graph::new();
    let model = Gpt::new(config, &mut g, &mut Rng::new(0)).unwrap();
    for p in &mut g.params {
        let (shape, values) = f32s(&st, &p.name);
        assert_eq!(shape, p.shape, "{}: fixture shape", p.name);
        p.value = values;
    }
    // Every parameter in the fixture is one of ours: none is left unchecked.
    let fixture_params = st
        .names()
        .iter()
        .filter(|n| n.starts_with("transformer."))
        .count();
    assert_eq!(fixture_params, g.params.len(), "parameters in the fixture");

    let tokens = token_ids(&st, "ids");
    let targets = token_ids(&st, "targets");
    assert!(
        targets.contains(&IGNORE),
        "the batch has a target not scored"
    );
    let logits = model.forward(&mut g, &tokens, batch).unwrap();
    let loss = g.cross_entropy(logits, &targets).unwrap();
    let mut diffs = vec![
        compare("logits", g.value(logits), &f32s(&st, "logits").1, ABS, REL),
        compare("loss", g.value(loss), &f32s(&st, "loss").1, ABS, REL),
    ];
    g.backward(loss).unwrap();
    for p in &g.params {
        let (_, torch) = f32s(&st, &format!("grad.{}", p.name));
        diffs.push(compare(
            &format!("grad.{}", p.name),
            &p.grad,
            &torch,
            ABS,
            REL,
        ));
    }

    grads::assert_within(&diffs, ABS, REL);
}
