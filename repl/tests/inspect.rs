//! `monologue inspect`, run as a process the way a person would.

mod common;

use common::{model_path as model, monologue};
use std::path::PathBuf;
use std::process::Output;

fn inspect(path: &std::path::Path, json: bool) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["inspect".as_ref(), path.as_os_str()];
    if json {
        args.push("--json".as_ref());
    }
    monologue(&args)
}

#[test]
fn json_lists_every_tensor() {
    let out = inspect(&model(), true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(json["format"], "gguf");
    let tensors = json["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 272);
    let embd = tensors
        .iter()
        .find(|t| t["name"] == "token_embd.weight")
        .unwrap();
    assert_eq!(embd["shape"], serde_json::json!([49152, 576]));
    assert_eq!(embd["dtype"], "Q8_0");
    assert_eq!(
        json["metadata"]["tokenizer.ggml.tokens"]
            .as_array()
            .unwrap()
            .len(),
        49152,
        "--json prints arrays in full"
    );
}

#[test]
fn text_abbreviates_long_arrays_and_totals() {
    let out = inspect(&model(), false);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(r#"[49152 strings: "<|endoftext|>", "<|im_start|>", "<|im_end|>", …]"#));
    assert!(text.contains("token_embd.weight"));
    assert!(text.contains("total: 272 tensors"));
    assert!(text.len() < 100_000, "the text view is a summary");
}

/// One line on stderr starting with `error:`, nothing on stdout, failure.
fn assert_one_error_line(out: &Output, needle: &str) {
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
}

#[test]
fn missing_and_garbage_files_fail_with_one_line() {
    let missing = PathBuf::from("/nonexistent/model.gguf");
    assert_one_error_line(&inspect(&missing, false), "/nonexistent/model.gguf");

    let garbage = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("garbage.gguf");
    std::fs::write(&garbage, b"this is not a model at all").unwrap();
    assert_one_error_line(&inspect(&garbage, true), "not a GGUF or safetensors file");

    let truncated = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("truncated.gguf");
    let head = std::fs::read(model()).unwrap()[..4096].to_vec();
    std::fs::write(&truncated, head).unwrap();
    assert_one_error_line(&inspect(&truncated, false), "truncated.gguf: ");
}
