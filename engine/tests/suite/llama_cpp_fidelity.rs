//! SmolLM2 (Q4_1) and Gemma 3 270M (Q4_K_M: Q5_0, Q4_K, Q6_K, Q8_0, with
//! sliding-window layers) against llama.cpp, on what
//! `tests/reference/llama_cpp_reference.py` recorded with llama-cpp-python:
//! a dozen prompts each (raw text and chat-rendered; one of Gemma's is
//! longer than its 512-token window), 48 greedy tokens each, llama.cpp's
//! top-5 logits at every generated position and its full logits at the
//! last prompt position.
//!
//! SmolLM2: the bar is llama.cpp's own spread between its settings (flash
//! attention on or off, batched or token-by-token prefill): this Q4_1 model
//! is often unsure, so we ask for agreement wherever llama.cpp's top-2
//! margin is at least 0.5, and logits within 1.0 (median under 0.3).
//!
//! Gemma 3: its activations have large outliers, so rounding them to 8 bits
//! before each product (both engines do) moves logits more. For the
//! K-quants both engines round with one scale per 256 activations (llama.cpp's
//! Q8_K, our `BlockQ8K`), which is what lets their integer kernels apply the
//! sub-block scales without float work; the Q5_0 and Q8_0 tensors take a
//! scale per 32. The referee is `tests/reference/gemma3_dequantized.py`:
//! transformers in f32 on the file's dequantized weights, no activation
//! rounding. We must be about as close to it as llama.cpp is (measured on
//! top-5 logits: ours median 0.158 on AVX-512 VNNI and 0.165 on AVX2, max
//! 1.85 and 2.13; llama.cpp's median 0.158, max 1.9),
//! and agree with llama.cpp's argmax wherever both llama.cpp and the referee
//! are sure of it (at one position llama.cpp is sure, by 1.2, of a token the
//! exact computation ranks second). Against llama.cpp the median bar stays
//! 0.3; single logits carry both engines' rounding (max 3.6).

use crate::common;

use common::llama_cpp::{dequantized_gemma3, median, prompts, Prompt, Reference, CONFIDENT_MARGIN};

use monologue::generate::{argmax, GenerateOptions, SamplerConfig};
use monologue::model::{LoadOptions, Logits};
use monologue::{DType, LanguageModel};
use std::sync::OnceLock;

const MAX_LOGIT_DIFF: f32 = 1.0;
const MEDIAN_LOGIT_DIFF: f32 = 0.3;
/// Over all 49152 logits (tails included) llama.cpp's own settings differ by
/// up to 1.6; that is the bound for the full vectors.
const MAX_FULL_VECTOR_DIFF: f32 = 1.6;

use Reference::{Gemma3, SmolLm2};

/// Gemma 3 against llama.cpp: single logits carry two engines' activation
/// rounding (see above). Which activations round up or down moves with the
/// last bit of everything before them, so the largest differences depend
/// on the SIMD path: measured 2.66 (AVX-512 VNNI) and 3.64 (AVX2).
const GEMMA3_MAX_LOGIT_DIFF: f32 = 4.0;
/// Gemma 3 against the f32 referee: our rounding alone. Measured: max 1.85
/// (VNNI) and 2.13 (AVX2), median 0.158 and 0.165; llama.cpp's own are
/// 1.9 and 0.158.
const GEMMA3_VS_EXACT_MAX: f32 = 2.5;
const GEMMA3_VS_EXACT_MEDIAN: f32 = 0.17;
/// How much further from the referee than llama.cpp our median may be.
const GEMMA3_VS_LLAMA_CPP_MEDIAN: f32 = 1.06;

fn model(which: Reference) -> &'static LanguageModel {
    static SMOLLM2: OnceLock<LanguageModel> = OnceLock::new();
    static GEMMA3: OnceLock<LanguageModel> = OnceLock::new();
    let (cell, path): (_, fn() -> std::path::PathBuf) = match which {
        SmolLm2 => (&SMOLLM2, common::smollm2),
        Gemma3 => (&GEMMA3, common::gemma3),
    };
    cell.get_or_init(|| {
        LanguageModel::load(path().to_str().unwrap(), &LoadOptions::default()).unwrap()
    })
}

/// Our logits at every generated position, teacher-forced on llama.cpp's
/// tokens: row `i` predicts `generated[i]`.
fn teacher_forced(which: Reference, p: &Prompt) -> Vec<Vec<f32>> {
    teacher_forced_with(which, p, DType::F32)
}

