//! Tokenizer behaviour that needs no reference: bad input gives clear
//! errors, long pieces stay fast, streaming never breaks a character.

use std::time::Instant;

use crate::common;

use common::gguf_writer::GgufWriter;
use monologue::io::{GgufFile, Value};
use monologue::tokenizer::{bytes::BYTE_TO_CHAR, GgufVocab, PreTokenizer, Tokenizer};
use serde_json::json;

/// All 256 bytes, a few merges, and one special token.
fn toy_json(merges: &[(&str, &str)]) -> String {
    let mut vocab = serde_json::Map::new();
    for (i, c) in BYTE_TO_CHAR.iter().enumerate() {
        vocab.insert(c.to_string(), json!(i));
    }
    let mut n = 256;
    for (a, b) in merges {
        let t = format!("{a}{b}");
        if !vocab.contains_key(&t) {
            vocab.insert(t, json!(n));
            n += 1;
        }
    }
    vocab.insert("<|end|>".into(), json!(n));
    json!({
        "added_tokens": [{"id": n, "content": "<|end|>", "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
        "model": {"type": "BPE", "vocab": vocab, "merges": merges.iter().map(|(a, b)| format!("{a} {b}")).collect::<Vec<_>>()},
    })
    .to_string()
}

fn toy() -> Tokenizer {
    Tokenizer::from_json(&toy_json(&[
        ("a", "b"),
        ("ab", "ab"),
        ("Ġ", "a"),
        ("c", "c"),
        ("cc", "cc"),
    ]))
    .unwrap()
}

fn err(r: monologue::Result<Tokenizer>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn encode_decode_and_specials() {
    let t = toy();
    let ids = t.encode("abab a<|end|>", true, false);
    assert_eq!(ids.len(), 3);
    assert_eq!(t.decode(&ids).unwrap(), "abab a<|end|>");
    assert_eq!(t.token_display(ids[0]).unwrap(), "abab");
    assert_eq!(t.token_text(ids[1]).unwrap(), "Ġa");
    assert!(t.is_special(ids[2]));
    // Without parse_special the string is plain text.
    let plain = t.encode("<|end|>", false, false);
    assert_eq!(plain.len(), "<|end|>".len());
    assert_eq!(t.decode(&plain).unwrap(), "<|end|>");
    assert!(t.encode("", true, false).is_empty());
    // Saved and reloaded, it encodes the same.
    let again = Tokenizer::from_json(&t.to_json().unwrap()).unwrap();
    assert_eq!(
        again.encode("abab a<|end|> cccc", true, false),
        t.encode("abab a<|end|> cccc", true, false)
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    assert!(err(Tokenizer::from_json("{not json")).contains("not valid JSON"));
    assert!(err(Tokenizer::from_json("{}")).contains("no \"model\""));
    let e = err(Tokenizer::from_json(
        &toy_json(&[("a", "b")]).replace("\"a b\"", "\"a zz\""),
    ));
    assert!(
        e.contains("\"zz\"") && e.contains("not in the vocabulary"),
        "{e}"
    );
    let e = err(Tokenizer::from_json(
        &toy_json(&[]).replace("\"ByteLevel\"", "\"CharDelimiterSplit\""),
    ));
    assert!(
        e.contains("pre-tokenizer \"CharDelimiterSplit\" is not supported"),
        "{e}"
    );
    let e = err(Tokenizer::from_json(
        &toy_json(&[]).replace("\"BPE\"", "\"WordPiece\""),
    ));
    assert!(e.contains("WordPiece"), "{e}");
    let bpe = |tokens: &[&str], merges: &[&str], pre: &str| GgufVocab {
        model: "gpt2".into(),
        tokens: tokens.iter().map(|t| t.to_string()).collect(),
        merges: merges.iter().map(|t| t.to_string()).collect(),
        pre: Some(pre.into()),
        ..Default::default()
    };
    let e = err(Tokenizer::from_gguf_vocab(bpe(&["a"], &["a a"], "mystery")));
    assert!(e.contains("unknown pre-tokenizer \"mystery\""), "{e}");
    let e = err(Tokenizer::from_gguf_vocab(bpe(
        &["a", "b"],
        &["a c"],
        "gpt2",
    )));
    assert!(e.contains("\"c\""), "{e}");
    let e = err(Tokenizer::from_vocab_merges(
        "{\"a\": 0}",
        "#version: 0.2\na b c\n",
        PreTokenizer::Gpt2,
        &[],
    ));
    assert!(e.contains("merges.txt line 2"), "{e}");

    let t = toy();
    let e = t.decode(&[0xC3]).unwrap_err().to_string(); // 'Ã' stands for byte 0xC3 alone
    let bad = t.token_to_id(&BYTE_TO_CHAR[0xC3].to_string()).unwrap();
    assert!(t
        .decode(&[bad])
        .unwrap_err()
        .to_string()
        .contains("invalid UTF-8"));
    assert!(!e.is_empty());
    assert!(t
        .decode(&[99_999])
        .unwrap_err()
        .to_string()
        .contains("outside the vocabulary"));
    assert_eq!(t.decode_lossy(&[bad]).unwrap(), "\u{FFFD}");
}

#[test]
fn bad_sentencepiece_vocabularies_and_patterns_are_clear_errors() {
    let spm = |tokens: &[&str], scores: Option<Vec<f32>>| GgufVocab {
        model: "llama".into(),
        tokens: tokens.iter().map(|t| t.to_string()).collect(),
        scores,
        ..Default::default()
    };
    let bytes: Vec<String> = (0..=255u8).map(|b| format!("<0x{b:02X}>")).collect();
    let mut complete: Vec<&str> = vec!["<unk>", "<s>", "</s>"];
    complete.extend(bytes.iter().map(String::as_str));
    complete.extend(["▁", "▁a", "a"]);
    let n = complete.len();
    // Whole, it loads and encodes with byte fallback.
    let t = Tokenizer::from_gguf_vocab(spm(&complete, Some(vec![0.0; n]))).unwrap();
    assert_eq!(t.decode(&t.encode("a é", false, false)).unwrap(), "a é");
    let e = err(Tokenizer::from_gguf_vocab(spm(&complete, None)));
    assert!(e.contains("needs tokenizer.ggml.scores"), "{e}");
    let e = err(Tokenizer::from_gguf_vocab(spm(
        &complete,
        Some(vec![0.0; n - 1]),
    )));
    assert!(
        e.contains(&format!("{n} tokens but {} scores", n - 1)),
        "{e}"
    );
    let mut nan = vec![0.0; n];
    nan[n - 1] = f32::NAN;
    let e = err(Tokenizer::from_gguf_vocab(spm(&complete, Some(nan))));
    assert!(e.contains("not a number"), "{e}");
    let mut no_e9 = complete.clone();
    no_e9.retain(|t| *t != "<0xE9>");
    let e = err(Tokenizer::from_gguf_vocab(spm(
        &no_e9,
        Some(vec![0.0; n - 1]),
    )));
    assert!(
        e.contains("lacks 1 of the 256 byte tokens") && e.contains("<0xE9>"),
        "{e}"
    );
    // A tokenizer.json regex that does not compile is named.
    let mut json: serde_json::Value = serde_json::from_str(&toy_json(&[])).unwrap();
    json["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(\\p{L}+"}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]});
    let e = err(Tokenizer::from_json(&json.to_string()));
    assert!(e.contains("\"(\\\\p{L}+\" does not compile"), "{e}");
}

#[test]
fn an_nfc_normalizer_composes_before_splitting() {
    let plain = toy();
    let mut json: serde_json::Value = serde_json::from_str(&toy_json(&[("a", "b")])).unwrap();
    json["normalizer"] = json!({"type": "NFC"});
    let nfc = Tokenizer::from_json(&json.to_string()).unwrap();
    let composed = "caf\u{e9} <|end|>";
    let decomposed = "cafe\u{301} <|end|>";
    // With NFC both spellings are the same text; without, they differ.
    assert_eq!(
        nfc.encode(decomposed, true, false),
        nfc.encode(composed, true, false)
    );
    assert_ne!(
        plain.encode(decomposed, true, false),
        plain.encode(composed, true, false)
    );
    // Added tokens are still matched, and decoding gives the composed text.
    let ids = nfc.encode(decomposed, true, false);
    assert_eq!(nfc.decode(&ids).unwrap(), composed);
}

#[test]
fn a_gguf_without_tokenizer_metadata_says_so() {
    let bytes = GgufWriter::new()
        .kv("general.architecture", Value::String("llama".into()))
        .f32_tensor("norm", &[2], &[1.0, 2.0])
        .build()
        .bytes;
    let file = GgufFile::from_bytes(&bytes, "weights-only.gguf").unwrap();
    let e = err(Tokenizer::from_gguf(file.metadata()));
    assert!(
        e.contains("weights-only.gguf") && e.contains("no tokenizer"),
        "{e}"
    );
    // A BPE vocabulary without its merges key.
    let bytes = GgufWriter::new()
        .kv("tokenizer.ggml.model", Value::String("gpt2".into()))
        .kv(
            "tokenizer.ggml.tokens",
            Value::Array(monologue::io::Array::String(vec!["a".into()])),
        )
        .build()
        .bytes;
    let file = GgufFile::from_bytes(&bytes, "no-merges.gguf").unwrap();
    let e = err(Tokenizer::from_gguf(file.metadata()));
    assert!(e.contains("needs tokenizer.ggml.merges"), "{e}");
    // A tokenizer model we do not implement is named.
    let bytes = GgufWriter::new()
        .kv("tokenizer.ggml.model", Value::String("t5".into()))
        .build()
        .bytes;
    let file = GgufFile::from_bytes(&bytes, "unigram.gguf").unwrap();
    let e = err(Tokenizer::from_gguf(file.metadata()));
    assert!(e.contains("`t5` is not supported"), "{e}");
}

#[test]
fn streaming_never_splits_a_character() {
    let t = toy();
    let text = "é😀中 ab";
    let ids = t.encode(text, false, false);
    let mut dec = t.stream_decoder();
    let mut out = String::new();
    for &id in &ids {
        let piece = dec.push(id).unwrap();
        out.push_str(&piece);
    }
    assert!(dec.pending().is_empty());
    assert_eq!(out, text);
    // An unfinished character comes out at the end as U+FFFD.
    let mut dec = t.stream_decoder();
    let first = t.encode("😀", false, false)[0];
    assert_eq!(dec.push(first).unwrap(), "");
    assert_eq!(dec.finish(), "\u{FFFD}");
}

#[test]
fn long_pieces_are_not_quadratic() {
    let t = toy();
    for (name, text) in [
        ("1 MB of letters", "abcabcc".repeat(150_000)),
        ("100,000 digits", "7".repeat(100_000)),
        ("50,000 emoji", "👍🏽".repeat(50_000)),
        ("1 MB of spaces", " ".repeat(1_000_000)),
    ] {
        let start = Instant::now();
        let ids = t.encode(&text, false, false);
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(t.decode(&ids).unwrap(), text);
        // A quadratic merge takes minutes here.
        assert!(secs < 5.0, "{name}: {secs:.2} s");
    }
}

/// Asserts that encoding each `(name, unit, n)` case grows about linearly
/// with its length: four times the input may take at most ten times as
/// long (a quadratic merge loop would take sixteen), and round-trips.
fn assert_linear(t: &Tokenizer, cases: &[(&str, &str, usize)]) {
    let time = |text: &str| {
        let best = (0..3)
            .map(|_| {
                let start = Instant::now();
                let ids = t.encode(text, false, false);
                (start.elapsed().as_secs_f64(), ids)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap();
        assert_eq!(t.decode(&best.1).unwrap(), text);
        best.0
    };
    for &(name, unit, n) in cases {
        let small = time(&unit.repeat(n / 4));
        let large = time(&unit.repeat(n));
        assert!(large < 5.0, "{name}: {large:.2} s");
        assert!(
            large < 10.0 * small + 0.05,
            "{name}: {small:.4} s for a quarter, {large:.4} s for all"
        );
        println!("{name}: {small:.4} s for a quarter, {large:.4} s for all");
    }
}

/// The same worst cases on SmolLM2's real vocabulary (48,900 merges).
#[test]
fn worst_cases_on_smollm2_grow_about_linearly() {
    let file = monologue::io::ModelFile::open(common::smollm2()).unwrap();
    let t = Tokenizer::from_gguf(file.metadata()).unwrap();
    assert_linear(
        &t,
        &[
            ("letters without spaces", "abcxyz", 1_000_000 / 6),
            ("digits", "7", 100_000),
            ("emoji with skin tones", "👍🏽", 50_000),
        ],
    );
}

/// The same on a SentencePiece vocabulary (Llama's, from llama.cpp's
/// suite): its text has no pre-tokenizer, so a long run is one piece.
#[test]
fn worst_cases_on_sentencepiece_grow_about_linearly() {
    let t = super::tokenizer_llama_cpp::vocab("llama-spm");
    assert_linear(
        &t,
        &[
            ("letters without spaces", "abcxyz", 1_000_000 / 6),
            ("spaces", " ", 1_000_000),
            ("emoji with skin tones", "👍🏽", 50_000),
            ("CJK", "中文字", 100_000),
        ],
    );
}
