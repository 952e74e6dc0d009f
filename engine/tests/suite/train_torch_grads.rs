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

use monologue::generate::Rng;
use monologue::train::gpt::{Gpt, GptConfig};
use monologue::train::kernels::loss::IGNORE;
use monologue::train::Graph;
use safetensors::{Dtype, SafeTensors};
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

fn f32s(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = st
        .tensor(name)
        .unwrap_or_else(|e| panic!("fixture lacks {name}: {e}"));
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    let values = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (t.shape().to_vec(), values)
}

/// Token ids; -1 (torch's ignore index here) becomes [`IGNORE`].
fn token_ids(st: &SafeTensors, name: &str) -> Vec<u32> {
    let t = st.tensor(name).unwrap();
    assert_eq!(t.dtype(), Dtype::I32, "{name}");
    t.data()
        .chunks_exact(4)
        .map(|b| match i32::from_le_bytes(b.try_into().unwrap()) {
            -1 => IGNORE,
            v => u32::try_from(v).unwrap(),
        })
        .collect()
}

/// How far `ours` is from `torch`.
struct Diff {
    name: String,
    max_abs: f64,
    scale: f64,
    /// The worst element's excess over the tolerance (≤ 1 passes).
    worst_ratio: f64,
}

fn compare(name: &str, ours: &[f32], torch: &[f32]) -> Diff {
    assert_eq!(ours.len(), torch.len(), "{name}: lengths");
    let scale = torch.iter().map(|v| v.abs() as f64).fold(0.0, f64::max);
    let (mut max_abs, mut worst_ratio) = (0f64, 0f64);
    for (&a, &b) in ours.iter().zip(torch) {
        let d = (a as f64 - b as f64).abs();
        let allowed = ABS * scale + REL * (b as f64).abs();
        max_abs = max_abs.max(d);
        // NaN compares false everywhere: count it as a failure.
        worst_ratio = if d.is_nan() {
            f64::INFINITY
        } else {
            worst_ratio.max(d / allowed.max(f64::MIN_POSITIVE))
        };
    }
    Diff {
        name: name.to_string(),
        max_abs,
        scale,
        worst_ratio,
    }
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
        compare("logits", g.value(logits), &f32s(&st, "logits").1),
        compare("loss", g.value(loss), &f32s(&st, "loss").1),
    ];
    g.backward(loss).unwrap();
    for p in &g.params {
        let (_, torch) = f32s(&st, &format!("grad.{}", p.name));
        diffs.push(compare(&format!("grad.{}", p.name), &p.grad, &torch));
    }

    let mut table = format!(
        "{:<42} {:>10} {:>10} {:>10} {:>8}\n",
        "tensor", "max|diff|", "max|torch|", "diff/max", "of tol"
    );
    for d in &diffs {
        table += &format!(
            "{:<42} {:>10.2e} {:>10.2e} {:>10.2e} {:>8.3}\n",
            d.name,
            d.max_abs,
            d.scale,
            d.max_abs / d.scale.max(f64::MIN_POSITIVE),
            d.worst_ratio
        );
    }
    eprintln!("{table}");
    let failed: Vec<&str> = diffs
        .iter()
        .filter(|d| d.worst_ratio.is_nan() || d.worst_ratio > 1.0)
        .map(|d| d.name.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "differ from PyTorch beyond {ABS:e}·max + {REL:e}·|value|: {failed:?}\n{table}"
    );
}