fn teacher_forced_with(which: Reference, p: &Prompt, kv: DType) -> Vec<Vec<f32>> {
    let lm = model(which);
    let vocab = lm.model.info().vocab_size;
    let mut tokens = p.prompt_tokens.clone();
    tokens.extend(&p.generated[..p.generated.len() - 1]);
    let mut state = lm.model.new_state_with(tokens.len(), kv).unwrap();
    let all = lm.model.forward(&mut state, &tokens, Logits::All).unwrap();
    let first = p.prompt_tokens.len() - 1;
    (first..tokens.len())
        .map(|row| all[row * vocab..(row + 1) * vocab].to_vec())
        .collect()
}

#[test]
fn our_tokenizer_gives_llama_cpps_prompt_tokens() {
    for which in [SmolLm2, Gemma3] {
        let lm = model(which);
        for p in prompts(which) {
            let ids = lm.encode(&p.text);
            assert_eq!(ids, p.prompt_tokens, "{which:?} prompt {}", p.name);
        }
    }
}

#[test]
fn teacher_forced_argmax_and_top5_logits_match_llama_cpp() {
    compare_teacher_forced(SmolLm2, DType::F32, MAX_LOGIT_DIFF, MEDIAN_LOGIT_DIFF);
}

#[test]
fn gemma3_teacher_forced_argmax_and_top5_logits_match_llama_cpp() {
    compare_teacher_forced(Gemma3, DType::F32, GEMMA3_MAX_LOGIT_DIFF, MEDIAN_LOGIT_DIFF);
}

/// llama.cpp keeps its cache in f16 by default; ours can too. Rounding the
/// cache moves single logits by up to ~1.05 here (median unchanged), still
/// inside llama.cpp's own spread between its settings.
#[test]
fn with_an_f16_kv_cache_too() {
    compare_teacher_forced(SmolLm2, DType::F16, MAX_FULL_VECTOR_DIFF, MEDIAN_LOGIT_DIFF);
}

/// Gemma 3 against transformers in f32 on the same dequantized weights:
/// argmax equal wherever it is sure, logits within our rounding.
#[test]
fn gemma3_matches_the_exact_computation_as_closely_as_llama_cpp_does() {
    let exact = dequantized_gemma3();
    let (mut ours_diffs, mut llama_diffs, mut confident) = (Vec::new(), Vec::new(), 0);
    for (p, e) in prompts(Gemma3).iter().zip(exact) {
        assert_eq!(p.name, e.name);
        for (i, ours) in teacher_forced(Gemma3, p).iter().enumerate() {
            let at = &e.top[i];
            if at.margin >= CONFIDENT_MARGIN {
                confident += 1;
                assert_eq!(
                    argmax(ours),
                    at.top[0].0,
                    "{} position {i}: the exact computation is sure (margin {:.2})",
                    p.name,
                    at.margin
                );
            }
            ours_diffs.extend(at.top.iter().map(|&(id, l)| (ours[id as usize] - l).abs()));
            let (llama_top, _) = &p.top[i];
            llama_diffs.extend(
                llama_top
                    .iter()
                    .zip(&at.at_llama_cpp_top)
                    .map(|(&(_, theirs), exact)| (theirs - exact).abs()),
            );
        }
    }
    let max = ours_diffs.iter().copied().fold(0f32, f32::max);
    let (med, llama_med) = (median(ours_diffs), median(llama_diffs));
    println!(
        "Gemma3 vs exact f32: top-5 max |diff| {max:.3}, median {med:.4} (llama.cpp's median {llama_med:.4}); {confident} confident positions"
    );
    assert!(max <= GEMMA3_VS_EXACT_MAX, "max |diff| {max}");
    assert!(med <= GEMMA3_VS_EXACT_MEDIAN, "median |diff| {med}");
    assert!(
        med <= GEMMA3_VS_LLAMA_CPP_MEDIAN * llama_med,
        "llama.cpp ({llama_med}) is closer than we are ({med})"
    );
    assert!(
        confident > 300,
        "too few confident positions to mean anything"
    );
}

