//! Training from scripts: a run object that steps, reports, plots, saves a
//! model that `load_model` then generates from, and clear option errors.

mod common;

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
