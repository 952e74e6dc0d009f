//! The trainable GPT: its whole-model gradients against finite
//! differences, and memorising one batch.

use monologue::generate::Rng;
use monologue::train::data::{byte_tokenizer, Dataset, Split};
use monologue::train::gpt::{Gpt, GptConfig};
use monologue::train::{Graph, Run, TrainConfig};

const TEXT: &str = "The quick brown fox jumps over the lazy dog. Monologue trains small models and watches them learn. ";

fn tiny() -> GptConfig {
    GptConfig {
        vocab: 257,
        context: 32,
        layers: 2,
        width: 32,
        heads: 4,
    }
}

/// Every path a gradient takes through the model (the tied embedding read
/// twice, residual sums, attention, norms) against central differences of
/// the f32 loss, at coordinates of every parameter.
#[test]
fn whole_model_gradients_match_finite_differences() {
    let mut g = Graph::new();
    let mut rng = Rng::new(7);
    let model = Gpt::new(tiny(), &mut g, &mut rng).unwrap();
    let ids: Vec<u32> = (0..16).map(|i| (i * 37 % 257) as u32).collect();
    let targets: Vec<u32> = (0..16).map(|i| (i * 11 % 257) as u32).collect();
    let loss = |g: &mut Graph| -> f64 {
        let l = model.loss(g, &ids, &targets, 2).unwrap();
        let v = g.value(l)[0] as f64;
        g.clear();
        v
    };
    let l = model.loss(&mut g, &ids, &targets, 2).unwrap();
    g.backward(l).unwrap();
    g.clear();
    let eps = 1e-2f32;
    let mut checked = 0;
    for p in 0..g.params.len() {
        let n = g.params[p].value.len();
        for j in [0, n / 2, n - 1] {
            let analytic = g.params[p].grad[j] as f64;
            let old = g.params[p].value[j];
            g.params[p].value[j] = old + eps;
            let plus = loss(&mut g);
            g.params[p].value[j] = old - eps;
            let minus = loss(&mut g);
            g.params[p].value[j] = old;
            let numeric = (plus - minus) / (2.0 * eps as f64);
            let err = (analytic - numeric).abs();
            assert!(
                err < 2e-3 + 0.05 * numeric.abs(),
                "{}[{j}]: backward {analytic:.6} vs finite difference {numeric:.6}",
                g.params[p].name
            );
            checked += 1;
        }
    }
    assert!(checked > 50);
}

#[test]
fn gpt_memorises_one_batch() {
    let data = Dataset::new(&TEXT.repeat(4), byte_tokenizer().unwrap(), 0.0).unwrap();
    let config = TrainConfig {
        batch: 2,
        seq: 32,
        steps: 150,
        lr: 3e-3,
        min_lr: 3e-3,
        warmup: 10,
        eval_every: 0,
        ..TrainConfig::default()
    };
    let mut run = Run::new_gpt(tiny(), config, data).unwrap();
    let batch = run
        .data
        .batch(Split::Train, 2, 32, &mut Rng::new(3))
        .unwrap();
    let first = run.step_on(std::slice::from_ref(&batch)).unwrap();
    // Untrained, every byte is about equally likely.
    assert!((first.loss - 257f32.ln()).abs() < 0.3, "{}", first.loss);
    let mut last = first.clone();
    for _ in 1..150 {
        last = run.step_on(std::slice::from_ref(&batch)).unwrap();
    }
    eprintln!("loss {} → {} in 150 steps", first.loss, last.loss);
    assert!(
        last.loss < 0.05,
        "the batch was not memorised: loss {}",
        last.loss
    );
    assert!(last.grad_norm.is_finite() && last.tok_s > 0.0);
}

/// The graph reuses a step's buffers in the next, some without zeroing
/// them first (those its kernels overwrite in full). A step on a graph
/// that has already run one must therefore give exactly what the same
/// step gives on a fresh graph: the same loss, the same gradients.
#[test]
fn a_step_on_reused_buffers_equals_one_on_a_fresh_graph() {
    // Wide and long enough that every activation is pooled, and attention
    // runs in more than one block of queries.
    let config = GptConfig {
        vocab: 257,
        context: 128,
        layers: 2,
        width: 64,
        heads: 2,
    };
    let batch = |seed: u32| -> (Vec<u32>, Vec<u32>) {
        let ids = (0..256).map(|i| (i * 37 + seed) % 257).collect();
        let targets = (0..256).map(|i| (i * 11 + seed) % 257).collect();
        (ids, targets)
    };
    let step = |g: &mut Graph, model: &Gpt, (ids, targets): &(Vec<u32>, Vec<u32>)| {
        g.zero_grads();
        let l = model.loss(g, ids, targets, 2).unwrap();
        let loss = g.value(l)[0];
        g.backward(l).unwrap();
        g.clear();
        let grads: Vec<Vec<f32>> = g.params.iter().map(|p| p.grad.clone()).collect();
        (loss, grads)
    };
    let (first, second) = (batch(1), batch(2));

    let (mut used, mut fresh) = (Graph::new(), Graph::new());
    let model = Gpt::new(config, &mut used, &mut Rng::new(3)).unwrap();
    let same = Gpt::new(config, &mut fresh, &mut Rng::new(3)).unwrap();
    step(&mut used, &model, &first);
    let (loss, grads) = step(&mut used, &model, &second);
    let (want_loss, want_grads) = step(&mut fresh, &same, &second);
    assert_eq!(loss.to_bits(), want_loss.to_bits(), "loss");
    for ((p, got), want) in used.params.iter().zip(&grads).zip(&want_grads) {
        assert!(got == want, "{}'s gradient differs", p.name);
    }
}
