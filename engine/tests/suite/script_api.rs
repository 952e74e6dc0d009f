//! The rhai scripting API, driven by scripts exactly as the REPL and the
//! Jupyter kernel drive it, with results checked against the engine itself
//! and against hand-computed values.

use crate::common;

use common::script::{eval, floats, ints, run, session};

use monologue::model::{LoadOptions, Logits};
use monologue::script::{Map, Session};
use monologue::LanguageModel;
use std::sync::atomic::Ordering;

fn engine_model() -> LanguageModel {
    LanguageModel::load(common::smollm2().to_str().unwrap(), &LoadOptions::default()).unwrap()
}

#[test]
fn encode_decode_and_tokens_agree_with_the_tokenizer() {
    let lm = engine_model();
    let mut s = session();
    let text = "<|im_start|>user\nHello, wörld! 12345<|im_end|>";
    let ids = ints(eval(&mut s, &format!("m.encode({text:?})")));
    let expected: Vec<i64> = lm.encode(text).into_iter().map(i64::from).collect();
    assert_eq!(ids, expected);
    assert_eq!(
        eval(&mut s, &format!("m.decode(m.encode({text:?}))"))
            .into_string()
            .unwrap(),
        text
    );
    let tokens: Vec<String> = eval(&mut s, "m.tokens(\"Hello, world!\")")
        .into_array()
        .unwrap()
        .into_iter()
        .map(|t| t.into_string().unwrap())
        .collect();
    assert_eq!(tokens, ["Hello", ",", " world", "!"]);
    let err = s.eval("m.decode([1, 99999999])").unwrap_err();
    assert!(err.message.contains("outside the vocabulary"), "{err}");
}

/// A tokenizer without a model: Gemma 3's SentencePiece vocabulary by its
/// short name, and a loaded model's through `m.tokenizer`.
#[test]
fn tokenizers_load_on_their_own_and_answer_as_models_do() {
    let gemma = monologue::tokenizer::Tokenizer::open(common::gemma3()).unwrap();
    let mut s = session();
    let text = "Hello world, 中文!";
    let ids = ints(eval(
        &mut s,
        &format!("let t = load_tokenizer(\"gemma3\"); t.encode({text:?})"),
    ));
    let expected: Vec<i64> = gemma
        .encode(text, true, true)
        .into_iter()
        .map(i64::from)
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(ids[0], 2, "Gemma adds <bos>");
    let plain = ints(eval(
        &mut s,
        &format!("t.encode({text:?}, #{{ bos: false }})"),
    ));
    assert_eq!(plain, expected[1..]);
    assert_eq!(
        eval(
            &mut s,
            &format!("t.decode(t.encode({text:?}, #{{ bos: false }}))")
        )
        .into_string()
        .unwrap(),
        text
    );
    assert_eq!(
        eval(&mut s, "t.family").into_string().unwrap(),
        "SentencePiece"
    );
    assert_eq!(eval(&mut s, "t.vocab_size").as_int().unwrap(), 262_144);
    let pieces: Vec<String> = eval(&mut s, "t.pieces(\"a b\")")
        .into_array()
        .unwrap()
        .into_iter()
        .map(|p| p.into_string().unwrap())
        .collect();
    assert_eq!(pieces.concat(), "a▁b");
    // The model's own tokenizer answers as the model does.
    let via_model = ints(eval(&mut s, "m.tokenizer.encode(\"Hi there\")"));
    assert_eq!(via_model, ints(eval(&mut s, "m.encode(\"Hi there\")")));
    assert!(eval(&mut s, "m.tokenizer.to_string()")
        .into_string()
        .unwrap()
        .contains("byte-level BPE"));
    let err = s.eval("t.encode(\"x\", #{ bogus: true })").unwrap_err();
    assert!(err.message.contains("unknown option bogus"), "{err}");
    let err = s.eval("load_tokenizer(\"no-such-model\")").unwrap_err();
    assert!(err.message.contains("no such file or folder"), "{err}");
}

