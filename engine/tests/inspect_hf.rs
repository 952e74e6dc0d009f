//! Hook points against Hugging Face `transformers` on the tiny random
//! Llama, Qwen2 and GPT-2 fixtures: `output_hidden_states=True` and
//! `output_attentions=True` (recorded by tests/reference/make_hf_fixtures.py)
//! match our `resid_pre` / `final_norm` and `attn.pattern` within 1e-4.

mod common;

use common::hf_reference::{fixture, reference};
use monologue::inspect::run_with_cache;
use monologue::model::{self, LoadOptions};

const TOL: f32 = 1e-4;

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check(name: &str) {
    let dir = fixture(name);
    let model = model::load(&dir, &LoadOptions::default()).unwrap();
    let info = model.info().clone();
    let cases = reference(&dir);
    let mut checked = 0;
    for case in &cases {
        let (Some(hidden), Some(attn)) = (&case.hidden_states, &case.attentions) else {
            continue;
        };
        let t = case.ids.len();
        let (logits, cache) = run_with_cache(
            &*model,
            &case.ids,
            &["blocks.*.resid_pre", "blocks.*.attn.pattern", "final_norm"],
        )
        .unwrap();
        assert!(max_diff(&logits.to_f32_vec().unwrap(), &case.logits) < TOL);

        // hidden_states[l] enters layer l; the last is the final norm's output.
        assert_eq!(hidden.shape, [info.n_layers + 1, t, info.d_model]);
        let layer_size = t * info.d_model;
        for layer in 0..=info.n_layers {
            let name = if layer < info.n_layers {
                format!("blocks.{layer}.resid_pre")
            } else {
                "final_norm".to_string()
            };
            let ours = cache.get(&name).unwrap();
            assert_eq!(ours.dims(), [t, info.d_model], "{name}");
            let theirs = &hidden.data[layer * layer_size..(layer + 1) * layer_size];
            let d = max_diff(&ours.to_f32_vec().unwrap(), theirs);
            assert!(d < TOL, "{name}: {d} on {:?}", case.ids);
        }

        assert_eq!(attn.shape, [info.n_layers, info.n_heads, t, t]);
        let layer_size = info.n_heads * t * t;
        for layer in 0..info.n_layers {
            let name = format!("blocks.{layer}.attn.pattern");
            let ours = cache.get(&name).unwrap();
            assert_eq!(ours.dims(), [info.n_heads, t, t], "{name}");
            let theirs = &attn.data[layer * layer_size..(layer + 1) * layer_size];
            let d = max_diff(&ours.to_f32_vec().unwrap(), theirs);
            assert!(d < TOL, "{name}: {d} on {:?}", case.ids);
        }
        checked += 1;
    }
    assert!(
        checked >= 2,
        "{name}: only {checked} inputs carry hidden states"
    );
}

#[test]
fn llama_hidden_states_and_attentions_match_transformers() {
    check("llama");
}

#[test]
fn qwen2_hidden_states_and_attentions_match_transformers() {
    check("qwen2");
}

#[test]
fn gpt2_hidden_states_and_attentions_match_transformers() {
    check("gpt2");
}
