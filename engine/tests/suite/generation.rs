//! The generation loop on SmolLM2: greedy decoding, stop rules, records,
//! cancellation, think-budget forcing and chat sessions that keep their cache.

use crate::common;

use monologue::chat_session::{ChatSession, TurnOptions};
use monologue::generate::{argmax, GenerateOptions, SamplerConfig, StopReason, TextKind};
use monologue::model::{LoadOptions, Logits};
use monologue::LanguageModel;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

fn smollm2() -> Arc<LanguageModel> {
    static LM: OnceLock<Arc<LanguageModel>> = OnceLock::new();
    LM.get_or_init(|| {
        let path = common::smollm2();
        Arc::new(LanguageModel::load(path.to_str().unwrap(), &LoadOptions::default()).unwrap())
    })
    .clone()
}

fn greedy(max_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_tokens,
        sampler: SamplerConfig::greedy(),
        ..smollm2().options()
    }
}

#[test]
fn greedy_generation_is_the_argmax_chain_and_streams_its_text() {
    let lm = smollm2();
    let prompt = lm.encode("The capital of France is");
    let mut state = lm.new_state(Some(64)).unwrap();
    let mut streamed = String::new();
    let g = lm
        .generate(&mut state, &prompt, &greedy(12), None, &mut |p, _| {
            streamed += p
        })
        .unwrap();
    assert_eq!(g.tokens.len(), 12);
    assert_eq!(streamed, g.text);
    assert_eq!(g.text, lm.tokenizer.decode(&g.tokens).unwrap());
    assert_eq!(
        state.position(),
        prompt.len() + 11,
        "the last token is left unfed"
    );

    // The same chain by hand: one forward per token, argmax each time.
    let mut state = lm.new_state(Some(64)).unwrap();
    let mut logits = lm.model.forward(&mut state, &prompt, Logits::Last).unwrap();
    for &expected in &g.tokens {
        let id = argmax(&logits);
        assert_eq!(id, expected);
        logits = lm.model.forward(&mut state, &[id], Logits::Last).unwrap();
    }
}

#[test]
fn stop_strings_end_generation_and_are_not_shown() {
    let lm = smollm2();
    let prompt = lm.encode("The capital of France is");
    let mut options = greedy(40);
    options.stop = vec!["\n".into()];
    let mut state = lm.new_state(Some(64)).unwrap();
    let g = lm
        .generate(&mut state, &prompt, &options, None, &mut |_, _| {})
        .unwrap();
    assert_eq!(g.stop, StopReason::StopString);
    assert!(!g.text.contains('\n') && !g.text.is_empty(), "{:?}", g.text);
}

#[test]
fn records_hold_the_models_own_probabilities() {
    let lm = smollm2();
    let prompt = lm.encode("Once upon a time");
    let mut options = greedy(8);
    options.top_logprobs = 5;
    let mut state = lm.new_state(Some(64)).unwrap();
    let g = lm
        .generate(&mut state, &prompt, &options, None, &mut |_, _| {})
        .unwrap();
    assert_eq!(g.records.len(), g.tokens.len());
    for (r, &id) in g.records.iter().zip(&g.tokens) {
        assert_eq!(r.id, id);
        assert_eq!(r.top[0].id, id, "greedy takes the most likely token");
        assert!(r.logprob <= 0.0 && r.entropy >= 0.0);
        assert!((r.logprob - r.top[0].prob.ln()).abs() < 1e-4);
        assert!(r.top.windows(2).all(|w| w[0].prob >= w[1].prob));
        assert!(r.top.iter().map(|c| c.prob).sum::<f32>() <= 1.0 + 1e-5);
        assert_eq!(r.kind, TextKind::Answer);
    }
}