fn compare_teacher_forced(which: Reference, kv: DType, max_diff: f32, median_diff: f32) {
    let (mut confident, mut agree_all, mut positions) = (0, 0, 0);
    let mut diffs = Vec::new();
    // Where the exact computation exists, llama.cpp's confident choices
    // count only when it agrees with them.
    let exact = (which == Gemma3).then(dequantized_gemma3);
    for (pi, p) in prompts(which).iter().enumerate() {
        for (i, ours) in teacher_forced_with(which, p, kv).iter().enumerate() {
            let (top, margin) = &p.top[i];
            let theirs = top[0].0;
            positions += 1;
            agree_all += usize::from(argmax(ours) == theirs);
            let referee_agrees = exact.is_none_or(|e| {
                let at = &e[pi].top[i];
                at.top[0].0 == theirs && at.margin >= CONFIDENT_MARGIN
            });
            if *margin >= CONFIDENT_MARGIN && referee_agrees {
                confident += 1;
                assert_eq!(
                    argmax(ours),
                    theirs,
                    "{} position {i}: llama.cpp is sure (margin {margin:.2}) of {theirs}",
                    p.name
                );
            }
            diffs.extend(top.iter().map(|&(id, l)| (ours[id as usize] - l).abs()));
        }
    }
    let (max, med) = (diffs.iter().copied().fold(0f32, f32::max), median(diffs));
    println!(
        "{which:?}, {kv} cache: argmax agrees at {agree_all}/{positions} positions ({confident} confident); top-5 logits: max |diff| {max:.3}, median {med:.3}"
    );
    assert!(max <= max_diff, "top-5 logit max-abs difference {max}");
    assert!(med < median_diff, "top-5 logit median difference {med}");
    assert!(
        confident > 100,
        "too few confident positions to mean anything"
    );
}

#[test]
fn full_logits_at_the_last_prompt_position_match_llama_cpp() {
    full_logits_match(SmolLm2, 13);
}

#[test]
fn gemma3_full_logits_at_the_last_prompt_position_match_llama_cpp() {
    full_logits_match(Gemma3, 2);
}

fn full_logits_match(which: Reference, recorded: usize) {
    let lm = model(which);
    let vocab = lm.model.info().vocab_size;
    let mut all = Vec::new();
    let with_full = prompts(which).iter().filter(|p| p.last_logits.is_some());
    assert_eq!(with_full.clone().count(), recorded);
    for p in with_full {
        let theirs = p.last_logits.as_ref().unwrap();
        assert_eq!(theirs.len(), vocab);
        let ours = &teacher_forced(which, p)[0];
        let diffs: Vec<f32> = ours
            .iter()
            .zip(theirs)
            .map(|(a, b)| (a - b).abs())
            .collect();
        let max = diffs.iter().copied().fold(0f32, f32::max);
        println!("{}: max |diff| {max:.3}", p.name);
        assert!(
            max <= MAX_FULL_VECTOR_DIFF,
            "{}: full-vocabulary max |diff| {max}",
            p.name
        );
        all.extend(diffs);
    }
    let max = all.iter().copied().fold(0f32, f32::max);
    let med = median(all);
    println!("{which:?}, last prompt position, all {vocab} logits of {recorded} prompts: max |diff| {max:.3}, median {med:.3}");
    assert!(med < MEDIAN_LOGIT_DIFF, "median difference {med}");
}

#[test]
fn free_running_greedy_tokens_match_until_llama_cpp_is_unsure() {
    free_running_greedy(SmolLm2);
}

#[test]
fn gemma3_free_running_greedy_tokens_match_until_llama_cpp_is_unsure() {
    free_running_greedy(Gemma3);
}

fn free_running_greedy(which: Reference) {
    let lm = model(which);
    let mut matched = 0;
    for p in prompts(which) {
        let options = GenerateOptions {
            max_tokens: p.generated.len(),
            sampler: SamplerConfig::greedy(),
            ..lm.options()
        };
        let mut state = lm.new_state(Some(p.prompt_tokens.len() + 64)).unwrap();
        let g = lm
            .generate(&mut state, &p.prompt_tokens, &options, None, &mut |_, _| {})
            .unwrap();
        // Before the first position where llama.cpp's own choice was a
        // near tie, the tokens must be the same.
        let n = p
            .top
            .iter()
            .position(|(_, m)| *m < CONFIDENT_MARGIN)
            .unwrap_or(p.generated.len());
        assert_eq!(
            &g.tokens[..n.min(g.tokens.len())],
            &p.generated[..n.min(g.tokens.len())],
            "{}: greedy tokens differ before llama.cpp's first near tie (position {n})",
            p.name
        );
        assert!(g.tokens.len() >= n, "{}: stopped early", p.name);
        let same = g
            .tokens
            .iter()
            .zip(&p.generated)
            .take_while(|(a, b)| a == b)
            .count();
        println!(
            "{}: identical for {same} of {} tokens (first near tie at {n})",
            p.name,
            p.generated.len()
        );
        matched += same;
    }
    println!("{which:?} greedy: {matched} tokens identical in total");
}
