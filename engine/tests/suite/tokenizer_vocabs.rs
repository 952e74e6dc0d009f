//! Every vocabulary of llama.cpp's tokenizer suite, and Gemma 3's 262k
//! SentencePiece vocabulary, on the >10 MB mixed corpus of
//! `tokenizer_parity`: our ids equal llama.cpp's (llama-cpp-python, the same
//! GGUF) and Hugging Face `tokenizers`' (a tokenizer.json built from the
//! GGUF, loaded by both `tokenizers` and us), and `decode(encode(x)) == x`
//! wherever the vocabulary can spell `x`. The reference ids come from
//! tests/tokenizer/vocab_reference.py; it needs python3 with `tokenizers`,
//! `gguf` and `llama-cpp-python`, and fails, never skips, without them.

use std::path::{Path, PathBuf};

use crate::common;
use crate::tokenizer_parity::{build_corpus, compare, python, read_ids, repo_root};

use monologue::tokenizer::{Family, PrefixSpace, TokenKind, Tokenizer};

/// The suite's vocabularies with cases.
const SUITE: &[&str] = &[
    "bert-bge",
    "llama-spm",
    "phi-3",
    "gemma-4",
    "llama-bpe",
    "qwen2",
    "qwen35",
    "gpt-2",
    "deepseek-coder",
    "deepseek-llm",
    "falcon",
    "mpt",
    "starcoder",
    "refact",
    "command-r",
];

/// The vocabularies whose splitting llama.cpp does by hand. For the others
/// it runs the patterns on C++'s `std::regex`, which classes non-ASCII
/// characters only approximately (no `\p{..}`): there `tokenizers`, which
/// runs the model's own patterns, is the reference.
const LLAMA_CPP_EXACT: &[&str] = &[
    "bert-bge",
    "llama-spm",
    "phi-3",
    "gemma-4",
    "gemma3",
    "llama-bpe",
    "qwen2",
    "qwen35",
    "gpt-2",
    "mpt",
    "starcoder",
    "refact",
    "command-r",
];

fn work_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tokenizer-vocabs");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn open(path: &Path) -> Tokenizer {
    Tokenizer::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lines that do not come back from `decode(encode(line))`, where they
/// should: lines with bytes the vocabulary cannot spell, with the unknown
/// token, or (SentencePiece) with a literal `▁` or an added token (after
/// which the leading space is added again) are not expected to.
fn round_trip(name: &str, tok: &Tokenizer, corpus: &[String]) -> Vec<String> {
    if tok.family() == Family::WordPiece {
        // BERT lower-cases, strips accents and drops whitespace.
        return vec![];
    }
    let unk = tok.special_ids().unk;
    let mut bad = vec![];
    for (i, line) in corpus.iter().enumerate() {
        let ids = tok.encode(line, false, false);
        let added = ids.iter().any(|&id| {
            matches!(
                tok.token_kind(id),
                Some(TokenKind::Special | TokenKind::UserDefined)
            )
        });
        let spelled_with_spaces = tok.family() != Family::ByteLevelBpe;
        if (spelled_with_spaces && (line.contains('▁') || added))
            || ids.iter().any(|&id| Some(id) == unk)
        {
            continue;
        }
        let got = tok.decode_bytes(&ids).unwrap();
        if tok.family() == Family::ByteLevelBpe && got.len() < line.len() {
            // Bytes with no token are dropped (checked in tokenizer_parity).
            continue;
        }
        if got != line.as_bytes() {
            bad.push(format!(
                "{name}: line {i} {:?} decodes to {:?}",
                &line.chars().take(80).collect::<String>(),
                String::from_utf8_lossy(&got)
                    .chars()
                    .take(80)
                    .collect::<String>()
            ));
        }
        if i % 97 == 0 {
            // Streaming gives the same text (less the leading space that
            // only a whole decode drops), never a broken character.
            let mut dec = tok.stream_decoder();
            let mut s = String::new();
            for &id in &ids {
                s.push_str(&dec.push(id).unwrap());
            }
            s.push_str(&dec.finish());
            let prefixed = tok.normalizer().prefix != PrefixSpace::Never && !line.is_empty();
            let want = if prefixed {
                format!(" {line}")
            } else {
                line.clone()
            };
            assert_eq!(s, want, "{name}: streaming line {i}");
        }
        if bad.len() >= 5 {
            break;
        }
    }
    bad
}

#[test]
fn every_vocabulary_equals_llama_cpp_and_tokenizers_on_the_corpus() {
    let work = work_dir();
    let corpus = build_corpus();
    let mut jsonl = String::new();
    for line in &corpus {
        jsonl.push_str(&serde_json::to_string(line).unwrap());
        jsonl.push('\n');
    }
    std::fs::write(work.join("corpus.jsonl"), jsonl).unwrap();
    let models = common::llama_cpp_sources().join("models");
    let mut vocabs: Vec<(String, PathBuf)> = SUITE
        .iter()
        .map(|n| (n.to_string(), models.join(format!("ggml-vocab-{n}.gguf"))))
        .collect();
    vocabs.push(("gemma3".into(), common::gemma3()));
    // MONOLOGUE_TOKENIZER_VOCABS=a,b runs only those (while debugging).
    if let Ok(only) = std::env::var("MONOLOGUE_TOKENIZER_VOCABS") {
        vocabs.retain(|(n, _)| only.split(',').any(|o| o == n));
    }
    let script = repo_root().join("tests/tokenizer/vocab_reference.py");
    let mut args = vec![
        script.to_string_lossy().into_owned(),
        work.to_string_lossy().into_owned(),
    ];
    args.extend(vocabs.iter().map(|(n, p)| format!("{n}={}", p.display())));
    python(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let mut bad = vec![];
    let mut with_json = 0;
    for (name, path) in &vocabs {
        let ours = open(path);
        if LLAMA_CPP_EXACT.contains(&name.as_str()) {
            let llama = read_ids(&work.join(format!("llamacpp_{name}.jsonl")));
            bad.extend(compare(
                &format!("{name} vs llama.cpp"),
                &ours,
                &corpus,
                &llama,
                false,
            ));
        }
        let hf = work.join(format!("hf_{name}.jsonl"));
        if hf.is_file() {
            with_json += 1;
            let hf = read_ids(&hf);
            bad.extend(compare(
                &format!("{name} vs tokenizers"),
                &ours,
                &corpus,
                &hf,
                false,
            ));
            let json = Tokenizer::from_json_file(work.join(format!("{name}.json")))
                .unwrap_or_else(|e| panic!("{name}.json: {e}"));
            bad.extend(compare(
                &format!("{name}.json vs tokenizers"),
                &json,
                &corpus,
                &hf,
                false,
            ));
        }
        bad.extend(round_trip(name, &ours, &corpus));
    }
    // Older SentencePiece tokenizer.json files: a Metaspace pre-tokenizer.
    for variant in ["llama-spm-first", "llama-spm-split"] {
        let hf = work.join(format!("hf_{variant}.jsonl"));
        if !vocabs.iter().any(|(n, _)| n == "llama-spm") {
            continue;
        }
        let json = Tokenizer::from_json_file(work.join(format!("{variant}.json")))
            .unwrap_or_else(|e| panic!("{variant}.json: {e}"));
        bad.extend(compare(
            &format!("{variant}.json vs tokenizers"),
            &json,
            &corpus,
            &read_ids(&hf),
            false,
        ));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // Every vocabulary but Gemma 4's and BERT's has a `tokenizers` twin.
    assert!(
        with_json + 2 >= vocabs.len(),
        "only {with_json} of {} vocabularies had a tokenizer.json",
        vocabs.len()
    );
}
