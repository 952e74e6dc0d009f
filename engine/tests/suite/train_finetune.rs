//! Fine-tuning a pretrained model on conversations (`finetune`,
//! `finetune::sft`), on the tiny Hugging Face fixtures: which tokens are
//! scored, packing, learning a chat set by heart, checkpoints that resume
//! bit for bit and load as models in the format they came in.

use crate::common;
use crate::common::hf_reference::fixture;
use monologue::finetune::sft::{self, chat_data, Conversation, Encoded};
use monologue::finetune::{self, checkpoint, FineTune, FinetuneOptions};
use monologue::generate::Message;
use monologue::model::{LoadOptions, Logits};
use monologue::train::kernels::loss::IGNORE;
use monologue::train::run::TrainConfig;

fn conversation(pairs: &[(&str, &str)]) -> Conversation {
    let messages = pairs
        .iter()
        .flat_map(|(q, a)| [Message::user(*q), Message::assistant(*a)])
        .collect();
    Conversation { messages }
}

/// A few conversations small enough to learn by heart.
fn chat_set() -> Vec<Conversation> {
    vec![
        conversation(&[("What is two plus two?", "four")]),
        conversation(&[("Name a colour.", "blue"), ("Another one?", "green")]),
        conversation(&[("Say hello.", "hello there")]),
    ]
}

fn config(steps: usize, lr: f32) -> TrainConfig {
    TrainConfig {
        batch: 1,
        seq: 128,
        steps,
        lr,
        min_lr: lr,
        warmup: 0,
        eval_every: 0,
        ..TrainConfig::default()
    }
}

