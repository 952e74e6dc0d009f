//! Every training kernel's backward pass against central finite
//! differences of its forward pass, both in f64: with f64 the two agree to
//! about 1e-8, so a wrong term in a gradient cannot hide in rounding.
//!
//! Each check draws random inputs and a random upstream gradient `r`, and
//! compares d(Σ r · out)/d(input) from the backward kernel with
//! (L(x + ε) − L(x − ε)) / 2ε for every element of every input.

use crate::common;

use common::Rng;
use monologue::ops::rope::RopeLayout;
use monologue::train::kernels::activation::{self, Activation};
use monologue::train::kernels::attention::{self, Dims};
use monologue::train::kernels::gru::{self, GruDims};
use monologue::train::kernels::loss::{self, IGNORE};
use monologue::train::kernels::wkv::{self, WkvDims};
use monologue::train::kernels::{
    elementwise, embedding, linear, norm, rope, rows, softmax, token_shift,
};

const EPS: f64 = 1e-6;
const TOL: f64 = 1e-7;

fn randoms(rng: &mut Rng, n: usize) -> Vec<f64> {
    rng.normals(n).into_iter().map(f64::from).collect()
}

/// Checks `backward` against finite differences of `forward`.
/// `forward(inputs) -> output`; `backward(inputs, dout) -> gradient of each
/// input` (None for an input with no gradient, such as ids).
fn check(
    what: &str,
    inputs: Vec<Vec<f64>>,
    forward: impl Fn(&[Vec<f64>]) -> Vec<f64>,
    backward: impl Fn(&[Vec<f64>], &[f64]) -> Vec<Option<Vec<f64>>>,
) {
    let mut rng = Rng::new(99);
    let out = forward(&inputs);
    let r = randoms(&mut rng, out.len());
    let loss =
        |inputs: &[Vec<f64>]| -> f64 { forward(inputs).iter().zip(&r).map(|(o, r)| o * r).sum() };
    let grads = backward(&inputs, &r);
    assert_eq!(grads.len(), inputs.len(), "{what}: one gradient per input");
    let mut worst = 0f64;
    for (i, grad) in grads.iter().enumerate() {
        let Some(grad) = grad else { continue };
        assert_eq!(grad.len(), inputs[i].len(), "{what}: gradient {i} length");
        for j in 0..inputs[i].len() {
            let mut plus = inputs.clone();
            plus[i][j] += EPS;
            let mut minus = inputs.clone();
            minus[i][j] -= EPS;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * EPS);
            let err = (grad[j] - numeric).abs() / numeric.abs().max(1.0);
            assert!(
                err < TOL,
                "{what}: input {i}[{j}]: backward {} vs finite difference {numeric}",
                grad[j]
            );
            worst = worst.max(err);
        }
    }
    eprintln!("{what}: worst relative error {worst:.1e}");
}

#[test]
fn linear_gradients() {
    let mut rng = Rng::new(1);
    let (n, k, m) = (3, 5, 4);
    let inputs = vec![
        randoms(&mut rng, n * k),
        randoms(&mut rng, m * k),
        randoms(&mut rng, m),
    ];
    check(
        "linear",
        inputs,
        |v| {
            let mut y = vec![0.0; n * m];
            linear::forward(&v[0], &v[1], Some(&v[2]), k, m, &mut y);
            y
        },
        |v, dy| {
            let (mut dx, mut dw, mut db) = (vec![0.0; n * k], vec![0.0; m * k], vec![0.0; m]);
            linear::backward(
                dy,
                &v[0],
                &v[1],
                k,
                m,
                Some(&mut dx),
                Some(&mut dw),
                Some(&mut db),
            );
            vec![Some(dx), Some(dw), Some(db)]
        },
    );
}

#[test]
fn embedding_gradients_collect_repeated_ids() {
    let mut rng = Rng::new(2);
    let (rows, dim) = (6, 3);
    let ids = [4u32, 1, 4, 0, 4];
    check(
        "embedding",
        vec![randoms(&mut rng, rows * dim)],
        |v| {
            let mut out = vec![0.0; ids.len() * dim];
            embedding::forward(&v[0], &ids, dim, &mut out);
            out
        },
        |_, d| {
            let mut dt = vec![0.0; rows * dim];
            embedding::backward(d, &ids, dim, &mut dt);
            vec![Some(dt)]
        },
    );
}

