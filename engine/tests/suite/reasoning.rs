//! Reasoning tags at the token level: which ids spell `<think>` and
//! `</think>` in a vocabulary that has them as tokens and in one that does
//! not (SmolLM2), and splitting text streamed token by token.

use crate::common;

use monologue::generate::reasoning::{ReasoningEvent, ReasoningSplitter, ThinkTags, ThinkTokens};
use monologue::io::ModelFile;
use monologue::tokenizer::{bytes::BYTE_TO_CHAR, Tokenizer};
use serde_json::json;

fn smollm2_tokenizer() -> Tokenizer {
    let model = ModelFile::open(common::smollm2()).unwrap();
    Tokenizer::from_gguf(model.metadata()).unwrap()
}

/// All 256 bytes, plus `<think>` / `</think>` as added (non-special) tokens
/// as Qwen 3 has them.
fn toy_with_think_tokens() -> Tokenizer {
    let mut vocab = serde_json::Map::new();
    for (i, c) in BYTE_TO_CHAR.iter().enumerate() {
        vocab.insert(c.to_string(), json!(i));
    }
    vocab.insert("<think>".into(), json!(256));
    vocab.insert("</think>".into(), json!(257));
    let text = json!({
        "added_tokens": [
            {"id": 256, "content": "<think>", "special": false},
            {"id": 257, "content": "</think>", "special": false},
        ],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
        "model": {"type": "BPE", "vocab": vocab, "merges": []},
    })
    .to_string();
    Tokenizer::from_json(&text).unwrap()
}

#[test]
fn think_tokens_single_when_the_vocabulary_has_them() {
    let t = toy_with_think_tokens();
    let ids = ThinkTokens::find(&t, &ThinkTags::default());
    assert_eq!(ids.open, vec![256]);
    assert_eq!(ids.close, vec![257]);
    assert!(ids.single_tokens());
}

#[test]
fn think_tokens_encoded_when_the_vocabulary_lacks_them() {
    let t = smollm2_tokenizer();
    assert_eq!(t.token_to_id("<think>"), None);
    let ids = ThinkTokens::find(&t, &ThinkTags::default());
    assert!(!ids.single_tokens());
    assert!(ids.close.len() > 1, "{:?}", ids.close);
    assert_eq!(t.decode(&ids.open).unwrap(), "<think>");
    assert_eq!(t.decode(&ids.close).unwrap(), "</think>");
}

#[test]
fn splitting_text_streamed_token_by_token() {
    let t = smollm2_tokenizer();
    let text = "<think>\nThe user greets me; é 🦀.\n</think>\n\nHello! <thin> is not a tag.";
    let ids = t.encode(text, true, false);
    let mut decoder = t.stream_decoder();
    let mut splitter = ReasoningSplitter::new();
    let (mut reasoning, mut answer) = (String::new(), String::new());
    let mut take = |events: Vec<ReasoningEvent>| {
        for e in events {
            match e {
                ReasoningEvent::Reasoning(s) => reasoning.push_str(&s),
                ReasoningEvent::Answer(s) => answer.push_str(&s),
            }
        }
    };
    for id in ids {
        let piece = decoder.push(id).unwrap();
        take(splitter.push(&piece));
    }
    take(splitter.push(&decoder.finish()));
    take(splitter.finish());
    assert_eq!(reasoning, "\nThe user greets me; é 🦀.\n");
    assert_eq!(answer, "\n\nHello! <thin> is not a tag.");
}
