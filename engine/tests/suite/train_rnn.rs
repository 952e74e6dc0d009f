//! The GRU+RWKV mixture-of-experts RNN: whole-model gradients against
//! finite differences in every configuration, memorising one batch, the
//! load-balancing loss, resuming bit for bit, and the saved model in the
//! inference path (token by token equals the whole window; rewinding
//! replays exactly).

use monologue::generate::Rng;
use monologue::model::{LoadOptions, Logits};
use monologue::train::checkpoint;
use monologue::train::data::{byte_tokenizer, Dataset, Split};
use monologue::train::net::{Architecture, Net};
use monologue::train::rnn::{Rnn, RnnConfig, RnnState};
use monologue::train::{Graph, Run, TrainConfig};
use monologue::LanguageModel;

const TEXT: &str = "The quick brown fox jumps over the lazy dog. Monologue trains small models and watches them learn. ";

fn tiny() -> RnnConfig {
    RnnConfig {
        vocab: 257,
        embed: 16,
        hidden: 24,
        layers: 2,
        heads: 3,
        experts: 3,
        top_k: 1,
        expert_hidden: 20,
        fast: false,
        rwkv: true,
        balance: 0.1,
    }
}

/// Every path through the model (embedding, projection, token shift,
/// WKV, GRU through time, routed and always-on experts, the balance loss)
/// against central differences of the f32 loss at coordinates of every
/// parameter, for the full model and its lighter variants.
#[test]
fn whole_model_gradients_match_finite_differences() {
    let variants = [
        ("full", tiny()),
        (
            "fast",
            RnnConfig {
                fast: true,
                ..tiny()
            },
        ),
        (
            "no rwkv",
            RnnConfig {
                rwkv: false,
                ..tiny()
            },
        ),
        (
            "top-2",
            RnnConfig {
                experts: 4,
                top_k: 2,
                ..tiny()
            },
        ),
    ];
    for (what, config) in variants {
        let mut g = Graph::new();
        let model = Rnn::new(config, &mut g, &mut Rng::new(7)).unwrap();
        // Larger weights than the init, so gates and decays are far from
        // their linear regimes.
        let mut rng = Rng::new(8);
        for p in &mut g.params {
            if p.shape.len() == 2 {
                p.value
                    .iter_mut()
                    .for_each(|v| *v += 0.3 * rng.normal() as f32);
            }
        }
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
        let mut checked = 0;
        for p in 0..g.params.len() {
            let n = g.params[p].value.len();
            for j in [0, n / 3, n - 1] {
                let analytic = g.params[p].grad[j] as f64;
                let old = g.params[p].value[j];
                let mut numeric = |eps: f32| {
                    g.params[p].value[j] = old + eps;
                    let plus = loss(&mut g);
                    g.params[p].value[j] = old - eps;
                    let minus = loss(&mut g);
                    g.params[p].value[j] = old;
                    (plus - minus) / (2.0 * eps as f64)
                };
                // Routing is discrete: a step can move a token to another
                // expert, and then that difference quotient is off. A
                // smaller step then agrees; a wrong gradient agrees with
                // neither.
                let tries = [numeric(1e-2), numeric(2e-3)];
                let ok = tries
                    .iter()
                    .any(|n| (analytic - n).abs() < 2e-3 + 0.05 * n.abs());
                assert!(
                    ok,
                    "{what}: {}[{j}]: backward {analytic:.6} vs finite differences {tries:?}",
                    g.params[p].name
                );
                checked += 1;
            }
        }
        assert!(checked > 30, "{what}: {checked} coordinates");
    }
}