#[test]
fn mul_gradients() {
    let mut rng = Rng::new(3);
    check(
        "mul",
        vec![randoms(&mut rng, 7), randoms(&mut rng, 7)],
        |v| {
            let mut out = vec![0.0; 7];
            elementwise::mul_forward(&v[0], &v[1], &mut out);
            out
        },
        |v, d| {
            let (mut da, mut db) = (vec![0.0; 7], vec![0.0; 7]);
            elementwise::mul_backward(d, &v[0], &v[1], Some(&mut da), Some(&mut db));
            vec![Some(da), Some(db)]
        },
    );
}

#[test]
fn layernorm_gradients() {
    let mut rng = Rng::new(4);
    let (rows, d) = (3, 6);
    // An offset mean, as residual streams have.
    let x: Vec<f64> = randoms(&mut rng, rows * d)
        .iter()
        .map(|v| v + 2.0)
        .collect();
    let inputs = vec![x, randoms(&mut rng, d), randoms(&mut rng, d)];
    check(
        "layernorm",
        inputs,
        |v| {
            let (mut out, mut mean, mut rstd) =
                (vec![0.0; rows * d], vec![0.0; rows], vec![0.0; rows]);
            norm::layernorm_forward(&v[0], &v[1], &v[2], 1e-5, &mut out, &mut mean, &mut rstd);
            out
        },
        |v, g| {
            let (mut out, mut mean, mut rstd) =
                (vec![0.0; rows * d], vec![0.0; rows], vec![0.0; rows]);
            norm::layernorm_forward(&v[0], &v[1], &v[2], 1e-5, &mut out, &mut mean, &mut rstd);
            let (mut dx, mut dw, mut db) = (vec![0.0; rows * d], vec![0.0; d], vec![0.0; d]);
            norm::layernorm_backward(
                g,
                &v[0],
                &v[1],
                &mean,
                &rstd,
                Some(&mut dx),
                &mut dw,
                &mut db,
            );
            vec![Some(dx), Some(dw), Some(db)]
        },
    );
}

#[test]
fn rmsnorm_gradients() {
    let mut rng = Rng::new(5);
    let (rows, d) = (3, 6);
    check(
        "rmsnorm",
        vec![randoms(&mut rng, rows * d), randoms(&mut rng, d)],
        |v| {
            let (mut out, mut rstd) = (vec![0.0; rows * d], vec![0.0; rows]);
            norm::rmsnorm_forward(&v[0], &v[1], 1e-5, &mut out, &mut rstd);
            out
        },
        |v, g| {
            let (mut out, mut rstd) = (vec![0.0; rows * d], vec![0.0; rows]);
            norm::rmsnorm_forward(&v[0], &v[1], 1e-5, &mut out, &mut rstd);
            let (mut dx, mut dw) = (vec![0.0; rows * d], vec![0.0; d]);
            norm::rmsnorm_backward(g, &v[0], &v[1], &rstd, Some(&mut dx), &mut dw);
            vec![Some(dx), Some(dw)]
        },
    );
}

#[test]
fn activation_gradients() {
    for act in [
        Activation::Gelu,
        Activation::Silu,
        Activation::Sigmoid,
        Activation::Tanh,
    ] {
        let mut rng = Rng::new(6);
        let x: Vec<f64> = randoms(&mut rng, 20).iter().map(|v| 2.0 * v).collect();
        check(
            act.name(),
            vec![x],
            |v| {
                let mut out = vec![0.0; 20];
                activation::forward(act, &v[0], &mut out);
                out
            },
            |v, g| {
                let mut dx = vec![0.0; 20];
                activation::backward(act, g, &v[0], &mut dx);
                vec![Some(dx)]
            },
        );
    }
}

#[test]
fn softmax_gradients() {
    let mut rng = Rng::new(7);
    let (rows, cols) = (3, 5);
    check(
        "softmax",
        vec![randoms(&mut rng, rows * cols)],
        |v| {
            let mut out = vec![0.0; rows * cols];
            softmax::forward(&v[0], cols, &mut out);
            out
        },
        |v, g| {
            let mut y = vec![0.0; rows * cols];
            softmax::forward(&v[0], cols, &mut y);
            let mut dx = vec![0.0; rows * cols];
            softmax::backward(g, &y, cols, &mut dx);
            vec![Some(dx)]
        },
    );
}

fn attention_dims(seq: usize, heads: usize, kv_heads: usize, head_dim: usize) -> Dims {
    Dims {
        batch: 2,
        seq,
        heads,
        kv_heads,
        head_dim,
        scale: 1.0 / (head_dim as f64).sqrt(),
        window: None,
    }
}

