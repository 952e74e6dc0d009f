//! `monologue run` on the example scripts in `tests/scripts/`, a script
//! piped into `monologue`, and bad scripts: checked output and exit codes.

mod common;

use common::{model, monologue, stdout, with_stdin};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script(name: &str) -> String {
    root()
        .join("tests/scripts")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_tensor_script_prints_hand_computed_values() {
    let out = stdout(&monologue(&["run", &script("tensors.rhai")]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "shape [2, 2]",
            "sum 10.0",
            "matmul [[4.5, -1.0], [9.5, -3.0]]",
            "broadcast [[11.0, 22.0], [13.0, 24.0]]",
            "argmax [0.0, 0.0]",
            "softmax sums to 1.0",
        ]
    );
}

#[test]
fn a_scripted_greedy_generation_equals_the_clis() {
    let prompt = "The quick brown fox";
    let scripted = stdout(&monologue(&[
        "run",
        &script("generate.rhai"),
        &model(),
        prompt,
        "20",
    ]));
    let cli = stdout(&monologue(&[
        "generate",
        "--model",
        &model(),
        "--prompt",
        prompt,
        "--greedy",
        "--max-tokens",
        "20",
        "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(&cli).unwrap();
    let expected = json["text"].as_str().unwrap();
    assert!(!expected.is_empty());
    // The run ends the streamed line with a newline if the text did not.
    let shown = if expected.ends_with('\n') {
        expected.to_string()
    } else {
        format!("{expected}\n")
    };
    assert_eq!(scripted, shown);
}

#[test]
fn the_top_k_script_prints_probabilities_and_saves_a_chart() {
    let svg = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("top-k-{}.svg", std::process::id()));
    let out = stdout(&monologue(&[
        "run",
        &script("top_k.rhai"),
        &model(),
        svg.to_str().unwrap(),
    ]));
    let probs: Vec<f64> = out
        .lines()
        .take(5)
        .map(|l| l.rsplit('\t').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(probs.len(), 5);
    assert!(probs.windows(2).all(|w| w[0] >= w[1]), "{probs:?}");
    assert!(out.lines().next().unwrap().starts_with(" Paris"), "{out}");
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("<svg") && drawn.contains("next token"));
}

#[test]
fn a_piped_script_prints_values_without_prompts_or_colours() {
    let out = with_stdin::<&str>(
        &[],
        "let x = 20;\nfn add(a, b) {\n  a + b\n}\nadd(x, 22)\nprint(\"done\");\n",
    );
    let text = stdout(&out);
    assert_eq!(text, "42\ndone\n");
    assert!(!text.contains('\x1b') && !text.contains('»'));
}

#[test]
fn bad_scripts_fail_with_the_line_and_a_clear_message() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let bad = dir.join(format!("bad-{}.rhai", std::process::id()));
    std::fs::write(&bad, "let a = 1;\nlet b = ;\n").unwrap();
    let out = monologue(&["run", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");

    std::fs::write(&bad, "let t = tensor([1.0, 2.0]);\nt.matmul(\"nope\")\n").unwrap();
    let out = monologue(&["run", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("matmul"), "{err}");

    let out = monologue(&["run", "/no/such/script.rhai"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/script.rhai"));

    // A piped script with an error still runs the rest, and exits non-zero.
    let out = with_stdin::<&str>(&[], "oops(\n)\n1 + 1\n");
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("oops"));
}

#[test]
fn the_inspection_script_traces_where_the_answer_comes_from() {
    let dir = common::scratch("inspect-script");
    std::fs::create_dir_all(&dir).unwrap();
    let out = stdout(&monologue(&[
        "run",
        &script("inspect.rhai"),
        &model(),
        dir.to_str().unwrap(),
    ]));
    let value = |prefix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in {out}"))
            .trim()
            .to_string()
    };
    // The lens's last layer is the model's own prediction.
    assert_eq!(value("lens: top at the last layer"), value("unpatched:"));
    let p: f64 = value("lens: p(Paris) at the last layer").parse().unwrap();
    assert!(p > 0.3 && p <= 1.0, "{p}");
    // Patching the subject early swaps the fact; late it no longer matters.
    assert_eq!(value("patched blocks.0.resid_post at the subject:"), "Rome");
    assert_eq!(
        value("patched blocks.25.resid_post at the subject:"),
        "Paris"
    );
    for picture in ["lens.svg", "attention.svg"] {
        let svg = std::fs::read_to_string(dir.join(picture)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("iffel"),
            "{picture}"
        );
    }
}
