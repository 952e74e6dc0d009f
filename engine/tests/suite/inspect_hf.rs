//! Hook points against Hugging Face `transformers` on the tiny random
//! fixtures (Llama, Llama 3.1, Mistral, Phi-3, Qwen2, Qwen3, Gemma 3, GPT-2):
//! `output_hidden_states=True` and `output_attentions=True` (recorded by
//! tests/reference/make_hf_fixtures.py) match our `resid_pre` /
//! `final_norm` and `attn.pattern` within 1e-4 — sliding-window patterns
//! included.

use crate::common;

use common::hf_reference::{fixture, reference};
use common::max_diff;
use monologue::inspect::{
    run_with_cache, Activation, Edit, Hooked, Hooks, Intervention, Interventions, Point, Site,
};
use monologue::model::{LoadOptions, Logits, Model};

const TOL: f32 = 1e-4;

fn check(name: &str) {
    let dir = fixture(name);
    let model = monologue::load::model(&dir, &LoadOptions::default()).unwrap();
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

#[test]
fn newer_families_hidden_states_and_attentions_match_transformers() {
    for name in ["qwen3", "gemma3", "llama3", "mistral", "phi3"] {
        check(name);
    }
}

/// `attn.q_norm` / `attn.k_norm` hold each head after its RMSNorm and
/// before RoPE: divided by the norm's scale, every head's row has a mean
/// square of 1. Models without the norms have no such points.
#[test]
fn q_and_k_norm_points_hold_normalized_heads() {
    for (name, offset) in [("qwen3", 0.0), ("gemma3", 1.0)] {
        let dir = fixture(name);
        let model = monologue::load::model(&dir, &LoadOptions::default()).unwrap();
        let info = model.info().clone();
        let file = monologue::io::SafetensorsFile::open(&dir).unwrap();
        let ids = &reference(&dir)[2].ids;
        let (_, cache) = run_with_cache(
            &*model,
            ids,
            &["blocks.1.attn.q_norm", "blocks.1.attn.k_norm"],
        )
        .unwrap();
        for (point, heads) in [("q", info.n_heads), ("k", info.n_kv_heads)] {
            let weight = file
                .tensor(&format!("model.layers.1.self_attn.{point}_norm.weight"))
                .unwrap()
                .to_f32_vec()
                .unwrap();
            let act = cache.get(&format!("blocks.1.attn.{point}_norm")).unwrap();
            assert_eq!(act.dims(), [ids.len(), heads, info.head_dim]);
            for row in act.to_f32_vec().unwrap().chunks(info.head_dim) {
                let ms = row
                    .iter()
                    .zip(&weight)
                    .map(|(x, w)| (x / (w + offset)).powi(2))
                    .sum::<f32>()
                    / info.head_dim as f32;
                assert!((ms - 1.0).abs() < 1e-3, "{name} {point}: mean square {ms}");
            }
        }
    }
    let llama = monologue::load::model(fixture("llama"), &LoadOptions::default()).unwrap();
    let e = run_with_cache(&*llama, &[1, 2], &["blocks.0.attn.q_norm"])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("attn.q_norm") && e.contains("attn.q,"), "{e}");
}

fn logits(model: &dyn Model, tokens: &[u32]) -> Vec<f32> {
    let mut state = model.new_state(tokens.len()).unwrap();
    model.forward(&mut state, tokens, Logits::All).unwrap()
}

/// Marks every attention pattern changed, so the model mixes the values
/// again from the hooked pattern (the slow path must agree with the kernel).
struct TouchPatterns;

impl Hooks for TouchPatterns {
    fn wants(&self, site: Site) -> bool {
        site.point == Point::AttnPattern
    }
    fn visit(&mut self, _: Site, act: &mut Activation<'_>) -> monologue::Result<()> {
        act.changed = true;
        Ok(())
    }
}

/// Editing a pattern takes effect: rewriting it unchanged is the identity,
/// and zeroing a head's pattern equals zeroing its output `z`. (On f32
/// weights: quantized models round activations to 8 bits, which turns
/// float-level differences into rounding flips.)
#[test]
fn edited_attention_patterns_are_applied_to_the_values() {
    for name in ["llama", "gpt2"] {
        let model = monologue::load::model(fixture(name), &LoadOptions::default()).unwrap();
        let ids = &reference(&fixture(name))[1].ids;
        let plain = logits(&*model, ids);
        let mut touch = TouchPatterns;
        let touched = logits(&Hooked::new(&*model, &mut touch), ids);
        assert!(max_diff(&plain, &touched) < TOL, "{name}");

        let ablated = |point| {
            let mut i = Intervention::new(Site::block(1, point), Edit::Zero);
            i.head = Some(1);
            let mut hooks = Interventions::checked(vec![i], model.info()).unwrap();
            logits(&Hooked::new(&*model, &mut hooks), ids)
        };
        let (via_z, via_pattern) = (ablated(Point::AttnZ), ablated(Point::AttnPattern));
        assert!(
            max_diff(&via_z, &plain) > 1e-3,
            "{name}: ablation did nothing"
        );
        assert!(max_diff(&via_z, &via_pattern) < TOL, "{name}");
    }
}

/// The unembedding of the last block's output is the model's logits, for
/// the RMSNorm (Llama, Qwen2, Qwen3, Phi-3), Gemma's (1 + w) RMSNorm and
/// the LayerNorm (GPT-2) heads: the lens applies each model's own final
/// norm.
#[test]
fn the_logit_lens_ends_at_the_logits_on_every_architecture() {
    for name in ["llama", "qwen2", "gpt2", "qwen3", "gemma3", "phi3"] {
        let model = monologue::load::model(fixture(name), &LoadOptions::default()).unwrap();
        let ids = &reference(&fixture(name))[1].ids;
        let last = format!("blocks.{}.resid_post", model.info().n_layers - 1);
        let (logits, cache) = run_with_cache(&*model, ids, &[last.as_str()]).unwrap();
        let resid = cache.get(&last).unwrap().to_f32_vec().unwrap();
        let lens = model.unembed(&resid).unwrap();
        assert_eq!(lens, logits.to_f32_vec().unwrap(), "{name}");
        let top = monologue::inspect::logit_lens(&*model, ids, 3, None).unwrap();
        assert_eq!(top.top.len(), model.info().n_layers);
        let t = ids.len() - 1;
        let vocab = model.info().vocab_size;
        let row = &lens[t * vocab..];
        assert_eq!(
            top.top[model.info().n_layers - 1][t][0].id,
            monologue::generate::argmax(row),
            "{name}"
        );
    }
}