#[test]
fn attention_gradients() {
    let block = attention::BLOCK;
    let cases = [
        // One query block; several; heads sharing keys (GQA); a sliding
        // window inside one block and across blocks; a model's own scale.
        attention_dims(5, 2, 2, 4),
        attention_dims(block + 3, 2, 2, 2),
        attention_dims(9, 4, 2, 3),
        Dims {
            window: Some(3),
            scale: 0.7,
            ..attention_dims(9, 4, 1, 3)
        },
        Dims {
            window: Some(10),
            ..attention_dims(block + 5, 2, 1, 2)
        },
    ];
    for dims in cases {
        attention_gradients_at(dims, &[]);
    }
    // Sequences packed from several documents (with and without a window).
    for dims in [cases[2], cases[3], cases[4]] {
        attention_gradients_at(dims, &packed_starts(dims));
    }
}

/// Document starts for a batch of two: the first sequence holds three
/// documents, the second two (one of a single token).
fn packed_starts(dims: Dims) -> Vec<usize> {
    let t = dims.seq;
    let (a, b) = (t / 3, t / 3 + t / 4);
    let first = (0..t).map(|i| {
        if i < a {
            0
        } else if i < b {
            a
        } else {
            b
        }
    });
    let second = (0..t).map(|i| i.min(1));
    first.chain(second).collect()
}

/// Runs the forward kernel; the output and the row log-sum-exps.
fn attention_forward(v: &[Vec<f64>], dims: Dims, starts: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let rows = dims.batch * dims.seq;
    let mut out = vec![0.0; rows * dims.q_width()];
    let mut lse = vec![0.0; dims.batch * dims.heads * dims.seq];
    let seen = attention::Visibility { dims, starts };
    attention::forward(&v[0], &v[1], &v[2], seen, &mut out, &mut lse);
    (out, lse)
}

fn attention_gradients_at(dims: Dims, starts: &[usize]) {
    let mut rng = Rng::new(8);
    let rows = dims.batch * dims.seq;
    let inputs = vec![
        randoms(&mut rng, rows * dims.q_width()),
        randoms(&mut rng, rows * dims.kv_width()),
        randoms(&mut rng, rows * dims.kv_width()),
    ];
    check(
        &format!("attention {dims:?}"),
        inputs,
        |v| attention_forward(v, dims, starts).0,
        |v, g| {
            let lse = attention_forward(v, dims, starts).1;
            let mut dq = vec![0.0; v[0].len()];
            let (mut dk, mut dv) = (vec![0.0; v[1].len()], vec![0.0; v[2].len()]);
            let grads = attention::Grads {
                dq: &mut dq,
                dk: &mut dk,
                dv: &mut dv,
            };
            let seen = attention::Visibility { dims, starts };
            attention::backward(g, &v[0], &v[1], &v[2], &lse, seen, grads);
            vec![Some(dq), Some(dk), Some(dv)]
        },
    );
}