#[test]
fn greedy_generate_is_the_engines_argmax_chain_and_streams() {
    let lm = engine_model();
    let (mut s, collected) = Session::collecting();
    let path = common::smollm2();
    s.eval(&format!(
        "let m = load_model({:?});",
        path.to_str().unwrap()
    ))
    .unwrap();
    let out = s
        .eval("m.generate(\"The capital of France is\", #{ max_tokens: 10, temperature: 0.0 })")
        .unwrap();
    let text = out.value.clone().into_string().unwrap();

    // The same chain by hand.
    let mut state = lm.new_state(Some(32)).unwrap();
    let mut ids = Vec::new();
    let mut logits = lm
        .model
        .forward(
            &mut state,
            &lm.encode("The capital of France is"),
            Logits::Last,
        )
        .unwrap();
    for _ in 0..10 {
        let id = monologue::generate::argmax(&logits);
        ids.push(id);
        logits = lm.model.forward(&mut state, &[id], Logits::Last).unwrap();
    }
    assert_eq!(text, lm.tokenizer.decode(&ids).unwrap());
    assert_eq!(collected.lock().unwrap().text, text, "the text streamed");
    assert_eq!(out.streamed, text);
    assert!(out.render().is_none(), "streamed text is not echoed again");
}

#[test]
fn top_k_is_sorted_and_its_probabilities_match_a_softmax() {
    let mut s = session();
    let top = eval(&mut s, "m.top_k(\"The capital of France is\", 5)")
        .into_array()
        .unwrap();
    assert_eq!(top.len(), 5);
    let probs: Vec<f64> = top
        .iter()
        .map(|t| t.read_lock::<Map>().unwrap()["prob"].as_float().unwrap())
        .collect();
    assert!(probs.windows(2).all(|w| w[0] >= w[1]), "{probs:?}");
    assert!(probs.iter().sum::<f64>() <= 1.0 + 1e-9);
    // The same numbers from the logits tensor.
    let p = eval(
        &mut s,
        "let l = m.logits(\"The capital of France is\"); l.softmax(-1).max()",
    )
    .as_float()
    .unwrap();
    assert!((p - probs[0]).abs() < 1e-5, "{p} vs {}", probs[0]);
    let best = eval(&mut s, "l.argmax()").as_float().unwrap() as i64;
    let id = top[0].read_lock::<Map>().unwrap()["id"].as_int().unwrap();
    assert_eq!(best, id);
    assert_eq!(ints(eval(&mut s, "l.shape")), [49152]);
}

#[test]
fn tensors_compute_what_the_hand_says() {
    let mut s = Session::collecting().0;
    run(&mut s, "let t = tensor([[1.0, 2.0], [3.0, 4.0]]);");
    assert_eq!(ints(eval(&mut s, "t.shape")), [2, 2]);
    let mm = eval(&mut s, "t.matmul(t).to_array()");
    let rows: Vec<Vec<f64>> = mm.into_array().unwrap().into_iter().map(floats).collect();
    assert_eq!(rows, [[7.0, 10.0], [15.0, 22.0]]);
    let sm = floats(eval(&mut s, "t.softmax(-1)[0].to_array()"));
    let e = std::f64::consts::E;
    assert!((sm[0] - 1.0 / (1.0 + e)).abs() < 1e-6, "{sm:?}");
    assert_eq!(eval(&mut s, "t[1][0]").as_float().unwrap(), 3.0);
    assert_eq!(eval(&mut s, "t[-1][-1]").as_float().unwrap(), 4.0);
    assert_eq!(
        floats(eval(&mut s, "(t * 2 + 1)[0].to_array()")),
        [3.0, 5.0]
    );
    assert_eq!(
        floats(eval(&mut s, "(t - tensor([1, 1]))[1].to_array()")),
        [2.0, 3.0]
    );
    assert_eq!(eval(&mut s, "t.sum()").as_float().unwrap(), 10.0);
    assert_eq!(floats(eval(&mut s, "t.argmax(0).to_array()")), [1.0, 1.0]);
    assert_eq!(floats(eval(&mut s, "t.t()[0].to_array()")), [1.0, 3.0]);
    assert_eq!(
        ints(eval(&mut s, "arange(6).reshape([2, 3]).shape")),
        [2, 3]
    );
    assert_eq!(
        floats(eval(&mut s, "arange(10)[2..5].to_array()")),
        [2.0, 3.0, 4.0]
    );
    assert_eq!(
        floats(eval(&mut s, "t.slice(1, 1, 2).reshape([2]).to_array()")),
        [2.0, 4.0]
    );
    let printed = eval(&mut s, "t.to_string()").into_string().unwrap();
    assert!(printed.contains("[[1., 2.],"), "{printed}");
    // Shape errors say what was wrong.
    let err = s.eval("t.matmul(tensor([1.0, 2.0, 3.0]))").unwrap_err();
    assert!(err.message.contains("inner dimensions"), "{err}");
    let err = s.eval("tensor([[1.0], [2.0, 3.0]])").unwrap_err();
    assert!(err.message.contains("ragged"), "{err}");
    let err = s.eval("t[5]").unwrap_err();
    assert!(err.message.contains("out of range"), "{err}");
}

