//! Export: a GPT trained here, saved and exported to GGUF,
//!
//! - gives the same logits through our GGUF loader as from its checkpoint
//!   folder, with the same tokenizer;
//! - loads in llama.cpp (python3 with llama-cpp-python, run at test time)
//!   and runs to the same greedy tokens and close logits;
//!
//! and the committed tiny checkpoint `tests/fixtures/train/tiny-gpt/` runs
//! to the logits and greedy tokens Hugging Face `transformers` recorded for
//! it (`tests/reference/train_export_hf.py`).

use crate::common;

use common::{greedy, max_diff};
use monologue::generate::top_k;
use monologue::model::{LoadOptions, Logits};
use monologue::tokenizer::train::{train as train_bpe, TrainOptions};
use monologue::tokenizer::PreTokenizer;
use monologue::train::data::{Dataset, END_OF_TEXT};
use monologue::train::export::export_gguf;
use monologue::train::gpt::GptConfig;
use monologue::train::{checkpoint, Run, TrainConfig};
use monologue::LanguageModel;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TEXT: &str = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings and arrows of outrageous fortune, or to take arms against a sea of troubles and by opposing end them. ";

const PROMPT: &str = "To be, or not";
/// Greedy tokens compared with llama.cpp (fewer where the context ends).
const STEPS: usize = 20;
/// llama.cpp's logits may differ from ours by this much: its GELU reads a
/// table indexed by the input rounded to f16 (relative error ~5e-4 in
/// each activation), and it sums in other orders. Worst seen 2.4e-3 (the
/// byte-level checkpoint), 1.7e-3 (the BPE model trained here).
const LLAMA_CPP_TOL: f32 = 5e-3;
/// transformers (torch, f32) against us on the committed checkpoint.
/// Worst seen 1.2e-5.
const HF_TOL: f32 = 1e-4;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = common::scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A run's folder with a trained checkpoint, and its GGUF export; made
/// once for every test here.
struct Trained {
    run_dir: PathBuf,
    gguf: PathBuf,
}

fn trained() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let text = TEXT.repeat(8);
        // A BPE with merges, so that the export's merges are exercised.
        let tokenizer = train_bpe(
            [text.as_str()],
            &TrainOptions {
                vocab_size: 300,
                min_frequency: 2,
                special_tokens: vec![END_OF_TEXT.into()],
                pre: PreTokenizer::Gpt2,
            },
        )
        .unwrap();
        assert!(!tokenizer.merges().is_empty());
        let data = Dataset::new(&text, tokenizer, 0.1).unwrap();
        let shape = GptConfig {
            vocab: 0, // from the tokenizer
            context: 48,
            layers: 2,
            width: 32,
            heads: 4,
        };
        let config = TrainConfig {
            batch: 4,
            seq: 32,
            steps: 400,
            lr: 3e-3,
            warmup: 10,
            eval_every: 0,
            ..TrainConfig::default()
        };
        let mut run = Run::new_gpt(shape, config, data).unwrap();
        for _ in 0..run.config.steps {
            run.step().unwrap();
        }
        let loss = run.history.last().unwrap().loss;
        eprintln!("trained {} steps: loss {loss:.3}", run.step);
        let dir = scratch("run");
        let run_dir = dir.join("run");
        checkpoint::save(&run, &run_dir).unwrap();
        let gguf = dir.join("tiny.gguf");
        // The run's folder stands for its newest checkpoint.
        export_gguf(&run_dir, &gguf).unwrap();
        Trained { run_dir, gguf }
    })
}