/// Attention written the plain way: every score, masked, softmaxed.
fn attention_by_definition(v: &[Vec<f64>], dims: Dims, starts: &[usize]) -> Vec<f64> {
    let (t, d) = (dims.seq, dims.head_dim);
    let mut out = vec![0.0; dims.batch * t * dims.q_width()];
    for b in 0..dims.batch {
        for h in 0..dims.heads {
            let kv = h / (dims.heads / dims.kv_heads);
            let q = |i: usize| &v[0][(b * t + i) * dims.q_width() + h * d..][..d];
            let k = |j: usize| &v[1][(b * t + j) * dims.kv_width() + kv * d..][..d];
            let val = |j: usize| &v[2][(b * t + j) * dims.kv_width() + kv * d..][..d];
            for i in 0..t {
                let document = starts.get(b * t + i).copied().unwrap_or(0);
                let sees =
                    |j: usize| j <= i && j >= document && dims.window.is_none_or(|w| i - j < w);
                let scores: Vec<f64> = (0..t)
                    .map(|j| match sees(j) {
                        true => dims.scale * q(i).iter().zip(k(j)).map(|(a, b)| a * b).sum::<f64>(),
                        false => f64::NEG_INFINITY,
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                let o = &mut out[(b * t + i) * dims.q_width() + h * d..][..d];
                for (j, w) in weights.iter().enumerate() {
                    for (o, x) in o.iter_mut().zip(val(j)) {
                        *o += w / total * x;
                    }
                }
            }
        }
    }
    out
}

/// The forward pass against the plain loop (the gradient checks only
/// prove the backward matches the forward, not that the forward is
/// attention).
#[test]
fn attention_matches_its_definition() {
    let mut rng = Rng::new(9);
    let cases = [
        attention_dims(5, 2, 2, 4),
        attention_dims(2 * attention::BLOCK + 1, 4, 2, 3),
        Dims {
            window: Some(5),
            scale: 0.3,
            ..attention_dims(attention::BLOCK + 7, 6, 2, 2)
        },
    ];
    let packed = [cases[1], cases[2]].map(|d| (d, packed_starts(d)));
    let cases = cases.into_iter().map(|d| (d, Vec::new())).chain(packed);
    for (dims, starts) in cases {
        let rows = dims.batch * dims.seq;
        let v = vec![
            randoms(&mut rng, rows * dims.q_width()),
            randoms(&mut rng, rows * dims.kv_width()),
            randoms(&mut rng, rows * dims.kv_width()),
        ];
        let (ours, want) = (
            attention_forward(&v, dims, &starts).0,
            attention_by_definition(&v, dims, &starts),
        );
        let worst = ours
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-12, "{dims:?}: off by {worst}");
    }
}

#[test]
fn rope_gradients_in_both_layouts() {
    let mut rng = Rng::new(12);
    let (rows, heads, head_dim) = (5, 3, 6);
    let positions = [0usize, 3, 1, 7, 2];
    let pairs = 2; // rotating 4 of 6 dimensions: partial rotary
    let angle = |p: usize, i: usize| p as f64 * 0.9f64.powi(i as i32 + 1);
    let cos: Vec<f64> = (0..8)
        .flat_map(|p| (0..pairs).map(move |i| angle(p, i).cos()))
        .collect();
    let sin: Vec<f64> = (0..8)
        .flat_map(|p| (0..pairs).map(move |i| angle(p, i).sin()))
        .collect();
    let shape = rope::Heads { heads, head_dim };
    for layout in [RopeLayout::Interleaved, RopeLayout::NeoX] {
        let angles = rope::Angles {
            cos: &cos,
            sin: &sin,
            rot: 2 * pairs,
            layout,
        };
        check(
            &format!("rope {layout:?}"),
            vec![randoms(&mut rng, rows * heads * head_dim)],
            |v| {
                let mut out = vec![0.0; v[0].len()];
                rope::forward(&v[0], &positions, shape, angles, &mut out);
                out
            },
            |v, g| {
                let mut d = vec![0.0; v[0].len()];
                rope::backward(g, &positions, shape, angles, &mut d);
                vec![Some(d)]
            },
        );
    }
}

#[test]
fn cross_entropy_and_logprob_gradients() {
    let mut rng = Rng::new(10);
    let (n, vocab) = (4, 6);
    let targets = [2u32, IGNORE, 5, 0];
    check(
        "logprob",
        vec![randoms(&mut rng, n * vocab)],
        |v| {
            let mut out = vec![0.0; n];
            loss::logprob_forward(&v[0], &targets, vocab, &mut out);
            out
        },
        |v, g| {
            let mut d = vec![0.0; n * vocab];
            loss::logprob_backward(g, &v[0], &targets, vocab, &mut d);
            vec![Some(d)]
        },
    );
    check(
        "cross_entropy",
        vec![randoms(&mut rng, n * vocab)],
        |v| vec![loss::cross_entropy_forward(&v[0], &targets, vocab).0],
        |v, g| {
            let (_, scored) = loss::cross_entropy_forward(&v[0], &targets, vocab);
            assert_eq!(scored, 3, "the IGNORE row is not scored");
            let mut d = vec![0.0; n * vocab];
            loss::cross_entropy_backward(g[0], &v[0], &targets, vocab, scored, &mut d);
            vec![Some(d)]
        },
    );
}

#[test]
fn cross_entropy_of_uniform_logits_is_log_vocab() {
    let logits = vec![0.5f64; 3 * 8];
    let (l, _) = loss::cross_entropy_forward(&logits, &[1, 2, 3], 8);
    assert!((l - 8f64.ln()).abs() < 1e-12);
}

#[test]
fn grpo_objective_gradients() {
    use monologue::train::kernels::grpo::{self, Objective, Tokens};
    let mut rng = Rng::new(11);
    let n = 9;
    // Ratios spread so that some tokens are clipped (|logp − old| > 0.2)
    // and none sits on a clip boundary, where the objective has a kink.
    let old = randoms(&mut rng, n);
    let logp: Vec<f64> = old
        .iter()
        .enumerate()
        .map(|(i, o)| o + [-0.5, -0.1, 0.05, 0.3, 0.45, -0.3, 0.1, -0.02, 0.6][i])
        .collect();
    let reference = randoms(&mut rng, n);
    let advantage = vec![1.0, -1.0, 0.5, 1.0, -1.0, 0.7, -0.2, 1.0, 0.0];
    let sequence = vec![
        Some(0),
        Some(0),
        Some(0),
        None,
        Some(1),
        Some(1),
        Some(2),
        Some(2),
        Some(2),
    ];
    let lengths = vec![3, 2, 3];
    let o = Objective {
        clip: 0.2,
        beta: 0.05,
    };
    let tokens = |old: &[f64]| {
        (
            old.to_vec(),
            reference.clone(),
            advantage.clone(),
            sequence.clone(),
            lengths.clone(),
        )
    };
    let (old_v, ref_v, adv_v, seq_v, len_v) = tokens(&old);
    let view = || Tokens {
        old: &old_v,
        reference: &ref_v,
        advantage: &adv_v,
        sequence: &seq_v,
        lengths: &len_v,
    };
    check(
        "grpo",
        vec![logp],
        |v| vec![grpo::forward(&v[0], &view(), o).0],
        |v, g| {
            let mut d = vec![0.0; n];
            grpo::backward(g[0], &v[0], &view(), o, &mut d);
            vec![Some(d)]
        },
    );
}

#[test]
fn token_shift_gradients() {
    let mut rng = Rng::new(21);
    let (batch, seq, c) = (2, 4, 3);
    let carry = randoms(&mut rng, batch * c);
    let inputs = vec![randoms(&mut rng, batch * seq * c), randoms(&mut rng, c)];
    check(
        "token_shift",
        inputs,
        |v| {
            let mut out = vec![0.0; batch * seq * c];
            token_shift::forward(&v[0], &carry, &v[1], seq, &mut out);
            out
        },
        |v, d| {
            let (mut dx, mut dmu) = (vec![0.0; batch * seq * c], vec![0.0; c]);
            token_shift::backward(d, &v[0], &carry, &v[1], seq, Some(&mut dx), &mut dmu);
            vec![Some(dx), Some(dmu)]
        },
    );
}

#[test]
fn wkv_gradients_through_the_whole_window() {
    let mut rng = Rng::new(22);
    let dims = WkvDims {
        batch: 2,
        seq: 5,
        heads: 2,
        width: 6,
    };
    let rows = dims.batch * dims.seq * dims.width;
    let state = randoms(&mut rng, dims.state_len());
    // r, k, v, decay logits, bonus u.
    let inputs = vec![
        randoms(&mut rng, rows),
        randoms(&mut rng, rows),
        randoms(&mut rng, rows),
        randoms(&mut rng, rows),
        randoms(&mut rng, dims.width),
    ];
    let run = |v: &[Vec<f64>]| {
        let mut y = vec![0.0; rows];
        let mut saved = vec![0.0; dims.saved_len()];
        let mut end = vec![0.0; dims.state_len()];
        wkv::forward(
            &v[0], &v[1], &v[2], &v[3], &v[4], &state, dims, &mut y, &mut saved, &mut end,
        );
        (y, saved, end)
    };
    check(
        "wkv",
        inputs.clone(),
        |v| run(v).0,
        |v, dy| {
            let saved = run(v).1;
            let mut g = [0; 4].map(|_| vec![0.0; rows]);
            let mut du = vec![0.0; dims.width];
            let [a, b, c, d] = &mut g;
            wkv::backward(
                dy,
                &v[0],
                &v[1],
                &v[2],
                &v[3],
                &v[4],
                &saved,
                dims,
                [a, b, c, d],
                &mut du,
            );
            let [a, b, c, d] = g;
            vec![Some(a), Some(b), Some(c), Some(d), Some(du)]
        },
    );
    // The state handed on is the one the window would reach by running on:
    // two windows chained give the whole window's output.
    let (whole, _, end) = run(&inputs);
    assert!(end.iter().any(|s| s.abs() > 1e-3), "the state moved");
    let split = 2;
    let mut carried = state.clone();
    let mut chained = vec![0.0; rows];
    for (from, to) in [(0, split), (split, dims.seq)] {
        let part = WkvDims {
            seq: to - from,
            ..dims
        };
        let cut = |x: &[f64]| time_slice(x, dims.batch, dims.seq, dims.width, from..to);
        let mut y = vec![0.0; part.batch * part.seq * part.width];
        let mut saved = vec![0.0; part.saved_len()];
        let mut end = vec![0.0; part.state_len()];
        let [r, k, v, d] = [0, 1, 2, 3].map(|i| cut(&inputs[i]));
        wkv::forward(
            &r, &k, &v, &d, &inputs[4], &carried, part, &mut y, &mut saved, &mut end,
        );
        time_unslice(&y, &mut chained, dims.batch, dims.seq, dims.width, from..to);
        carried = end;
    }
    let worst = whole
        .iter()
        .zip(&chained)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-12, "chained windows differ by {worst}");
}