#[test]
fn profile_lists_the_kernels_that_ran() {
    let mut s = session();
    run(
        &mut s,
        "let p = profile(|| m.generate(\"hi\", #{ max_tokens: 4, temperature: 0.0 }));",
    );
    let kernels: Vec<String> = eval(&mut s, "p.kernels")
        .into_array()
        .unwrap()
        .into_iter()
        .map(|k| k.into_string().unwrap())
        .collect();
    for k in ["matvec_q4_1", "attention", "rmsnorm", "rope"] {
        assert!(
            kernels.iter().any(|n| n == k),
            "{k} missing from {kernels:?}"
        );
    }
    let rows = eval(&mut s, "p.rows()").into_array().unwrap();
    for row in &rows {
        let r = row.read_lock::<Map>().unwrap();
        assert!(r["calls"].as_int().unwrap() > 0);
        assert!(r["total_ms"].as_float().unwrap() > 0.0, "{r:?}");
    }
    let table = eval(&mut s, "p.to_string()").into_string().unwrap();
    assert!(table.contains("matvec_q4_1"), "{table}");
    let trace = common::scratch("trace.json");
    run(
        &mut s,
        &format!("save_trace({:?})", trace.to_str().unwrap()),
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert!(json.to_string().contains("matvec_q4_1"));
    // Nothing ran: an empty profile, not an error.
    assert_eq!(
        eval(&mut s, "profile(|| 1 + 1).launches").as_int().unwrap(),
        0
    );
}

#[test]
fn plots_render_and_save() {
    let mut s = Session::collecting().0;
    let svg = eval(
        &mut s,
        "plot_line([0, 1, 2, 3], [3.0, 2.0, 1.5, 1.2], #{ title: \"loss\", x_label: \"step\" }).to_svg()",
    )
    .into_string()
    .unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("loss"),
        "{}",
        &svg[..200.min(svg.len())]
    );
    let png = common::scratch("bars.png");
    run(
        &mut s,
        &format!(
            "plot_bar([\"a\", \"b\"], [0.7, 0.3]).save({:?})",
            png.to_str().unwrap()
        ),
    );
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
    let out = s
        .eval("plot_heatmap(tensor([[0.1, 0.9], [0.5, 0.5]]), #{ row_labels: [\"x\", \"y\"] })")
        .unwrap();
    let rendered = out.render().unwrap();
    assert!(rendered.plot.is_some());
    assert!(
        rendered.text.contains("heatmap, 2 × 2"),
        "{}",
        rendered.text
    );
    let err = s.eval("plot_bar([\"a\"], [1.0, 2.0])").unwrap_err();
    assert!(err.message.contains("1 labels but 2 values"), "{err}");
    let err = s.eval("plot_line([1], [2], #{ colour: 3 })").unwrap_err();
    assert!(err.message.contains("unknown option colour"), "{err}");
}

#[test]
fn a_chat_session_keeps_its_history_and_cache() {
    let mut s = session();
    run(&mut s, "let c = m.chat_session(#{ system: \"You are terse.\", temperature: 0.0, max_tokens: 12 });");
    let first = eval(&mut s, "c.say(\"What is the capital of France?\")")
        .into_string()
        .unwrap();
    assert!(!first.is_empty());
    let after_first = eval(&mut s, "c.position").as_int().unwrap();
    run(&mut s, "c.say(\"And of Germany?\")");
    let messages = eval(&mut s, "c.messages").into_array().unwrap();
    let roles: Vec<String> = messages
        .iter()
        .map(|m| m.read_lock::<Map>().unwrap()["role"].to_string())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user", "assistant"]);
    assert!(eval(&mut s, "c.position").as_int().unwrap() > after_first);
    run(&mut s, "c.reset()");
    assert_eq!(eval(&mut s, "c.messages").into_array().unwrap().len(), 1);
}