#[test]
fn rnn_memorises_one_batch() {
    let data = Dataset::new(&TEXT.repeat(4), byte_tokenizer().unwrap(), 0.0).unwrap();
    let config = TrainConfig {
        batch: 2,
        seq: 32,
        steps: 200,
        lr: 1e-2,
        min_lr: 1e-2,
        warmup: 10,
        eval_every: 0,
        ..TrainConfig::default()
    };
    let shape = RnnConfig {
        hidden: 48,
        embed: 32,
        heads: 4,
        expert_hidden: 64,
        ..tiny()
    };
    let mut run = Run::new(Architecture::Rnn(shape), config, data).unwrap();
    let batch = run
        .data
        .batch(Split::Train, 2, 32, &mut Rng::new(3))
        .unwrap();
    let first = run.step_on(std::slice::from_ref(&batch)).unwrap();
    assert!((first.loss - 257f32.ln()).abs() < 0.5, "{}", first.loss);
    let mut last = first.clone();
    for _ in 1..200 {
        last = run.step_on(std::slice::from_ref(&batch)).unwrap();
    }
    eprintln!("loss {} → {} in 200 steps", first.loss, last.loss);
    // The loss includes the balance term (≥ 0.1 · 1); the cross-entropy
    // part must be near zero.
    assert!(
        last.loss < 0.2,
        "the batch was not memorised: loss {}",
        last.loss
    );
}

/// The balance loss is 1 with a uniform router and grows as the router
/// favours one expert (up to the number of routed experts).
#[test]
fn load_balancing_loss_measures_the_spread() {
    let config = RnnConfig {
        layers: 1,
        experts: 5,
        ..tiny()
    };
    let mut g = Graph::new();
    let model = Rnn::new(config, &mut g, &mut Rng::new(1)).unwrap();
    let router = g
        .params
        .iter()
        .position(|p| p.name.ends_with("moe.router.weight"))
        .unwrap();
    let ids: Vec<u32> = (0..40).map(|i| (i * 7 % 257) as u32).collect();
    let balance = |g: &mut Graph| {
        let mut state = RnnState::zeros(&config, 1);
        let out = model.forward(g, &ids, &mut state).unwrap();
        let b = g.value(out.balance.unwrap())[0];
        g.clear();
        b
    };
    // A zero router: every expert equally likely, ties to expert 1:
    // shares (1, 0, 0, 0), probabilities ¼ each → 4 · ¼ = 1.
    g.params[router].value.iter_mut().for_each(|v| *v = 0.0);
    assert!((balance(&mut g) - 1.0).abs() < 1e-5);
    // A router that sends everything to one expert with certainty: 4.
    let h = config.hidden;
    let norm = g
        .params
        .iter()
        .position(|p| p.name == "layers.0.moe.norm.weight")
        .unwrap();
    g.params[norm].value.iter_mut().for_each(|v| *v = 0.0);
    g.params[norm].value[0] = 1.0;
    g.params[router].value[2 * h] = 1e4; // expert 3 reads channel 0
    let mut state = RnnState::zeros(&config, 1);
    let out = model.forward(&mut g, &ids, &mut state).unwrap();
    let sign_mixed = g.value(out.balance.unwrap())[0];
    g.clear();
    // Channel 0 after RMSNorm has either sign, so the router is certain
    // for some tokens and rules expert 3 out for others: between 1 and 4.
    assert!(sign_mixed > 1.0 && sign_mixed <= 4.0 + 1e-4, "{sign_mixed}");
}