/// Positions `range` of every sequence in `[B·T, C]` rows.
fn time_slice(
    x: &[f64],
    batch: usize,
    seq: usize,
    c: usize,
    range: std::ops::Range<usize>,
) -> Vec<f64> {
    (0..batch)
        .flat_map(|b| {
            x[(b * seq + range.start) * c..(b * seq + range.end) * c]
                .iter()
                .copied()
        })
        .collect()
}

/// Writes [`time_slice`]'s rows back into place.
fn time_unslice(
    part: &[f64],
    x: &mut [f64],
    batch: usize,
    seq: usize,
    c: usize,
    range: std::ops::Range<usize>,
) {
    let len = (range.end - range.start) * c;
    for b in 0..batch {
        x[(b * seq + range.start) * c..][..len].copy_from_slice(&part[b * len..(b + 1) * len]);
    }
}

#[test]
fn gru_gradients_through_the_whole_window() {
    let mut rng = Rng::new(23);
    let dims = GruDims {
        batch: 2,
        seq: 4,
        hidden: 3,
    };
    let h = dims.hidden;
    let inputs = vec![
        randoms(&mut rng, dims.batch * dims.seq * 3 * h),
        randoms(&mut rng, 3 * h * h),
        randoms(&mut rng, 3 * h),
        randoms(&mut rng, h),
        randoms(&mut rng, dims.batch * h),
    ];
    let run = |v: &[Vec<f64>]| {
        let mut out = vec![0.0; dims.batch * dims.seq * h];
        let saved = gru::forward(&v[0], &v[1], &v[2], &v[3], &v[4], 1e-5, dims, &mut out);
        (out, saved)
    };
    check(
        "gru",
        inputs,
        |v| run(v).0,
        |v, dh| {
            let saved = run(v).1;
            let mut dgx = vec![0.0; v[0].len()];
            let (mut du, mut dbu, mut dg) = (vec![0.0; 9 * h], vec![0.0; 3 * h], vec![0.0; h]);
            let mut dh0 = vec![0.0; dims.batch * h];
            gru::backward(
                dh,
                &v[1],
                &v[3],
                &saved,
                dims,
                &mut dgx,
                &mut du,
                &mut dbu,
                &mut dg,
                Some(&mut dh0),
            );
            vec![Some(dgx), Some(du), Some(dbu), Some(dg), Some(dh0)]
        },
    );
}

