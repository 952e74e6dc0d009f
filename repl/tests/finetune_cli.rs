//! `monologue finetune` as a process: JSON lines per step, a checkpoint
//! that `generate` loads, resuming to the end of the schedule, and errors
//! that name the problem.

mod common;

use common::{monologue, scratch};
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/hf")
        .join(name)
        .display()
        .to_string()
}

fn chats(dir: &std::path::Path) -> String {
    let path = dir.join("chats.jsonl");
    let lines: Vec<String> = (0..6)
        .map(|i| {
            serde_json::json!({"messages": [
                {"role": "user", "content": format!("Count to {i}.")},
                {"role": "assistant", "content": (0..=i).map(|n| n.to_string()).collect::<Vec<_>>().join(" ")},
            ]})
            .to_string()
        })
        .collect();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path.display().to_string()
}

fn finetune(data: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let model = fixture("qwen2");
    let mut args = vec![
        "finetune",
        "--model",
        &model,
        "--data",
        data,
        "--out",
        out,
        "--json",
        "--seq",
        "128",
        "--batch",
        "1",
        "--steps",
        "6",
        "--lr",
        "1e-3",
        "--eval-every",
        "3",
        "--validation",
        "0.2",
        "--threads",
        "2",
    ];
    args.extend_from_slice(extra);
    monologue(&args)
}

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

#[test]
fn finetune_reports_each_step_saves_and_resumes() {
    let dir = scratch("finetune-cli");
    let data = chats(&dir);
    let run = dir.join("run");
    let out = run.to_str().unwrap();
    let first = lines(&finetune(&data, out, &["--save-every", "3"]));
    assert_eq!(first.len(), 6);
    assert!(first[2]["val_loss"].is_number(), "{:?}", first[2]);
    assert!(run.join("latest").is_file() && run.join("loss.svg").is_file());
    // The saved model is a Hugging Face folder that `generate` loads.
    let gen = monologue(&[
        "generate",
        "--model",
        out,
        "--prompt",
        "Count",
        "--greedy",
        "--max-tokens",
        "3",
    ]);
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    // Resuming a finished run has nothing left to do; resuming from step 3
    // does the last three steps again, the same way.
    let step3 = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.ends_with("step-000003"))
        .expect("the step-3 checkpoint is kept");
    let again = dir.join("again");
    let rest = lines(&finetune(
        &data,
        again.to_str().unwrap(),
        &["--resume", step3.to_str().unwrap()],
    ));
    assert_eq!(rest.len(), 3);
    assert_eq!(
        rest[2]["loss"], first[5]["loss"],
        "the resumed run's last loss"
    );
}

#[test]
fn finetune_errors_name_the_problem() {
    let dir = scratch("finetune-cli-errors");
    let bad = dir.join("bad.jsonl");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        &bad,
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n",
    )
    .unwrap();
    let out = finetune(
        bad.to_str().unwrap(),
        dir.join("run").to_str().unwrap(),
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.jsonl:1") && err.contains("no assistant message"),
        "{err}"
    );
}

/// The worked example's commands on a tiny model: LoRA fine-tuning on
/// generated addition traces, then GRPO on the result through its chat
/// template, each saving what the next (and `generate`) loads.
#[test]
fn traces_then_grpo_from_the_cli() {
    let dir = scratch("finetune-cli-grpo");
    let (sft, rl) = (dir.join("sft"), dir.join("rl"));
    let model = fixture("qwen2");
    let out = monologue(&[
        "finetune",
        "--model",
        &model,
        "--task",
        "addition",
        "--task-examples",
        "12",
        "--digits",
        "2",
        "--out",
        sft.to_str().unwrap(),
        "--seq",
        "128",
        "--batch",
        "2",
        "--steps",
        "2",
        "--lora-rank",
        "4",
        "--json",
        "--threads",
        "2",
    ]);
    assert_eq!(lines(&out).len(), 2);
    let out = monologue(&[
        "rlvr",
        "--model",
        sft.to_str().unwrap(),
        "--task",
        "addition",
        "--digits",
        "2",
        "--steps",
        "2",
        "--eval",
        "3",
        "--max-new",
        "12",
        "--think",
        "--out",
        rl.to_str().unwrap(),
        "--json",
        "--threads",
        "2",
    ]);
    let steps = lines(&out);
    assert_eq!(steps.len(), 2);
    assert!(
        steps[1]["completion_len"].as_f64().unwrap() > 0.0,
        "{:?}",
        steps[1]
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("held-out additions") && err.contains("after 2 GRPO steps"),
        "{err}"
    );
    let gen = monologue(&[
        "generate",
        "--model",
        rl.to_str().unwrap(),
        "--prompt",
        "1",
        "--greedy",
        "--max-tokens",
        "2",
    ]);
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
}
