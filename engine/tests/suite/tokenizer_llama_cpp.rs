//! llama.cpp's own tokenizer test suite: the vocabularies it ships in
//! `models/ggml-vocab-*.gguf`, each with `.inp` cases and the ids llama.cpp
//! must give for them in `.out` (its `tests/test-tokenizer-0.cpp` encodes
//! each case with `add_special = false, parse_special = false`). The files
//! come from the llama-cpp-python 0.3.36 sdist (`scripts/fetch-llama-cpp.sh`,
//! run here when they are missing; never committed).

use crate::common;

use monologue::io::ModelFile;
use monologue::tokenizer::{Family, Tokenizer};

/// Every vocabulary of the suite that has cases, and its family.
const SUITE: &[(&str, Family)] = &[
    ("bert-bge", Family::WordPiece),
    ("llama-spm", Family::SentencePiece),
    ("phi-3", Family::SentencePiece),
    ("gemma-4", Family::CharBpe),
    ("llama-bpe", Family::ByteLevelBpe),
    ("qwen2", Family::ByteLevelBpe),
    ("qwen35", Family::ByteLevelBpe),
    ("gpt-2", Family::ByteLevelBpe),
    ("deepseek-coder", Family::ByteLevelBpe),
    ("deepseek-llm", Family::ByteLevelBpe),
    ("falcon", Family::ByteLevelBpe),
    ("mpt", Family::ByteLevelBpe),
    ("starcoder", Family::ByteLevelBpe),
    ("refact", Family::ByteLevelBpe),
    ("command-r", Family::ByteLevelBpe),
];

/// The cases of `name`: (text, ids), split as test-tokenizer-0.cpp splits
/// them.
fn cases(name: &str) -> Vec<(String, Vec<u32>)> {
    let dir = common::llama_cpp_sources().join("models");
    let base = dir.join(format!("ggml-vocab-{name}.gguf"));
    let inp = std::fs::read_to_string(base.with_extension("gguf.inp")).unwrap();
    let out = std::fs::read_to_string(base.with_extension("gguf.out")).unwrap();
    let mut texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    // test-tokenizer-0.cpp stops at the end of the file: text after the
    // last separator is a case only if there is some.
    if texts.last() == Some(&"") {
        texts.pop();
    }
    let ids: Vec<Vec<u32>> = out
        .lines()
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect();
    assert_eq!(texts.len(), ids.len(), "{name}: .inp and .out disagree");
    texts.into_iter().map(str::to_string).zip(ids).collect()
}

pub fn vocab(name: &str) -> Tokenizer {
    let path = common::llama_cpp_sources()
        .join("models")
        .join(format!("ggml-vocab-{name}.gguf"));
    let file = ModelFile::open(&path).unwrap();
    Tokenizer::from_gguf(file.metadata()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_case_of_llama_cpps_suite_gives_its_ids() {
    let mut failures = vec![];
    let mut total = 0;
    for &(name, family) in SUITE {
        let tok = vocab(name);
        assert_eq!(tok.family(), family, "{name}");
        for (text, want) in cases(name) {
            total += 1;
            let got = tok.encode(&text, false, false);
            if got != want {
                failures.push(format!(
                    "{name}: {text:?}\n   want {want:?}\n    got {got:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases differ from llama.cpp:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{total} cases, {} vocabularies", SUITE.len());
    assert!(total > 640, "only {total} cases");
}