#[test]
fn expert_row_gather_and_gated_scatter_gradients() {
    let mut rng = Rng::new(24);
    let (total, width, columns, column) = (5, 3, 4, 2);
    let rows = [3usize, 0, 4];
    check(
        "gather_rows",
        vec![randoms(&mut rng, total * width)],
        |v| {
            let mut out = vec![0.0; rows.len() * width];
            rows::gather_forward(&v[0], &rows, width, &mut out);
            out
        },
        |_, d| {
            let mut dx = vec![0.0; total * width];
            rows::gather_backward(d, &rows, width, &mut dx);
            vec![Some(dx)]
        },
    );
    check(
        "scatter_rows",
        vec![
            randoms(&mut rng, rows.len() * width),
            randoms(&mut rng, total * columns),
        ],
        |v| {
            let mut out = vec![0.0; total * width];
            rows::scatter_forward(&v[0], &rows, &v[1], (column, columns), width, &mut out);
            out
        },
        |v, d| {
            let (mut dy, mut dg) = (vec![0.0; v[0].len()], vec![0.0; v[1].len()]);
            rows::scatter_backward(
                d,
                &v[0],
                &rows,
                &v[1],
                (column, columns),
                width,
                Some(&mut dy),
                Some(&mut dg),
            );
            vec![Some(dy), Some(dg)]
        },
    );
}