fn rnn_run(steps: usize) -> Run {
    let data = Dataset::new(&TEXT.repeat(6), byte_tokenizer().unwrap(), 0.1).unwrap();
    let config = TrainConfig {
        batch: 2,
        seq: 16,
        steps,
        lr: 3e-3,
        warmup: 2,
        accumulate: 2,
        eval_every: 3,
        eval_batches: 2,
        ..TrainConfig::default()
    };
    Run::new(Architecture::Rnn(tiny()), config, data).unwrap()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("monologue-rnn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_resumed_rnn_run_continues_bit_identically() {
    let mut straight = rnn_run(10);
    for _ in 0..10 {
        straight.step().unwrap();
    }
    let dir = scratch("resume");
    let mut first = rnn_run(10);
    for _ in 0..5 {
        first.step().unwrap();
    }
    checkpoint::save(&first, &dir).unwrap();
    drop(first);
    let mut resumed = checkpoint::resume(&dir, &TEXT.repeat(6), 0.1).unwrap();
    assert_eq!(resumed.model.architecture(), straight.model.architecture());
    for _ in 0..5 {
        resumed.step().unwrap();
    }
    let bits = |r: &Run| -> Vec<(u32, u32)> {
        r.history
            .iter()
            .map(|h| (h.loss.to_bits(), h.grad_norm.to_bits()))
            .collect()
    };
    assert_eq!(bits(&resumed), bits(&straight));
    for (a, b) in resumed.graph.params.iter().zip(&straight.graph.params) {
        assert_eq!(a.value, b.value, "{} differs after resuming", a.name);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The checkpoint loads through the inference path. Tokens fed one at a
/// time through the recurrent state give the logits of the whole window
/// at once (as training computes them); rewinding and feeding again gives
/// the same logits as the first time, past a state snapshot too.
#[test]
fn a_saved_rnn_generates_token_by_token_like_the_whole_window() {
    let mut run = rnn_run(4);
    for _ in 0..4 {
        run.step().unwrap();
    }
    let dir = scratch("load");
    checkpoint::save(&run, &dir).unwrap();
    let lm = LanguageModel::load(dir.to_str().unwrap(), &LoadOptions::default()).unwrap();
    assert_eq!(lm.model.info().architecture, "rnn");
    let ids: Vec<u32> = TEXT.repeat(2).bytes().take(150).map(u32::from).collect();
    let logits = run.model.forward(&mut run.graph, &ids, 1).unwrap();
    let whole = run.graph.value(logits).to_vec();
    run.graph.clear();

    let vocab = 257;
    let mut state = lm.model.new_state(1024).unwrap();
    let mut stepped = Vec::new();
    for &id in &ids {
        stepped.extend(lm.model.forward(&mut state, &[id], Logits::Last).unwrap());
    }
    let worst = whole
        .iter()
        .zip(&stepped)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-4,
        "token by token differs from the window by {worst}"
    );

    // Rewind past the snapshot at 64 to 40, and feed the rest in one go.
    state.truncate(40);
    assert_eq!(state.position(), 40);
    let again = lm
        .model
        .forward(&mut state, &ids[40..], Logits::All)
        .unwrap();
    let worst = again
        .iter()
        .zip(&whole[40 * vocab..])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "after rewinding the logits differ by {worst}");
    // Generation runs through the same state.
    let mut state = lm.model.new_state(1024).unwrap();
    let options = monologue::generate::GenerateOptions {
        max_tokens: 8,
        ..lm.options()
    };
    let out = lm
        .generate(&mut state, &ids[..10], &options, None, &mut |_, _| {})
        .unwrap();
    assert_eq!(out.tokens.len(), 8);
    assert_eq!(state.position(), 10 + 8 - 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Truncated BPTT: each batch row reads its own stream window after window,
/// and the state a window ends in starts the next one.
#[test]
fn training_streams_carry_the_state_from_window_to_window() {
    let mut run = rnn_run(3);
    run.step().unwrap();
    let carry = run.carry.clone().expect("the RNN carries its state");
    let seq = run.config.seq;
    assert!(carry.state.layers[0].hidden.iter().any(|&v| v != 0.0));
    // Two micro-batches were read: every stream is two windows in.
    for &c in &carry.cursors {
        assert!(c >= 2 * seq && c <= run.data.train.len(), "cursor {c}");
    }
    let mut cursors = carry.cursors.clone();
    let mut rng = Rng::new(5);
    let (ids, _, restarted) = run
        .data
        .stream_windows(&mut cursors, seq, &mut rng)
        .unwrap();
    for (b, &c) in carry.cursors.iter().enumerate() {
        if c + seq < run.data.train.len() {
            assert!(!restarted[b]);
            assert_eq!(&ids[b * seq..(b + 1) * seq], &run.data.train[c..c + seq]);
        }
    }
    // The carried state changes what the model predicts.
    let Net::Rnn(rnn) = &run.model else {
        panic!("an RNN run holds an RNN")
    };
    let targets = ids.clone();
    let mut state = carry.state.clone();
    let carried = rnn
        .loss_from(&mut run.graph, &ids, &targets, &mut state)
        .unwrap();
    let carried = run.graph.value(carried)[0];
    run.graph.clear();
    let fresh = rnn.loss(&mut run.graph, &ids, &targets, 2).unwrap();
    let fresh = run.graph.value(fresh)[0];
    run.graph.clear();
    assert_ne!(carried, fresh);
}
