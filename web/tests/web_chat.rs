//! The browser's chat, driven natively the way the worker drives it: one
//! step per token. Its replies must equal the engine's own generation loop,
//! and stop must end a reply after the token already streamed.

use monologue::generate::{Message, SamplerConfig};
use monologue::language_model::LanguageModel;
use monologue::model::LoadOptions;
use monologue_web::chat::{SendOptions, WebChat};
use std::path::PathBuf;

fn model_path() -> PathBuf {
    let dir = std::env::var_os("MONOLOGUE_MODELS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models"),
        PathBuf::from,
    );
    let path = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-model.sh",
        path.display()
    );
    path
}

/// Kernel profiling is process-wide: the tests take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn load() -> WebChat {
    let bytes = std::fs::read(model_path()).unwrap();
    WebChat::load(&bytes, "SmolLM2-135M-Instruct.Q4_1.gguf").unwrap()
}

fn greedy(max_tokens: usize) -> SendOptions {
    SendOptions::from_json(&format!(
        r#"{{"temperature": 0, "max_tokens": {max_tokens}}}"#
    ))
    .unwrap()
}

/// Steps until the reply is done; returns the streamed answer text.
fn drive(chat: &mut WebChat) -> String {
    let mut text = String::new();
    loop {
        let step = chat.step().unwrap();
        for piece in &step.pieces {
            text += &piece.text;
        }
        if step.done {
            return text;
        }
    }
}

#[test]
fn a_stepped_greedy_reply_equals_the_generation_loop() {
    let _turn = one_at_a_time();
    let question = "What is the capital of France?";
    let mut chat = load();
    chat.send(question, &greedy(20)).unwrap();
    let mut streamed = drive(&mut chat);
    let (tail, stats) = chat.finish().unwrap();
    streamed.extend(tail.iter().map(|p| p.text.as_str()));

    let lm = LanguageModel::load(model_path().to_str().unwrap(), &LoadOptions::default()).unwrap();
    let (prompt, _) = lm.chat_prompt(&[Message::user(question)], false).unwrap();
    let ids = lm.encode(&prompt);
    let mut state = lm.new_state(None).unwrap();
    let mut options = lm.options();
    options.max_tokens = 20;
    options.sampler = SamplerConfig::greedy();
    let expected = lm
        .generate(&mut state, &ids, &options, None, &mut |_, _| {})
        .unwrap();

    assert_eq!(stats.token_ids, expected.tokens);
    assert_eq!(stats.answer, expected.answer);
    assert_eq!(streamed, expected.text);
    assert_eq!(stats.prompt_tokens, ids.len());
    assert!(stats
        .kernels
        .iter()
        .any(|k| k.kernel.starts_with("matmul_q4_1")));
}

#[test]
fn stop_ends_the_reply_after_the_token_already_streamed() {
    let _turn = one_at_a_time();
    let mut chat = load();
    chat.send("Count from 1 to 100, separated by commas.", &greedy(200))
        .unwrap();
    for _ in 0..5 {
        assert!(!chat.step().unwrap().done);
    }
    chat.stop();
    let step = chat.step().unwrap();
    assert!(step.done && step.pieces.is_empty());
    let (_, stats) = chat.finish().unwrap();
    assert_eq!(stats.stop, "cancelled");
    assert_eq!(stats.generated_tokens, 5);
    // The conversation goes on: the next message gets a reply.
    chat.send("Thanks!", &greedy(4)).unwrap();
    drive(&mut chat);
    assert!(chat.finish().unwrap().1.generated_tokens > 0);
}

#[test]
fn misuse_and_bad_input_are_clear_errors() {
    let _turn = one_at_a_time();
    assert!(WebChat::load(b"GGUF\x03\x00", "short.gguf")
        .err()
        .unwrap()
        .to_string()
        .starts_with("short.gguf: "));
    let mut chat = load();
    assert!(chat
        .step()
        .unwrap_err()
        .to_string()
        .contains("send a message first"));
    chat.send("Hi", &greedy(2)).unwrap();
    let busy = chat.send("Hi again", &greedy(2)).unwrap_err().to_string();
    assert!(busy.contains("still being written"), "{busy}");
    let bad = SendOptions::from_json(r#"{"temperature": -1}"#).unwrap();
    chat.stop();
    chat.step().unwrap();
    chat.finish().unwrap();
    assert!(chat
        .send("Hi", &bad)
        .unwrap_err()
        .to_string()
        .contains("temperature"));
}

#[test]
fn a_new_chat_mid_reply_leaves_nothing_of_it_behind() {
    let _turn = one_at_a_time();
    let mut chat = load();
    chat.send("Count from 1 to 100, separated by commas.", &greedy(50))
        .unwrap();
    chat.step().unwrap();
    chat.step().unwrap();
    chat.new_chat(Some("You are terse.")).unwrap();
    let messages = chat.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].role, "system");
    assert!(chat
        .step()
        .unwrap_err()
        .to_string()
        .contains("send a message first"));
    chat.send("Hi", &greedy(3)).unwrap();
    drive(&mut chat);
    chat.finish().unwrap();
    let roles: Vec<String> = chat.messages().into_iter().map(|m| m.role).collect();
    assert_eq!(roles, ["system", "user", "assistant"]);
}

/// The page's settings use the engine's option names: a name the engine
/// does not know is refused with the list of those it does.
#[test]
fn send_options_speak_the_engines_vocabulary() {
    let _turn = one_at_a_time();
    let mut chat = load();
    let unknown = SendOptions::from_json(r#"{"repetition_penalty": 1.1}"#).unwrap();
    let err = chat.send("Hi", &unknown).unwrap_err().to_string();
    assert!(err.contains("unknown option `repetition_penalty`"), "{err}");
    assert!(err.contains("repeat_penalty"), "{err}");
    let not_a_flag = SendOptions::from_json(r#"{"think": "yes"}"#).unwrap_err();
    assert!(not_a_flag.to_string().contains("`think`"), "{not_a_flag}");
    // The summary shows the page the engine's defaults.
    let defaults = chat.summary().defaults;
    assert_eq!(defaults, chat_defaults());
}

fn chat_defaults() -> monologue::generate::GenerateOptions {
    let lm = monologue::LanguageModel::load(model_path().to_str().unwrap(), &Default::default())
        .unwrap();
    lm.options()
}