fn load(path: &Path) -> LanguageModel {
    LanguageModel::load(path.to_str().unwrap(), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The top-2 margin of a row of logits.
fn margin(row: &[f32]) -> f32 {
    let top = top_k(row, 2);
    top[0].1 - top[1].1
}

#[test]
fn the_gguf_export_runs_like_the_checkpoint() {
    let t = trained();
    let folder = load(&t.run_dir);
    let gguf = load(&t.gguf);
    assert_eq!(gguf.model.info().architecture, "gpt2");
    assert_eq!(folder.model.info(), gguf.model.info());

    // The same tokenizer: ids, special tokens, every token's text.
    let text = format!("{TEXT}{END_OF_TEXT}Whether 'tis nobler?");
    let ids = folder.tokenizer.encode(&text, true, false);
    assert_eq!(gguf.tokenizer.encode(&text, true, false), ids);
    assert_eq!(gguf.tokenizer.special_ids(), folder.tokenizer.special_ids());
    assert_eq!(gguf.tokenizer.vocab_texts(), folder.tokenizer.vocab_texts());
    assert_eq!(gguf.tokenizer.merges(), folder.tokenizer.merges());

    // The same logits at every position of a full context.
    let ids = &ids[..48.min(ids.len())];
    let run = |lm: &LanguageModel| {
        let mut state = lm.model.new_state(ids.len()).unwrap();
        lm.model.forward(&mut state, ids, Logits::All).unwrap()
    };
    let (a, b) = (run(&folder), run(&gguf));
    let diff = max_diff(&a, &b);
    eprintln!(
        "checkpoint folder vs GGUF: {} logits, max |diff| {diff:e}",
        a.len()
    );
    // The same f32 weights through the same kernels: bit for bit.
    assert_eq!(diff, 0.0, "the GGUF's logits differ by {diff}");
}

/// Runs tests/reference/llama_cpp_greedy.py on the GGUF.
fn llama_cpp(gguf: &Path, prompt: &[u32], steps: usize, text: &str) -> Value {
    let script = repo().join("tests/reference/llama_cpp_greedy.py");
    let ids: Vec<String> = prompt.iter().map(u32::to_string).collect();
    let out = Command::new("python3")
        .arg(&script)
        .arg(gguf)
        .arg(ids.join(","))
        .arg(steps.to_string())
        .arg(text)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); this test needs python3 with llama-cpp-python (scripts/setup.sh --tests)")
        });
    assert!(
        out.status.success(),
        "llama.cpp did not run the exported GGUF ({}); this test needs python3 with llama-cpp-python (scripts/setup.sh --tests):\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ids_of(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn floats_of(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// llama.cpp runs `gguf` from `PROMPT` to our greedy tokens, with logits
/// within [`LLAMA_CPP_TOL`] of ours, and tokenizes as we do.
fn agrees_with_llama_cpp(gguf: &Path) {
    let lm = load(gguf);
    let prompt = lm.tokenizer.encode(PROMPT, false, false);
    // As many as the context holds (the byte-level model's is short).
    let steps = STEPS.min(lm.model.info().context_length - prompt.len());
    assert!(steps >= 16, "{steps} greedy steps prove little");
    let ours = greedy(lm.model.as_ref(), &prompt, steps);
    let probe = format!("{TEXT}{END_OF_TEXT} whether");
    let theirs = llama_cpp(gguf, &prompt, steps, &probe);

    // llama.cpp reads the vocabulary we wrote as we do.
    assert_eq!(
        theirs["vocab_size"].as_u64().unwrap() as usize,
        lm.model.info().vocab_size
    );
    assert_eq!(
        ids_of(&theirs["tokens"]),
        lm.tokenizer.encode(&probe, true, false),
        "llama.cpp tokenizes the exported vocabulary differently"
    );

    // Where our top two are closer than twice the tolerance, the greedy
    // comparison below would prove nothing: the models are trained so that
    // they never are.
    let least = ours
        .iter()
        .map(|(_, row)| margin(row))
        .fold(f32::INFINITY, f32::min);
    assert!(
        least > 2.0 * LLAMA_CPP_TOL,
        "a greedy step is a near-tie (top-2 margin {least}); train the test model more"
    );

    let generated = ids_of(&theirs["generated"]);
    let ours_ids: Vec<u32> = ours.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        generated,
        ours_ids,
        "llama.cpp: {:?}\nours:      {:?}",
        lm.tokenizer.decode_lossy(&generated).unwrap(),
        lm.tokenizer.decode_lossy(&ours_ids).unwrap()
    );
    let rows = theirs["logits"].as_array().unwrap();
    assert_eq!(rows.len(), steps);
    let worst = rows
        .iter()
        .zip(&ours)
        .map(|(row, (_, logits))| max_diff(&floats_of(row), logits))
        .fold(0f32, f32::max);
    eprintln!(
        "{}: llama.cpp and we take the same {steps} greedy tokens ({:?}); logits max |diff| {worst:e}; least top-2 margin {least:.3}",
        gguf.display(),
        lm.tokenizer.decode_lossy(&ours_ids).unwrap()
    );
    assert!(
        worst <= LLAMA_CPP_TOL,
        "llama.cpp's logits differ from ours by {worst}"
    );
}

