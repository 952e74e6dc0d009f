//! A bounded fuzz step over what people download: `config.json` with a
//! safetensors checkpoint, `tokenizer.json` (entries and pipelines),
//! SentencePiece vocabularies, chat templates and the
//! safetensors header (the GGUF reader has its own in `gguf.rs`). Each case
//! must end in a value or an error: never a panic, and never more memory
//! than the process limit this binary sets on itself first (a runaway
//! allocation fails the case instead of passing by luck on a big machine).

mod common;

use monologue::generate::chat::Message;
use monologue::generate::chat_template::{ChatTemplate, RenderOptions};
use monologue::io::ModelFile;
use monologue::model::{LoadOptions, Logits};
use monologue::tokenizer::Tokenizer;
use proptest::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Once;

/// Caps this test process's address space (4 GiB: the reserved stacks of
/// the test threads and template renders fit well inside it).
fn limit_memory() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let pid = std::process::id().to_string();
        let set = std::process::Command::new("prlimit")
            .args(["--as=4294967296", "--pid", &pid])
            .status()
            .expect("prlimit (util-linux) runs");
        assert!(set.success(), "could not limit the address space");
    });
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/hf/llama")
        .join(name)
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

/// Numbers a hostile file might hold.
fn hostile_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from(0)),
        Just(Value::from(1)),
        Just(Value::from(-1)),
        Just(Value::from(u32::MAX)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(1u64 << 62)),
        Just(Value::from(1e300)),
        Just(Value::from(-0.0)),
        Just(Value::Null),
        Just(Value::from("64")),
        (0u64..100_000).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
    ]
}

/// Runs a few tokens through `dir`'s model if it loads.
fn load_and_run(dir: &std::path::Path) {
    if let Ok(m) = monologue::load::model(dir, &LoadOptions::default()) {
        if let Ok(mut state) = m.new_state(8) {
            let vocab = m.info().vocab_size as u32;
            let _ = m.forward(&mut state, &[0, 1 % vocab, 2 % vocab], Logits::All);
        }
    }
}

