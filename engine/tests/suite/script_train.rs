//! Training from scripts: a run object that steps, reports, plots, saves a
//! model that `load_model` then generates from, and clear option errors.

use crate::common;

use common::script::{eval, floats, run};
use monologue::script::Session;

const SETUP: &str = r#"
let text = "";
for i in 0..10 { text += "the cat sat on the mat. the dog sat on the log. "; }
let r = train(#{ text: text, steps: 40, layers: 1, width: 32, heads: 2, seq: 32, batch: 4, lr: 0.003, warmup: 5, eval_every: 20 });
"#;

#[test]
fn a_script_trains_plots_saves_and_generates() {
    let mut s = Session::collecting().0;
    run(&mut s, SETUP);
    let first = eval(&mut s, "r.step()").cast::<monologue::script::Map>();
    assert_eq!(first["step"].as_int().unwrap(), 1);
    let last = eval(&mut s, "r.steps(39)").cast::<monologue::script::Map>();
    assert_eq!(last["step"].as_int().unwrap(), 40);
    assert!(last.contains_key("val_loss"), "{last:?}");
    let losses = floats(eval(&mut s, "r.losses"));
    assert_eq!(losses.len(), 40);
    assert!(
        losses[39] < losses[0] - 1.0,
        "{} → {}",
        losses[0],
        losses[39]
    );
    let described = eval(&mut s, "r.to_string()").into_string().unwrap();
    assert!(described.contains("step 40 of 40"), "{described}");
    let plot = eval(&mut s, "r.plot().to_svg()").into_string().unwrap();
    assert!(plot.contains("<svg"));

    let dir = std::env::temp_dir().join(format!("monologue-script-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().unwrap();
    run(&mut s, &format!("r.save({dir_s:?});"));
    let text = eval(
        &mut s,
        &format!("let m = load_model({dir_s:?}); m.generate(\"the cat\", #{{ max_tokens: 12, temperature: 0 }})"),
    );
    let text = text.into_string().unwrap_or_else(|d| format!("{d:?}"));
    assert!(!text.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_training_options_name_the_problem() {
    let mut s = Session::collecting().0;
    let err = |s: &mut Session, code: &str| match s.eval(code) {
        Ok(_) => panic!("{code} succeeded"),
        Err(e) => e.to_string(),
    };
    assert!(err(&mut s, r#"train(#{ text: "abc", stepz: 3 })"#).contains("unknown option stepz"));
    assert!(err(&mut s, r#"train(#{ steps: 3 })"#).contains("give `text` or `data`"));
    assert!(err(&mut s, r#"train(#{ text: "abc", model: "lstm" })"#).contains("\"gpt\" or \"rnn\""));
    assert!(
        err(&mut s, r#"train(#{ text: "abc", model: "rnn", fast: 1 })"#)
            .contains("`fast` must be true or false")
    );
    assert!(err(&mut s, r#"train(#{ text: "abc", seq: 64 })"#).contains("fewer than one sequence"));
}

/// `live` shows the loss chart once and redraws it in place; the RNN
/// trains from scripts too.
#[test]
fn live_training_redraws_one_chart() {
    let (mut s, collected) = Session::collecting();
    run(&mut s, SETUP);
    let last = eval(&mut s, "r.live(10, 4)").cast::<monologue::script::Map>();
    assert_eq!(last["step"].as_int().unwrap(), 10);
    let displays = collected.lock().unwrap().displays.clone();
    let updates: Vec<bool> = displays.iter().map(|d| d.1).collect();
    assert_eq!(
        updates,
        [false, true, true],
        "shown at 4, redrawn at 8 and 10"
    );
    assert!(displays.iter().all(|d| d.0 == displays[0].0));
    run(
        &mut s,
        "let q = train(#{ text: text, model: \"rnn\", steps: 5, layers: 1, width: 16, heads: 2, experts: 3, seq: 16, batch: 2 });",
    );
    let rec = eval(&mut s, "q.steps(5)").cast::<monologue::script::Map>();
    assert_eq!(rec["step"].as_int().unwrap(), 5);
    let described = eval(&mut s, "q.to_string()").into_string().unwrap();
    assert!(described.contains("GRU+RWKV"), "{described}");
}

/// GRPO from a script: a supervised checkpoint on the copy task, then
/// steps with a live reward chart, rewards, exact match and a save.
#[test]
fn a_script_runs_grpo_on_a_checkpoint() {
    let (mut s, collected) = Session::collecting();
    let dir = std::env::temp_dir().join(format!("monologue-script-rlvr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().unwrap();
    run(
        &mut s,
        &format!(
            r#"
let text = "";
for i in 0..60 {{ text += "abc:abc\nba:ba\ncab:cab\n"; }}
let w = train(#{{ text: text, steps: 10, layers: 1, width: 16, heads: 2, seq: 16, batch: 2 }});
w.steps(10);
w.save("{dir_s}/warm");
let rl = rlvr(#{{ checkpoint: "{dir_s}/warm", task: "copy", group: 4, prompts: 2, max_new: 4 }});
"#
        ),
    );
    let before = eval(&mut s, "rl.exact_match(5)").as_float().unwrap();
    assert!((0.0..=1.0).contains(&before));
    let rec = eval(&mut s, "rl.live(3, 1)").cast::<monologue::script::Map>();
    assert_eq!(rec["step"].as_int().unwrap(), 3);
    let rewards = floats(eval(&mut s, "rl.rewards"));
    assert_eq!(rewards.len(), 3);
    assert!(rewards.iter().all(|r| (0.0..=1.0).contains(r)));
    let updates: Vec<bool> = collected
        .lock()
        .unwrap()
        .displays
        .iter()
        .map(|d| d.1)
        .collect();
    assert_eq!(updates, [false, true, true]);
    // A reward written in rhai replaces the task's: a constant 5 shows in
    // the mean, and ties every group (nothing to learn from).
    let rec = eval(&mut s, "rl.steps(2, |completion, answer| 5)").cast::<monologue::script::Map>();
    assert_eq!(rec["reward"].as_float().unwrap(), 5.0);
    assert_eq!(rec["frac_zero_std"].as_float().unwrap(), 1.0);
    let err = s
        .eval(r#"rl.step(|completion, answer| "good")"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a number"), "{err}");
    run(&mut s, &format!("rl.save(\"{dir_s}/tuned\");"));
    assert!(dir.join("tuned/latest").is_file());
    let err = s
        .eval(r#"rlvr(#{ checkpoint: "/nonexistent/warm" })"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/warm"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `finetune(#{...})` gives a run with train(...)'s methods: a LoRA
/// fine-tune of a pretrained model on generated addition traces, whose
/// saved adapter `load_model` chats with.
#[test]
fn a_script_fine_tunes_a_pretrained_model() {
    let model = common::hf_reference::fixture("qwen2").display().to_string();
    let mut s = Session::collecting().0;
    run(
        &mut s,
        &format!(
            "let f = finetune(#{{ model: {model:?}, task: \"addition\", examples: 8, digits: 2, seq: 128, batch: 1, steps: 3, lora_rank: 4, lr: 0.01, validation: 0.25, eval_every: 3 }});"
        ),
    );
    assert_eq!(eval(&mut s, "f.total_steps").as_int().unwrap(), 3);
    let last = eval(&mut s, "f.steps(3)").cast::<monologue::script::Map>();
    assert_eq!(last["step"].as_int().unwrap(), 3);
    assert!(last.contains_key("val_loss"), "{last:?}");
    assert_eq!(floats(eval(&mut s, "f.losses")).len(), 3);
    let described = eval(&mut s, "f.to_string()").into_string().unwrap();
    assert!(
        described.contains("LoRA rank 4") && described.contains("step 3 of 3"),
        "{described}"
    );
    let dir =
        std::env::temp_dir().join(format!("monologue-script-finetune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().unwrap();
    run(&mut s, &format!("f.save({dir_s:?});"));
    let text = eval(
        &mut s,
        &format!("let m = load_model({dir_s:?}); m.generate(\"What is\", #{{ max_tokens: 4, temperature: 0 }})"),
    );
    assert!(text.into_string().is_ok());
    let err = s
        .eval("finetune(#{ model: \"nowhere-at-all\", task: \"addition\" })")
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nowhere-at-all"), "{err}");
}

/// `rlvr(#{ model, ... })`: GRPO on a pretrained chat model (LoRA) from a
/// script. A reward written in rhai is what the records average; the
/// held-out accuracy and a save that `load_model` opens follow.
#[test]
fn a_script_runs_grpo_on_a_chat_model() {
    let model = common::hf_reference::fixture("qwen2").display().to_string();
    let mut s = Session::collecting().0;
    run(
        &mut s,
        &format!(
            "let rl = rlvr(#{{ model: {model:?}, task: \"addition\", digits: 2, lora_rank: 4, think: true, group: 4, prompts: 2, max_new: 6, lr: 0.01 }});"
        ),
    );
    let accuracy = eval(&mut s, "rl.exact_match(3)").as_float().unwrap();
    assert!((0.0..=1.0).contains(&accuracy));
    // The reward sees the reply and the problem's answer: the sum of two
    // 2-digit numbers, two or three digits long.
    let rec = eval(
        &mut s,
        "rl.steps(2, |reply, answer| if answer.len() >= 2 && answer.len() <= 3 { 2 } else { 0 })",
    )
    .cast::<monologue::script::Map>();
    assert_eq!(rec["step"].as_int().unwrap(), 2);
    assert_eq!(rec["reward"].as_float().unwrap(), 2.0);
    assert_eq!(rec["frac_zero_std"].as_float().unwrap(), 1.0);
    assert!(rec["completion_len"].as_float().unwrap() > 0.0);
    // The task's own reward: the addition checked, in [0, 1].
    let rec = eval(&mut s, "rl.step()").cast::<monologue::script::Map>();
    assert!((0.0..=1.0).contains(&rec["reward"].as_float().unwrap()));
    assert_eq!(floats(eval(&mut s, "rl.rewards")).len(), 3);
    let dir = std::env::temp_dir().join(format!("monologue-script-chat-rl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_str().unwrap();
    run(&mut s, &format!("rl.save({dir_s:?});"));
    let text = eval(
        &mut s,
        &format!(
            "load_model({dir_s:?}).generate(\"What is\", #{{ max_tokens: 3, temperature: 0 }})"
        ),
    );
    assert!(text.into_string().is_ok());
    let err = s
        .eval(&format!("rlvr(#{{ model: {model:?}, task: \"copy\" }})"))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("addition"), "{err}");
    let err = s
        .eval(&format!("rlvr(#{{ model: {model:?}, checkpoint: \"x\" }})"))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not both"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
