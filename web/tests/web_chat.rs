//! The browser's chat, driven natively the way the worker drives it: one
//! step per token. Its replies must equal the engine's own generation loop,
//! and stop must end a reply after the token already streamed.

use monologue::generate::{Message, SamplerConfig};
use monologue::language_model::LanguageModel;
use monologue::model::LoadOptions;
use monologue_web::chat::{AdapterFiles, SendOptions, WebChat};
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

/// A LoRA adapter handed over as a page fetches it (its config's text and
/// its weights' bytes) is merged in as the model loads: the reply is the
/// one the engine gives when it loads the adapter's folder, and not the
/// base model's.
#[test]
fn an_adapter_given_as_bytes_adapts_the_model_as_its_folder_does() {
    let _turn = one_at_a_time();
    let base = model_path();
    let base_name = base.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("monologue-web-adapter-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A fresh adapter changes nothing (B = 0): give B random values.
    let lora = monologue::train::lora::LoraConfig {
        rank: 4,
        alpha: 8.0,
        ..Default::default()
    };
    let (mut tuned, _) = monologue::finetune::open(base_name, Some(lora)).unwrap();
    let mut rng = monologue::generate::Rng::new(7);
    for info in tuned.adapters.clone() {
        let b = &mut tuned.graph.params[info.b].value;
        b.iter_mut().for_each(|v| *v = 0.02 * rng.normal() as f32);
    }
    std::fs::create_dir_all(&dir).unwrap();
    monologue::finetune::peft::write(&tuned, &dir, base_name).unwrap();
    drop(tuned);

    let question = "Name a colour.";
    let files = AdapterFiles {
        name: "random-adapter".into(),
        config: std::fs::read_to_string(dir.join("adapter_config.json")).unwrap(),
        weights: std::fs::read(dir.join("adapter_model.safetensors")).unwrap(),
    };
    let bytes = std::fs::read(&base).unwrap();
    let options = LoadOptions::default();
    let mut chat =
        WebChat::load_with(&bytes, "base.gguf", &options, "cpu".into(), Some(&files)).unwrap();
    assert_eq!(chat.summary().adapter.as_deref(), Some("random-adapter"));
    chat.send(question, &greedy(12)).unwrap();
    drive(&mut chat);
    let adapted = chat.finish().unwrap().1.token_ids;

    let lm = LanguageModel::load(dir.to_str().unwrap(), &options).unwrap();
    let (prompt, _) = lm.chat_prompt(&[Message::user(question)], false).unwrap();
    let mut generate = lm.options();
    generate.max_tokens = 12;
    generate.sampler = SamplerConfig::greedy();
    let from_folder = lm
        .generate(
            &mut lm.new_state(None).unwrap(),
            &lm.encode(&prompt),
            &generate,
            None,
            &mut |_, _| {},
        )
        .unwrap();
    assert_eq!(adapted, from_folder.tokens);

    let mut plain = load();
    plain.send(question, &greedy(12)).unwrap();
    drive(&mut plain);
    assert_ne!(
        adapted,
        plain.finish().unwrap().1.token_ids,
        "the adapter changed nothing"
    );

    // Half an adapter, or a config that is not one, is refused by name.
    let broken = AdapterFiles {
        config: "{\"r\": 0, \"lora_alpha\": 8}".into(),
        ..files
    };
    let err = WebChat::load_with(&bytes, "base.gguf", &options, "cpu".into(), Some(&broken))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("random-adapter/adapter_config.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
