//! `monologue tokenize`, `train-tokenizer` and `bench tokenizer`, run as
//! processes: output formats, stdin handling and errors.

mod common;

use common::{model, monologue, scratch, with_stdin};
use std::process::Output;

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    match stdin {
        Some(text) => with_stdin(args, text),
        None => monologue(args),
    }
}

fn ids(out: &Output) -> Vec<u32> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn tokenize_prints_ids_and_parses_special_tokens_on_request() {
    let m = model();
    // llama.cpp's tokenizer gives [19556, 905] (tests/reference fixture).
    assert_eq!(
        ids(&run(&["tokenize", "--model", &m, "Hello world"], None)),
        [19556, 905]
    );
    let special = ids(&run(
        &["tokenize", "--model", &m, "--special", "<|im_start|>user"],
        None,
    ));
    let plain = ids(&run(&["tokenize", "--model", &m, "<|im_start|>user"], None));
    assert_eq!(special.len(), 2, "{special:?}");
    assert!(plain.len() > 2, "{plain:?}");
    // `-` reads the text from stdin.
    assert_eq!(
        ids(&run(&["tokenize", "--model", &m, "-"], Some("Hello world"))),
        [19556, 905]
    );
}

#[test]
fn jsonl_mode_answers_line_by_line_in_order() {
    let m = model();
    let out = run(
        &["tokenize", "--model", &m, "--jsonl"],
        Some("\"Hello world\"\n\"\"\n\"caf\\u00e9 \\ud83d\\ude00\"\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Vec<u32>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], [19556, 905]);
    assert!(lines[1].is_empty());
    assert_eq!(
        lines[2],
        ids(&run(&["tokenize", "--model", &m, "café 😀"], None))
    );

    let bad = run(&["tokenize", "--model", &m, "--jsonl"], Some("not json\n"));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 1"));
}

#[test]
fn a_trained_tokenizer_loads_and_round_trips() {
    let corpus = scratch("corpus.txt");
    let text = "the cat sat on the mat. the dog sat on the log. ".repeat(200);
    std::fs::write(&corpus, &text).unwrap();
    let out_path = scratch("tokenizer.json");
    let trained = run(
        &[
            "train-tokenizer",
            "--input",
            corpus.to_str().unwrap(),
            "--vocab-size",
            "300",
            "--special",
            "<|end|>",
            "--output",
            out_path.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    assert!(json["model"]["merges"].as_array().unwrap().len() > 10);
    let tokens = ids(&run(
        &[
            "tokenize",
            "--model",
            out_path.to_str().unwrap(),
            "the cat sat on the mat.",
        ],
        None,
    ));
    // Frequent words became single tokens: far fewer tokens than bytes.
    assert!(tokens.len() < 12, "{tokens:?}");
}

#[test]
fn bench_tokenizer_reports_the_documented_json() {
    let input = scratch("bench.txt");
    std::fs::write(
        &input,
        "Hello world, this is a benchmark. 12345\n".repeat(500),
    )
    .unwrap();
    let out = run(
        &[
            "bench",
            "tokenizer",
            "--model",
            &model(),
            "--input",
            input.to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["bytes", "tokens", "seconds", "mb_per_s", "threads"] {
        assert!(report.get(key).is_some(), "{key} missing from {report}");
    }
    assert_eq!(report["bytes"].as_u64().unwrap(), 20_000);
    assert!(report["tokens"].as_u64().unwrap() > 1000);
}

#[test]
fn bad_tokenizer_inputs_fail_with_one_line() {
    let missing = run(
        &["tokenize", "--model", "/no/such/tokenizer.json", "x"],
        None,
    );
    assert!(!missing.status.success());
    let broken = scratch("broken.json");
    std::fs::write(&broken, "{\"model\": {\"type\": \"BPE\", \"vocab\": 3}}").unwrap();
    let bad = run(
        &["tokenize", "--model", broken.to_str().unwrap(), "x"],
        None,
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("broken.json"), "{err}");
}