fn fixture_path(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn only_the_assistants_tokens_are_scored() {
    for name in ["qwen2", "gemma3", "llama"] {
        let (_, text) = finetune::open(&fixture_path(name), None).unwrap();
        let conv = conversation(&[
            ("Name a colour.", "blue sky"),
            ("Another one?", "green grass"),
        ]);
        let Encoded { ids, scored } = text.encoder().encode(&conv.messages).unwrap();
        let pick = |want: bool| -> Vec<u32> {
            ids.iter()
                .zip(&scored)
                .filter(|(_, s)| **s == want)
                .map(|(i, _)| *i)
                .collect()
        };
        let said = text.tokenizer.decode(&pick(true)).unwrap();
        let heard = text.tokenizer.decode(&pick(false)).unwrap();
        for answer in ["blue sky", "green grass"] {
            assert!(
                said.contains(answer),
                "{name}: {answer:?} not scored in {said:?}"
            );
            assert!(
                !heard.contains(answer),
                "{name}: {answer:?} in the prompt part {heard:?}"
            );
        }
        for question in ["Name a colour.", "Another one?"] {
            assert!(
                !said.contains(question),
                "{name}: {question:?} scored in {said:?}"
            );
        }
        // The turn's end is scored too: the model must learn to stop.
        let rendered = text
            .template
            .render(&conv.messages, false, &text.options)
            .unwrap();
        let after = &rendered[rendered.find("blue sky").unwrap() + "blue sky".len()..];
        let end_of_turn = after.split_whitespace().next().unwrap_or("");
        assert!(
            said.contains(end_of_turn),
            "{name}: the end of turn {end_of_turn:?} is not scored in {said:?}"
        );
    }
}

#[test]
fn packing_keeps_every_scored_token_and_marks_documents() {
    let (_, text) = finetune::open(&fixture_path("qwen2"), None).unwrap();
    let docs: Vec<Encoded> = chat_set()
        .iter()
        .map(|c| text.encoder().encode(&c.messages).unwrap())
        .collect();
    let (rows, stats) = sft::pack(&docs, 128, 0).unwrap();
    assert_eq!(stats.truncated, 0);
    let want: usize = docs
        .iter()
        .map(|d| d.scored.iter().skip(1).filter(|&&s| s).count())
        .sum();
    let got: usize = rows
        .iter()
        .map(|r| r.targets.iter().filter(|&&t| t != IGNORE).count())
        .sum();
    assert_eq!(got, want, "scored targets");
    assert_eq!(stats.scored, want);
    assert!(rows.len() < docs.len(), "short documents share rows");
    for row in &rows {
        assert_eq!(
            (row.ids.len(), row.targets.len(), row.starts.len()),
            (128, 128, 128)
        );
        for (i, &s) in row.starts.iter().enumerate() {
            assert!(s <= i && (i == 0 || s >= row.starts[i - 1]));
            // A target is the next token of the same document.
            if row.targets[i] != IGNORE {
                assert_eq!(row.targets[i], row.ids[i + 1]);
                assert_eq!(row.starts[i + 1], s);
            }
        }
    }
}

#[test]
fn bad_chat_files_are_refused_by_line() {
    let cases = [
        (
            "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n",
            "1: no assistant message",
        ),
        ("\n{\"messages\": 3}\n", "2: not a"),
        ("not json", "1: not a"),
        ("\n\n", "no conversations"),
    ];
    for (text, want) in cases {
        let err = chat_data::parse_jsonl(text, "chats.jsonl")
            .unwrap_err()
            .to_string();
        assert!(err.contains(want) && err.contains("chats.jsonl"), "{err}");
    }
}

/// Full fine-tuning learns a small chat set by heart: the loss falls near
/// zero, and the saved model, loaded like any other, answers a training
/// question with its answer.
#[test]
fn a_chat_set_is_learned_by_heart_and_the_saved_model_repeats_it() {
    let set = chat_set();
    let mut ft =
        FineTune::start(&fixture_path("llama"), None, &set, config(80, 3e-3), 0.0).unwrap();
    let first = ft.step().unwrap().loss;
    let mut last = first;
    for _ in 1..80 {
        last = ft.step().unwrap().loss;
    }
    assert!(last < 0.05 && first > 2.0, "loss {first} → {last}");

    let dir = tempdir("overfit");
    let saved = ft.save(&dir).unwrap();
    let lm = monologue::LanguageModel::load(&dir.display().to_string(), &LoadOptions::default())
        .unwrap();
    assert!(saved.starts_with(&dir));
    let (prompt, _) = lm
        .chat_prompt(&[Message::user("Say hello.")], false)
        .unwrap();
    let ids = lm.encode(&prompt);
    let answer: Vec<u32> = common::greedy(&*lm.model, &ids, 12)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let text = lm.tokenizer.decode_lossy(&answer).unwrap();
    assert!(text.starts_with("hello there"), "answered {text:?}");
}

/// Saving and resuming in the middle gives the run that never stopped,
/// bit for bit.
#[test]
fn a_resumed_fine_tune_continues_bit_for_bit() {
    for name in ["gemma3", "qwen2"] {
        let set = chat_set();
        let cfg = TrainConfig {
            accumulate: 2,
            ..config(6, 1e-3)
        };
        let mut straight =
            FineTune::start(&fixture_path(name), None, &set, cfg.clone(), 0.0).unwrap();
        for _ in 0..6 {
            straight.step().unwrap();
        }
        let mut first = FineTune::start(&fixture_path(name), None, &set, cfg, 0.0).unwrap();
        for _ in 0..3 {
            first.step().unwrap();
        }
        let dir = tempdir(&format!("resume-{name}"));
        first.save(&dir).unwrap();
        let mut resumed = checkpoint::resume(&dir, &set).unwrap();
        for _ in 0..3 {
            resumed.step().unwrap();
        }
        let losses = |ft: &FineTune| {
            ft.history
                .iter()
                .map(|r| r.loss.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(losses(&resumed), losses(&straight), "{name}: losses");
        for (a, b) in resumed
            .model
            .graph
            .params
            .iter()
            .zip(&straight.model.graph.params)
        {
            let same = a
                .value
                .iter()
                .zip(&b.value)
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{name}: {} differs after resuming", a.name);
        }
        // Other data is refused, not silently trained on.
        let other = vec![conversation(&[("?", "!")])];
        let err = checkpoint::resume(&dir, &other)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("other rows"), "{err}");
    }
}

/// A fine-tune saves in the format it came in, and the inference path
/// loads the result with the weights the tape holds: a GGUF file (Q and K
/// rows in llama.cpp's order), and a Hugging Face folder of Gemma 3 (whose
/// norms are stored as w for 1 + w).
#[test]
fn saved_models_load_with_the_trained_weights() {
    let set = chat_set();
    let gguf = fixture("llama")
        .join("llama_cpp.gguf")
        .display()
        .to_string();
    for (what, model) in [("gguf", gguf), ("gemma3", fixture_path("gemma3"))] {
        let mut ft = FineTune::start(&model, None, &set, config(2, 1e-2), 0.0).unwrap();
        for _ in 0..2 {
            ft.step().unwrap();
        }
        let dir = tempdir(&format!("saved-{what}"));
        ft.save(&dir).unwrap();
        let ids: Vec<u32> = (3..20).collect();
        let tape = ft.model.forward(&ids, 1).unwrap();
        let tape = ft.model.graph.value(tape).to_vec();
        let loaded = monologue::load::model(&dir, &LoadOptions::default()).unwrap();
        let mut state = loaded.new_state(64).unwrap();
        let logits = loaded.forward(&mut state, &ids, Logits::All).unwrap();
        let worst = logits
            .iter()
            .zip(&tape)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{what}: the loaded model differs by {worst}");
        // And it is not the model we started from.
        let base = monologue::load::model(&model, &LoadOptions::default()).unwrap();
        let mut state = base.new_state(64).unwrap();
        let before = base.forward(&mut state, &ids, Logits::All).unwrap();
        let moved = before
            .iter()
            .zip(&tape)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(moved > 1e-3, "{what}: training changed nothing");
    }
}

#[test]
fn options_give_the_steps_of_the_epochs() {
    let options = FinetuneOptions {
        model: fixture_path("qwen2"),
        batch: 1,
        seq: 128,
        epochs: 2.0,
        validation: 0.3,
        ..FinetuneOptions::default()
    };
    let ft = FineTune::from_options(&options, &chat_set()).unwrap();
    assert_eq!(ft.data.validation_stats.documents, 1);
    assert_eq!(ft.config.steps, 2 * ft.data.train.len());
}

fn tempdir(what: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("monologue-finetune-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