const CONFIG_KEYS: [&str; 8] = [
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "num_hidden_layers",
    "vocab_size",
    "max_position_embeddings",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// `config.json` values changed beside real weights: loading either
    /// fails with an error or gives a model that runs.
    #[test]
    fn config_json_with_hostile_sizes(
        edits in proptest::collection::vec((0..CONFIG_KEYS.len(), hostile_number()), 1..4)
    ) {
        limit_memory();
        let dir = common::scratch(&format!("fuzz-config-{}", rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            std::fs::copy(fixture(f), dir.join(f)).unwrap();
        }
        let mut config = fixture_json("config.json");
        for (key, value) in edits {
            config[CONFIG_KEYS[key]] = value;
        }
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        load_and_run(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Flipped bytes in a safetensors file's header and data.
    #[test]
    fn safetensors_with_flipped_bytes(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        in_header in any::<bool>(),
    ) {
        limit_memory();
        let mut bytes = std::fs::read(fixture("model.safetensors")).unwrap();
        let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        for (at, byte) in flips {
            let span = if in_header { header_end } else { bytes.len() };
            let i = at.index(span);
            bytes[i] ^= byte | 1;
        }
        let _ = ModelFile::from_bytes(&bytes, "fuzzed.safetensors");
        let dir = common::scratch(&format!("fuzz-st-{}", rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            std::fs::copy(fixture(f), dir.join(f)).unwrap();
        }
        std::fs::write(dir.join("model.safetensors"), &bytes).unwrap();
        load_and_run(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `tokenizer.json` with hostile ids, merges and settings: a tokenizer
    /// that loads encodes and decodes any text.
    #[test]
    fn tokenizer_json_with_hostile_entries(
        ids in proptest::collection::vec(hostile_number(), 0..4),
        merge in "[a-zĠ ]{0,6}",
        added in proptest::collection::vec(hostile_number(), 0..3),
        text in "\\PC{0,40}",
    ) {
        limit_memory();
        let mut json = fixture_json("tokenizer.json");
        for (i, id) in ids.into_iter().enumerate() {
            json["model"]["vocab"][format!("hostile{i}")] = id;
        }
        if let Some(merges) = json["model"]["merges"].as_array_mut() {
            merges.push(Value::from(merge));
        }
        if let Some(list) = json["added_tokens"].as_array_mut() {
            for id in added {
                let mut token = list[0].clone();
                token["id"] = id;
                list.push(token);
            }
        }
        if let Ok(tok) = Tokenizer::from_json(&json.to_string()) {
            let ids = tok.encode(&text, true, false);
            let _ = tok.decode_lossy(&ids);
        }
    }

    /// SentencePiece and Gemma 4 vocabularies with hostile tokens, scores,
    /// merges and ids: one that loads encodes and decodes any text.
    #[test]
    fn sentencepiece_vocabularies_with_hostile_entries(
        tokens in proptest::collection::vec("(▁|<0x[0-9A-F]{2}>|[a-c]|é|\\PC){1,4}", 1..40),
        scores in proptest::collection::vec(
            prop_oneof![
                1 => Just(f32::NAN),
                4 => Just(f32::INFINITY),
                4 => Just(f32::NEG_INFINITY),
                4 => Just(0.0f32),
                200 => -1e9f32..1e9,
            ],
            0..42,
        ),
        merges in proptest::collection::vec("[▁a-cé]{1,3} [▁a-cé]{0,3}", 0..10),
        ids in proptest::collection::vec(prop_oneof![Just(0u32), Just(3), Just(u32::MAX), 0u32..50], 4),
        gemma4 in any::<bool>(),
        prefix in any::<Option<bool>>(),
        text in "\\PC{0,40}",
    ) {
        limit_memory();
        let mut tokens = tokens;
        // Often give it every byte token, so that loading gets further.
        if ids[0] % 2 == 0 {
            tokens.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
        }
        let n = tokens.len();
        let mut scores = scores;
        scores.resize(if ids[1] % 3 == 0 { n + 1 } else { n }, 0.0);
        let v = monologue::tokenizer::GgufVocab {
            model: if gemma4 { "gemma4" } else { "llama" }.into(),
            tokens,
            scores: Some(scores),
            merges,
            bos: Some(ids[0]),
            eos: Some(ids[1]),
            unk: Some(ids[2]),
            pad: Some(ids[3]),
            add_space_prefix: prefix,
            ..Default::default()
        };
        if let Ok(tok) = Tokenizer::from_gguf_vocab(v) {
            let ids = tok.encode(&text, true, true);
            let _ = tok.decode_lossy(&ids);
            let _ = tok.pieces(&text);
        }
    }

    /// tokenizer.json normalizers and pre-tokenizers stitched from real
    /// and hostile pieces: one that loads encodes and decodes any text.
    #[test]
    fn tokenizer_json_pipelines_from_hostile_pieces(
        pre in proptest::collection::vec(0..PRE_PIECES.len(), 0..4),
        normalizers in proptest::collection::vec(0..NORMALIZER_PIECES.len(), 0..3),
        byte_fallback in any::<bool>(),
        keep_decoder in any::<bool>(),
        text in "(a|b|1| |\\PC){0,60}",
    ) {
        limit_memory();
        let mut json = fixture_json("tokenizer.json");
        let pre: Vec<Value> = pre.iter().map(|&i| serde_json::from_str(PRE_PIECES[i]).unwrap()).collect();
        json["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": pre});
        let norm: Vec<Value> =
            normalizers.iter().map(|&i| serde_json::from_str(NORMALIZER_PIECES[i]).unwrap()).collect();
        json["normalizer"] = serde_json::json!({"type": "Sequence", "normalizers": norm});
        json["model"]["byte_fallback"] = Value::from(byte_fallback);
        if !keep_decoder {
            // No ByteLevel decoder: a BPE over characters, unless a
            // pre-tokenizer says ByteLevel.
            json["decoder"] = Value::Null;
        }
        if let Ok(tok) = Tokenizer::from_json(&json.to_string()) {
            let ids = tok.encode(&text, true, false);
            let _ = tok.decode_lossy(&ids);
            let _ = tok.pieces(&text);
        }
    }

    /// Chat templates stitched from pieces real and hostile templates use.
    #[test]
    fn chat_templates_from_hostile_pieces(
        pieces in proptest::collection::vec(0..TEMPLATE_PIECES.len(), 1..8)
    ) {
        limit_memory();
        let source: String = pieces.iter().map(|&i| TEMPLATE_PIECES[i]).collect();
        if let Ok(t) = ChatTemplate::new(&source) {
            let messages = [Message::system("Be brief."), Message::user("hi")];
            let _ = t.render(&messages, true, &RenderOptions::default());
        }
    }
}

/// Pre-tokenizers: real ones and hostile patterns (catastrophic
/// backtracking, empty matches, patterns that do not compile).
const PRE_PIECES: [&str; 13] = [
    r#"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#,
    r#"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}"#,
    r#"{"type": "Digits", "individual_digits": true}"#,
    r#"{"type": "Punctuation", "behavior": "Contiguous"}"#,
    r#"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true}"#,
    r#"{"type": "Split", "pattern": {"Regex": "(a+)+b"}, "behavior": "Isolated", "invert": false}"#,
    r#"{"type": "Split", "pattern": {"Regex": "(?=\\d)"}, "behavior": "MergedWithNext", "invert": true}"#,
    r#"{"type": "Split", "pattern": {"Regex": "(?<=a)\\s+(?!\\S)"}, "behavior": "MergedWithPrevious", "invert": false}"#,
    r#"{"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false}"#,
    r#"{"type": "Split", "pattern": {"String": "."}, "behavior": "Removed", "invert": false}"#,
    r#"{"type": "Whitespace"}"#,
    r#"{"type": "Split", "pattern": {"Regex": "(?=(a+)+b)a"}, "behavior": "Isolated", "invert": false}"#,
    r#"{"type": "Split", "pattern": {"Regex": "x"}, "behavior": "Sideways", "invert": false}"#,
];

/// Normalizers: supported ones and ones we refuse.
const NORMALIZER_PIECES: [&str; 5] = [
    r#"{"type": "NFC"}"#,
    r#"{"type": "Prepend", "prepend": "▁"}"#,
    r#"{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}"#,
    r#"{"type": "Lowercase"}"#,
    r#"{"type": "Replace", "pattern": {"Regex": "a*"}, "content": "b"}"#,
];

/// Fragments of templates: real idioms and known ways to blow up.
const TEMPLATE_PIECES: [&str; 16] = [
    "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}",
    "{% set ns = namespace(x=[]) %}",
    "{% for i in range(100000) %}{% set ns.x = [[[ns.x]]] %}{% endfor %}",
    "{% for i in range(60) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}",
    "{{ ns.x | tojson }}",
    "{{ messages | tojson(indent='  ' * 100000) }}",
    "{{ messages | tojson(separators=['x' * 1000000, ':']) }}",
    "{% set s = 'ab' %}{% for i in range(40) %}{% set s = s ~ s %}{% endfor %}{{ s }}",
    "{{ raise_exception('no \u{1b}[2J') }}",
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    "{{ strftime_now('%Y' * 100000) }}",
    "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}",
    "{{ messages[0].content * 1000000 }}",
    "{% for a in range(1000) %}{% for b in range(1000) %}.{% endfor %}{% endfor %}",
    "{{ (messages | list) * 100000 | length }}",
    "{% if %}",
];

/// A name no other case of this run uses.
fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}