#[test]
fn cancelling_stops_between_tokens_and_the_state_stays_usable() {
    let lm = smollm2();
    let prompt = lm.encode("Write a long story about a dragon.");
    let mut state = lm.new_state(Some(256)).unwrap();
    let cancel = AtomicBool::new(false);
    let mut pieces = 0;
    let mut options = greedy(100);
    options.stop_ids.clear();
    let g = lm
        .generate(&mut state, &prompt, &options, Some(&cancel), &mut |_, _| {
            pieces += 1;
            if pieces == 3 {
                cancel.store(true, Ordering::Relaxed);
            }
        })
        .unwrap();
    assert_eq!(g.stop, StopReason::Cancelled);
    assert!(
        g.tokens.len() <= 5,
        "stopped within a token or two: {}",
        g.tokens.len()
    );
    let unfed: Vec<u32> = g.unfed.into_iter().collect();
    assert_eq!(
        state.position(),
        prompt.len() + g.tokens.len() - unfed.len()
    );
    // Continue the same state: feed what is unfed (or a new word) and go on.
    let next = if unfed.is_empty() {
        lm.encode(" Then")
    } else {
        unfed
    };
    let more = lm
        .generate(&mut state, &next, &greedy(4), None, &mut |_, _| {})
        .unwrap();
    assert_eq!(more.tokens.len(), 4);
}

#[test]
fn the_context_limit_is_an_error_or_a_clean_stop_never_a_panic() {
    let lm = smollm2();
    let prompt = lm.encode("one two three four five six");
    let mut state = lm.new_state(Some(4)).unwrap();
    let err = lm
        .generate(&mut state, &prompt, &greedy(4), None, &mut |_, _| {})
        .unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    let mut state = lm.new_state(Some(prompt.len() + 2)).unwrap();
    let g = lm
        .generate(&mut state, &prompt, &greedy(50), None, &mut |_, _| {})
        .unwrap();
    assert_eq!(g.stop, StopReason::ContextFull);
}

#[test]
fn a_think_budget_forces_the_end_of_reasoning() {
    let lm = smollm2();
    let messages = [monologue::generate::Message::user(
        "Explain why the sky is blue.",
    )];
    let (prompt, inside) = lm.chat_prompt(&messages, true).unwrap();
    assert!(
        inside && prompt.trim_end().ends_with("<think>"),
        "{prompt:?}"
    );
    let mut options = greedy(6);
    options.starts_in_reasoning = true;
    options.think_budget = Some(5);
    options.top_logprobs = 3;
    // The model must not end its turn before the budget runs out.
    options.stop_ids.clear();
    let mut state = lm.new_state(Some(256)).unwrap();
    let mut kinds = Vec::new();
    let g = lm
        .generate(
            &mut state,
            &lm.encode(&prompt),
            &options,
            None,
            &mut |_, k| kinds.push(k),
        )
        .unwrap();
    assert_eq!(g.reasoning_tokens, 5);
    assert!(g.records.iter().any(|r| r.forced), "</think> was inserted");
    assert!(!g.text.contains("<think>") && !g.text.contains("</think>"));
    assert!(!g.reasoning.is_empty() && !g.answer.is_empty(), "{g:?}");
    assert_eq!(kinds.first(), Some(&TextKind::Reasoning));
    assert_eq!(kinds.last(), Some(&TextKind::Answer));
    let close = lm.tokenizer.encode("</think>", true, false);
    assert!(g.tokens.windows(close.len()).any(|w| w == close.as_slice()));
}

#[test]
fn a_chat_session_reuses_its_cache_across_turns() {
    let lm = smollm2();
    let mut chat = ChatSession::new(lm.clone(), Some("You are terse."), Some(1024)).unwrap();
    let options = TurnOptions {
        generate: greedy(16),
        think: false,
    };
    let first = chat
        .say("Name a colour.", &options, None, &mut |_, _| {})
        .unwrap();
    let after_first = chat.position();
    let second = chat
        .say("Name another one.", &options, None, &mut |_, _| {})
        .unwrap();
    assert_eq!(
        chat.messages().len(),
        5,
        "system, user, assistant, user, assistant"
    );
    assert_eq!(chat.messages()[2].content, first.answer.trim());
    // The second turn prefilled only what was new, not the whole conversation.
    let whole = lm.encode(&lm.chat_prompt(&chat.messages()[..4], false).unwrap().0);
    assert!(
        second.timings.prompt_tokens < whole.len() / 2,
        "{} of {}",
        second.timings.prompt_tokens,
        whole.len()
    );
    assert!(chat.position() > after_first);
    chat.reset();
    assert_eq!(chat.messages().len(), 1);
    assert_eq!(chat.position(), 0);
}
