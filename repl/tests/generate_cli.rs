//! `monologue generate`, `logits` and `bench --model`, run as processes:
//! the documented JSON, sampling flags that change what comes out, errors.

mod common;

use common::{json, model, monologue};

const PROMPT: &str = "The capital of France is";

fn greedy(extra: &[&str]) -> serde_json::Value {
    let m = model();
    let mut args = vec![
        "generate", "--model", &m, "--prompt", PROMPT, "--greedy", "--json",
    ];
    args.extend_from_slice(extra);
    json(&monologue(&args))
}

#[test]
fn generate_json_has_the_documented_keys() {
    let g = greedy(&["--max-tokens", "6"]);
    for key in [
        "prompt_tokens",
        "tokens",
        "text",
        "reasoning",
        "answer",
        "timings",
    ] {
        assert!(g.get(key).is_some(), "{key} missing from {g}");
    }
    for key in ["load_ms", "prefill_tok_s", "decode_tok_s"] {
        assert!(g["timings"].get(key).is_some(), "timings.{key} missing");
    }
    assert_eq!(g["tokens"].as_array().unwrap().len(), 6);
    assert!(g["text"].as_str().unwrap().starts_with(" Paris"), "{g}");
}

#[test]
fn logit_bias_and_stop_strings_change_the_output() {
    let plain = greedy(&["--max-tokens", "6"]);
    let first = plain["tokens"][0].as_u64().unwrap();
    let banned = greedy(&[
        "--max-tokens",
        "6",
        "--logit-bias",
        &format!("{first}=-inf"),
    ]);
    assert_ne!(banned["tokens"][0].as_u64().unwrap(), first, "{banned}");

    let stopped = greedy(&["--max-tokens", "20", "--stop", "."]);
    let text = stopped["text"].as_str().unwrap();
    assert_eq!(
        text, " Paris",
        "generation ends before the stop string: {stopped}"
    );

    let bad = monologue(&[
        "generate",
        "--model",
        &model(),
        "--prompt",
        "x",
        "--logit-bias",
        "7",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ID=BIAS"));
    let outside = monologue(&[
        "generate",
        "--model",
        &model(),
        "--prompt",
        "x",
        "--logit-bias",
        "999999=1",
    ]);
    assert!(!outside.status.success());
    assert!(String::from_utf8_lossy(&outside.stderr).contains("outside the vocabulary"));
}

#[test]
fn logits_json_lists_top_tokens_per_position() {
    let m = model();
    let out = json(&monologue(&[
        "logits", "--model", &m, "--prompt", PROMPT, "--top", "3", "--all", "--json",
    ]));
    let tokens = out["tokens"].as_array().unwrap().len();
    assert_eq!(out["positions"].as_array().unwrap().len(), tokens);
    let top = out["top"].as_array().unwrap();
    assert_eq!(top.len(), tokens);
    let last = top.last().unwrap().as_array().unwrap();
    assert_eq!(last[0]["token"], " Paris");
    let probs: Vec<f64> = last.iter().map(|t| t["prob"].as_f64().unwrap()).collect();
    assert!(probs.windows(2).all(|w| w[0] >= w[1]) && probs.iter().sum::<f64>() <= 1.0);
}

#[test]
fn bench_json_reports_speed_load_and_memory() {
    let out = json(&monologue(&[
        "bench",
        "--model",
        &model(),
        "--prompt-tokens",
        "8",
        "--gen-tokens",
        "4",
        "--runs",
        "1",
        "--json",
    ]));
    for key in [
        "prefill_tok_s",
        "decode_tok_s",
        "load_ms",
        "peak_rss_mb",
        "threads",
        "backend",
    ] {
        assert!(out.get(key).is_some(), "{key} missing from {out}");
    }
    assert!(out["decode_tok_s"].as_f64().unwrap() > 0.0);
    assert!(out["peak_rss_mb"].as_f64().unwrap() > 0.0);
    assert_eq!(out["backend"], "cpu");
}