#[test]
fn llama_cpp_runs_the_gguf_export_to_the_same_greedy_tokens() {
    agrees_with_llama_cpp(&trained().gguf);
}

/// The committed checkpoint has the byte-level tokenizer: no merges at all.
#[test]
fn llama_cpp_runs_a_byte_level_export() {
    let dir = scratch("bytes");
    let gguf = dir.join("tiny-gpt.gguf");
    export_gguf(&repo().join("tests/fixtures/train/tiny-gpt"), &gguf).unwrap();
    agrees_with_llama_cpp(&gguf);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn transformers_logits_match_the_committed_checkpoint() {
    let fixtures = repo().join("tests/fixtures/train");
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("tiny-gpt-hf-logits.json")).unwrap(),
    )
    .unwrap();
    let lm = load(&fixtures.join("tiny-gpt"));
    let ids = ids_of(&json["ids"]);
    assert_eq!(
        lm.tokenizer
            .encode(json["text"].as_str().unwrap(), true, false),
        ids
    );
    let mut state = lm.model.new_state(ids.len()).unwrap();
    let ours = lm.model.forward(&mut state, &ids, Logits::All).unwrap();
    let theirs: Vec<f32> = json["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(floats_of)
        .collect();
    let diff = max_diff(&ours, &theirs);

    let prompt = ids_of(&json["greedy_prompt"]);
    let expected = ids_of(&json["greedy"]);
    let least = floats_of(&json["greedy_margin"])
        .into_iter()
        .fold(f32::INFINITY, f32::min);
    assert!(
        least > 2.0 * HF_TOL,
        "transformers' greedy run has a near-tie (margin {least}): the comparison would prove nothing"
    );
    let got: Vec<u32> = greedy(lm.model.as_ref(), &prompt, expected.len())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    eprintln!(
        "transformers {} vs us: {} logits, max |diff| {diff:e}; the same greedy tokens {:?} (least margin {least:.3})",
        json["transformers"],
        ours.len(),
        lm.tokenizer.decode_lossy(&got).unwrap()
    );
    assert!(diff <= HF_TOL, "transformers' logits differ by {diff}");
    assert_eq!(got, expected, "transformers' greedy tokens differ");
}

#[test]
fn export_refuses_what_is_not_a_gpt2_folder() {
    let dir = scratch("refuse");
    let out = dir.join("out.gguf");
    let err = |path: &Path| export_gguf(path, &out).unwrap_err().to_string();

    let missing = dir.join("nothing-here");
    let e = err(&missing);
    assert!(e.contains("no such folder"), "{e}");

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = err(&empty);
    assert!(e.contains("no config.json"), "{e}");

    let llama = dir.join("llama");
    std::fs::create_dir_all(&llama).unwrap();
    std::fs::write(
        llama.join("config.json"),
        r#"{"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10, "rms_norm_eps": 1e-5}"#,
    )
    .unwrap();
    let e = err(&llama);
    assert!(e.contains("GPT-2 models only"), "{e}");

    assert!(!out.exists(), "a failed export left a file");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
