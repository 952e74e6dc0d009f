//! `monologue train` as a process: JSON lines per step, checkpoints that
//! `generate` loads, resuming, and clear errors.

mod common;

use common::{monologue, scratch};
use serde_json::Value;

const TEXT: &str = "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness. ";

fn lines(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// `monologue generate` greedily from `model` succeeds.
fn generates(model: &str, prompt: &str, tokens: &str) {
    let args = [
        "generate",
        "--model",
        model,
        "--prompt",
        prompt,
        "--greedy",
        "--max-tokens",
        tokens,
    ];
    let gen = monologue(&args);
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
}

fn train(out: &str, extra: &[&str]) -> std::process::Output {
    let text = TEXT.repeat(8);
    let mut args = vec![
        "train",
        "--text",
        &text,
        "--out",
        out,
        "--json",
        "--layers",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "--seq",
        "32",
        "--batch",
        "4",
        "--lr",
        "3e-3",
        "--warmup",
        "5",
        "--eval-every",
        "10",
        "--threads",
        "2",
    ];
    args.extend_from_slice(extra);
    monologue(&args)
}

#[test]
fn train_reports_each_step_saves_and_resumes() {
    let dir = scratch("train-cli");
    let out = dir.to_str().unwrap();
    let steps = lines(&train(out, &["--steps", "40", "--save-every", "20"]));
    assert_eq!(steps.len(), 40);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["step"], i + 1);
        for key in ["loss", "lr", "grad_norm", "tok_s"] {
            assert!(s[key].is_number(), "step {i} lacks {key}: {s}");
        }
    }
    assert!(steps[9]["val_loss"].is_number());
    let first = steps[0]["loss"].as_f64().unwrap();
    let last = steps[39]["loss"].as_f64().unwrap();
    assert!(last < first - 1.0, "loss {first} → {last}: not learning");

    // The run's folder is a model.
    generates(out, "It was", "8");

    // Resuming continues the step count (the saved schedule, which ended
    // at step 40, stays at its minimum learning rate).
    let more = lines(&train(out, &["--resume", out, "--steps", "50"]));
    assert_eq!(more.first().unwrap()["step"], 41);
    assert_eq!(more.len(), 10);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_errors_name_the_problem() {
    let dir = scratch("train-cli-errors");
    let out = dir.to_str().unwrap();
    let missing = monologue(&["train", "--data", "/nonexistent/corpus.txt", "--out", out]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/corpus.txt"));
    let short = monologue(&["train", "--text", "too short", "--out", out, "--seq", "64"]);
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("fewer than one sequence"));
    let heads = monologue(&[
        "train",
        "--text",
        &TEXT.repeat(8),
        "--out",
        out,
        "--width",
        "30",
        "--heads",
        "4",
    ]);
    assert!(String::from_utf8_lossy(&heads.stderr).contains("does not split into 4 heads"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_rnn_trains_from_the_cli_and_generates() {
    let dir = scratch("train-cli-rnn");
    let out = dir.to_str().unwrap();
    let steps = lines(&train(
        out,
        &[
            "--arch",
            "rnn",
            "--steps",
            "30",
            "--experts",
            "3",
            "--top-k",
            "1",
        ],
    ));
    assert_eq!(steps.len(), 30);
    let first = steps[0]["loss"].as_f64().unwrap();
    let last = steps[29]["loss"].as_f64().unwrap();
    assert!(last < first - 1.0, "loss {first} → {last}: not learning");
    let config = std::fs::read_to_string(dir.join("step-000030/config.json")).unwrap();
    assert!(config.contains("monologue-rnn"), "{config}");
    generates(out, "It was", "8");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rlvr_reports_each_step_and_saves_a_model() {
    let dir = scratch("rlvr-cli");
    let warm = dir.join("warm");
    let tuned = dir.join("tuned");
    let (warm, tuned) = (warm.to_str().unwrap(), tuned.to_str().unwrap());
    let args = [
        "train",
        "--task",
        "copy",
        "--task-lines",
        "500",
        "--out",
        warm,
        "--steps",
        "20",
        "--layers",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "--seq",
        "32",
        "--batch",
        "4",
        "--json",
        "--threads",
        "2",
    ];
    assert_eq!(lines(&monologue(&args)).len(), 20);
    let out = monologue(&[
        "rlvr",
        "--checkpoint",
        warm,
        "--task",
        "copy",
        "--steps",
        "3",
        "--out",
        tuned,
        "--json",
        "--group",
        "4",
        "--prompts",
        "2",
        "--eval",
        "10",
        "--threads",
        "2",
    ]);
    let steps = lines(&out);
    assert_eq!(steps.len(), 3);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["step"], i + 1);
        for key in ["reward", "frac_zero_std", "clip_ratio", "kl"] {
            let v = s[key]
                .as_f64()
                .unwrap_or_else(|| panic!("step {i} lacks {key}: {s}"));
            assert!((0.0..=1.0).contains(&v) || key == "kl", "{key} = {v}");
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exact match"), "{stderr}");
    assert!(std::path::Path::new(tuned).join("reward.svg").is_file());
    generates(tuned, "abc:", "4");
    // Errors name the problem.
    let bad_task = monologue(&[
        "rlvr",
        "--checkpoint",
        warm,
        "--task",
        "sort",
        "--out",
        tuned,
    ]);
    assert!(String::from_utf8_lossy(&bad_task.stderr).contains("unknown task \"sort\""));
    let missing = monologue(&["rlvr", "--checkpoint", "/nonexistent/run", "--out", tuned]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/run"));
    std::fs::remove_dir_all(&dir).unwrap();
}