#[test]
fn errors_name_the_problem_and_the_session_goes_on() {
    let mut s = session();
    run(&mut s, "let kept = 41;");
    let syntax = s.eval("let x = (1 + ;").unwrap_err();
    assert_eq!(syntax.line, Some(1));
    assert!(syntax.column.is_some());
    let missing = s.eval("load_model(\"/no/such/model.gguf\")").unwrap_err();
    assert!(missing.message.contains("/no/such/model.gguf"), "{missing}");
    let types = s.eval("m.generate(42)").unwrap_err();
    assert!(types.message.contains("generate"), "{types}");
    let option = s
        .eval("m.generate(\"hi\", #{ max_tokens: \"many\" })")
        .unwrap_err();
    assert!(
        option.message.contains("max_tokens: expected an integer"),
        "{option}"
    );
    let line2 = s.eval("let a = 1;\nlet b = a + nothing;").unwrap_err();
    assert_eq!(line2.line, Some(2), "{line2}");
    // A failed input defines nothing new, and everything before stays.
    s.eval("let gone = 1; undefined_function()").unwrap_err();
    assert_eq!(eval(&mut s, "kept + 1").as_int().unwrap(), 42);
    // Functions persist across inputs.
    run(&mut s, "fn twice(x) { x * 2 }");
    assert_eq!(eval(&mut s, "twice(kept)").as_int().unwrap(), 82);
}

#[test]
fn cancelling_interrupts_a_generation_and_keeps_the_variables() {
    let mut s = session();
    run(&mut s, "let before = \"still here\";");
    let flag = s.cancel_flag();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        flag.store(true, Ordering::Relaxed);
    });
    let started = std::time::Instant::now();
    let err = s
        .eval("let text = m.generate(\"Once upon a time\", #{ max_tokens: 4000, temperature: 0.0 }); text")
        .unwrap_err();
    stopper.join().unwrap();
    assert!(err.interrupted, "{err}");
    assert!(started.elapsed().as_secs() < 20, "stopped between tokens");
    assert_eq!(eval(&mut s, "before").into_string().unwrap(), "still here");
    // The next input runs normally.
    assert_eq!(eval(&mut s, "1 + 1").as_int().unwrap(), 2);
}

#[test]
fn incomplete_input_help_and_completion() {
    let (s, _) = Session::collecting();
    assert!(s.is_incomplete("let f = |x| {"));
    assert!(s.is_incomplete("m.generate(\"hi\","));
    assert!(s.is_incomplete("let s = \"open"));
    assert!(!s.is_incomplete("let x = 1;"));
    assert!(
        !s.is_incomplete("let x = );"),
        "a real syntax error is not 'incomplete'"
    );

    let help = s.help(Some("generate"));
    assert!(help.contains("m.generate("), "{help}");
    assert!(help.contains("temperature"), "{help}");
    let overview = s.help(None);
    for name in [
        "load_model()",
        "tensor()",
        "profile()",
        "plot_line()",
        "generate()",
        "say()",
    ] {
        assert!(overview.contains(name), "{name} missing from:\n{overview}");
    }
    assert!(s.help(Some("no_such_thing")).contains("no function"));

    let (start, names) = s.complete("let y = m.gen", 13);
    assert_eq!(start, 10);
    assert!(names.contains(&"generate".to_string()), "{names:?}");
    let (_, names) = s.complete("tens", 4);
    assert_eq!(names, ["tensor"]);
    let (start, names) = s.complete("load_model(\"sm", 14);
    assert_eq!(start, 12);
    assert!(names.contains(&"smollm2".to_string()), "{names:?}");
}

#[test]
fn input_reads_lines_from_the_front_end_and_fails_clearly_without_one() {
    let (mut s, collected) = Session::collecting();
    collected
        .lock()
        .unwrap()
        .inputs
        .extend(["Ada".to_string(), "3".to_string()]);
    let out = s
        .eval(r#"let who = input("Name? "); let n = parse_int(input()); who + n * 2"#)
        .unwrap();
    assert_eq!(out.value.into_string().unwrap(), "Ada6");
    assert_eq!(collected.lock().unwrap().prompts, ["Name? ", ""]);
    let err = s.eval(r#"input("more? ")"#).unwrap_err().to_string();
    assert!(err.contains("input: no input is left"), "{err}");
    // The session goes on, its variables intact.
    assert_eq!(s.eval("who").unwrap().value.into_string().unwrap(), "Ada");
}
