//! Hooks on the real default model (SmolLM2-135M, Q4_1): attention is a
//! causal distribution, the logit lens ends at the model's own logits,
//! interventions change what they should and vanish when removed, and
//! nobody listening changes nothing.

use crate::common;

use monologue::generate::{GenerateOptions, SamplerConfig};
use monologue::inspect::{
    self, generate_traced, logit_lens, run_with_cache, Edit, Hooked, Intervention, Interventions,
    Point, Recorder, Site,
};
use monologue::model::{LoadOptions, Logits, Model};
use monologue::LanguageModel;
use std::sync::OnceLock;

fn lm() -> &'static LanguageModel {
    static LM: OnceLock<LanguageModel> = OnceLock::new();
    LM.get_or_init(|| {
        let path = common::smollm2();
        LanguageModel::load(path.to_str().unwrap(), &LoadOptions::default()).unwrap()
    })
}

const TEXT: &str = "The Eiffel Tower is in the city of";

fn tokens() -> Vec<u32> {
    lm().encode(TEXT)
}

fn logits(model: &dyn Model, tokens: &[u32]) -> Vec<f32> {
    let mut state = model.new_state(tokens.len()).unwrap();
    model.forward(&mut state, tokens, Logits::All).unwrap()
}

fn with(interventions: Vec<Intervention>) -> Interventions {
    Interventions::checked(interventions, lm().model.info()).unwrap()
}

#[test]
fn attention_rows_are_causal_distributions() {
    let ids = tokens();
    let t = ids.len();
    let (_, cache) = run_with_cache(&*lm().model, &ids, &["blocks.*.attn.pattern"]).unwrap();
    let info = lm().model.info();
    assert_eq!(cache.names().len(), info.n_layers);
    for (site, pattern) in cache.sites() {
        assert_eq!(pattern.dims(), [info.n_heads, t, t]);
        let p = pattern.to_f32_vec().unwrap();
        for row in p.chunks(t).enumerate() {
            let (i, row) = row;
            let q = i % t;
            let sum: f32 = row.iter().sum();
            assert!(
                (sum - 1.0).abs() < 1e-4,
                "{}: row {i} sums to {sum}",
                site.name()
            );
            assert!(
                row[q + 1..].iter().all(|&x| x == 0.0),
                "{} attends ahead",
                site.name()
            );
            assert!(row[..=q].iter().all(|&x| x >= 0.0));
        }
    }
}

#[test]
fn logit_lens_last_layer_is_the_models_prediction() {
    let ids = tokens();
    let model = &*lm().model;
    let full = logits(model, &ids);
    let vocab = model.info().vocab_size;
    let last = &full[(ids.len() - 1) * vocab..];
    let best = monologue::generate::argmax(last);
    let lens = logit_lens(model, &ids, 5, Some(best)).unwrap();
    let layers = model.info().n_layers;
    assert_eq!(lens.probs.dims(), [layers, ids.len()]);
    // The last row is exactly the model's softmax at every position.
    let probs = lens.probs.to_f32_vec().unwrap();
    for pos in 0..ids.len() {
        let row = &full[pos * vocab..(pos + 1) * vocab];
        let d = monologue::generate::Distribution::of(row);
        let ours = probs[(layers - 1) * ids.len() + pos];
        assert!((ours - d.prob(row, best)).abs() < 1e-6, "position {pos}");
        let top = &lens.top[layers - 1][pos][0];
        assert_eq!(top.id, monologue::generate::argmax(row));
    }
    // And the unembedding of the last block's output is the logits, bit for bit.
    let (_, cache) =
        run_with_cache(model, &ids, &[format!("blocks.{}.resid_post", layers - 1)]).unwrap();
    let resid = cache.sites().next().unwrap().1.to_f32_vec().unwrap();
    assert_eq!(model.unembed(&resid).unwrap(), full);
    // Early layers predict something else with less confidence.
    assert_ne!(lens.top[0][ids.len() - 1][0].id, best);
}

#[test]
fn zero_ablating_a_head_changes_logits_and_removing_it_restores_them() {
    let ids = tokens();
    let model = &*lm().model;
    let before = logits(model, &ids);
    let mut ablate = Intervention::new(Site::block(3, Point::AttnZ), Edit::Zero);
    ablate.head = Some(2);
    let mut hooks = with(vec![ablate]);
    let ablated = logits(&Hooked::new(model, &mut hooks), &ids);
    let changed = before
        .iter()
        .zip(&ablated)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        changed > 1e-3,
        "ablating a head changed the logits by only {changed}"
    );
    // Hooks live only in the wrapper: the model itself is untouched.
    assert_eq!(logits(model, &ids), before);
}

#[test]
fn patching_a_run_with_its_own_activations_is_the_identity() {
    let ids = tokens();
    let model = &*lm().model;
    let names = [
        "blocks.*.resid_post",
        "blocks.*.attn.z",
        "blocks.5.mlp.hidden",
    ];
    let (clean, cache) = run_with_cache(model, &ids, &names).unwrap();
    let patches = cache
        .sites()
        .map(|(site, t)| Intervention::new(*site, Edit::Patch { from: t.clone() }))
        .collect();
    let mut hooks = with(patches);
    let patched = logits(&Hooked::new(model, &mut hooks), &ids);
    assert_eq!(patched, clean.to_f32_vec().unwrap());

    // Patching from a different prompt does change the answer.
    let other = lm().encode("The Colosseum is in the city of");
    assert_eq!(
        other.len(),
        ids.len(),
        "the prompts should align token by token"
    );
    let (_, other_cache) = run_with_cache(model, &other, &["blocks.10.resid_post"]).unwrap();
    let from = other_cache.get("blocks.10.resid_post").unwrap().clone();
    let mut hooks = with(vec![Intervention::new(
        Site::block(10, Point::ResidPost),
        Edit::Patch { from },
    )]);
    let swapped = logits(&Hooked::new(model, &mut hooks), &ids);
    assert_ne!(swapped, clean.to_f32_vec().unwrap());
}

#[test]
fn steering_and_mean_ablation() {
    let ids = tokens();
    let model = &*lm().model;
    let info = model.info();
    let before = logits(model, &ids);
    // Block 24 of 30: late enough that the last position's residual
    // decides the prediction, so the effect is large on every SIMD path
    // (at block 8 it was a 1% change, and of either sign across paths).
    let site = Site::block(24, Point::ResidPost);
    let zero = Edit::Steer {
        vector: vec![0.0; info.d_model],
        scale: 5.0,
    };
    let mut hooks = with(vec![Intervention::new(site, zero)]);
    assert_eq!(logits(&Hooked::new(model, &mut hooks), &ids), before);

    // Adding (Colosseum run − Eiffel run) at the last position of block 24
    // moves the prediction toward " Rome" (from about 4% to about 78%).
    let rome = lm().tokenizer.encode(" Rome", false, false)[0];
    let other = lm().encode("The Colosseum is in the city of");
    let last_row = |tokens: &[u32]| {
        let (_, c) = run_with_cache(model, tokens, &["blocks.24.resid_post"]).unwrap();
        let r = c.get("blocks.24.resid_post").unwrap().to_f32_vec().unwrap();
        r[r.len() - info.d_model..].to_vec()
    };
    let direction: Vec<f32> = last_row(&other)
        .iter()
        .zip(last_row(&ids))
        .map(|(a, b)| a - b)
        .collect();
    let mut steer = Intervention::new(
        site,
        Edit::Steer {
            vector: direction,
            scale: 1.0,
        },
    );
    steer.positions = Some(vec![ids.len() - 1]);
    let mut hooks = with(vec![steer]);
    let steered = logits(&Hooked::new(model, &mut hooks), &ids);
    let vocab = info.vocab_size;
    let last = |l: &[f32]| {
        let row = &l[(ids.len() - 1) * vocab..];
        monologue::generate::Distribution::of(row).prob(row, rome)
    };
    assert!(
        last(&steered) > 5.0 * last(&before),
        "steering moved P(Rome) only from {} to {}",
        last(&before),
        last(&steered)
    );

    // Mean-ablating a neuron sets it to its mean over positions.
    let mut mean = Intervention::new(Site::block(2, Point::MlpHidden), Edit::Mean { from: None });
    mean.neuron = Some(7);
    let mut ablate = with(vec![mean]);
    let mut recorder = Recorder::new(&["blocks.2.mlp.hidden"], info).unwrap();
    let mut list = inspect::HookList(vec![&mut ablate, &mut recorder]);
    let mut state = model.new_state(ids.len()).unwrap();
    model
        .forward_hooked(&mut state, &ids, Logits::All, &mut list)
        .unwrap();
    let hidden = recorder.finish().unwrap();
    let h = hidden
        .get("blocks.2.mlp.hidden")
        .unwrap()
        .to_f32_vec()
        .unwrap();
    let column: Vec<f32> = h.chunks(info.d_ff).map(|row| row[7]).collect();
    assert!(column.windows(2).all(|w| w[0] == w[1]), "{column:?}");
}

#[test]
fn nobody_listening_changes_nothing() {
    let ids = tokens();
    let model = &*lm().model;
    let plain = logits(model, &ids);
    let mut empty = with(Vec::new());
    assert_eq!(logits(&Hooked::new(model, &mut empty), &ids), plain);
    let mut recorder = Recorder::new(&["blocks.*.attn.pattern", "logits"], model.info()).unwrap();
    let mut state = model.new_state(ids.len()).unwrap();
    let recorded = model
        .forward_hooked(&mut state, &ids, Logits::All, &mut recorder)
        .unwrap();
    assert_eq!(recorded, plain);
    let cache = recorder.finish().unwrap();
    assert_eq!(cache.get("logits").unwrap().to_f32_vec().unwrap(), plain);
}

#[test]
fn generation_caches_every_step_and_traces_each_token() {
    let prompt = tokens();
    let model = &*lm().model;
    let options = GenerateOptions {
        max_tokens: 6,
        sampler: SamplerConfig {
            temperature: 0.0,
            ..SamplerConfig::default()
        },
        ..lm().options()
    };
    let mut state = model.new_state(64).unwrap();
    let names = vec![
        "blocks.4.resid_post".to_string(),
        "blocks.4.attn.pattern".to_string(),
    ];
    let trace = generate_traced(
        model,
        &lm().tokenizer,
        &mut state,
        &prompt,
        &options,
        3,
        &names,
        None,
        &mut |_, _| {},
    )
    .unwrap();
    let g = &trace.generation;
    assert_eq!(trace.records().len(), g.tokens.len());
    for r in trace.records() {
        assert!(r.logprob <= 0.0 && r.entropy >= 0.0);
        assert_eq!(r.top.len(), 3);
        // Greedy: the chosen token is the most likely one.
        assert_eq!(r.top[0].id, r.id);
        assert!((r.top[0].prob.ln() - r.logprob).abs() < 1e-4);
    }
    let fed = prompt.len() + g.tokens.len() - usize::from(g.unfed.is_some());
    let cache = trace.cache.as_ref().unwrap();
    let resid = cache.get("blocks.4.resid_post").unwrap();
    assert_eq!(resid.dims(), [fed, lm().model.info().d_model]);
    let pattern = cache.get("blocks.4.attn.pattern").unwrap();
    assert_eq!(pattern.dims(), [lm().model.info().n_heads, fed, fed]);

    // The steps agree with one pass over the whole sequence.
    let mut all = prompt.clone();
    all.extend(&g.tokens[..fed - prompt.len()]);
    let (_, once) = run_with_cache(model, &all, &["blocks.4.resid_post"]).unwrap();
    let a = once
        .get("blocks.4.resid_post")
        .unwrap()
        .to_f32_vec()
        .unwrap();
    let b = resid.to_f32_vec().unwrap();
    let scale = a.iter().map(|x| x.abs()).fold(0.0, f32::max);
    let d = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(
        d < 0.02 * scale,
        "step-by-step cache differs by {d} (scale {scale})"
    );
}

#[test]
fn bad_names_layers_and_heads_say_what_exists() {
    let model = &*lm().model;
    let info = model.info();
    let ids = tokens();
    let err = |r: monologue::Result<()>| r.unwrap_err().to_string();
    let e = err(run_with_cache(model, &ids, &["blocks.*.attn.patern"]).map(|_| ()));
    assert!(
        e.contains("attn.patern") && e.contains("attn.pattern") && e.contains("0..=29"),
        "{e}"
    );
    let e = err(run_with_cache(model, &ids, &["blocks.30.resid_post"]).map(|_| ()));
    assert!(e.contains("layer 30") && e.contains("30 layers"), "{e}");
    let e = err(inspect::attention_head(model, &ids, 2, 9).map(|_| ()));
    assert!(e.contains("head 9") && e.contains("9 heads"), "{e}");
    let mut i = Intervention::new(Site::block(1, Point::AttnK), Edit::Zero);
    i.head = Some(3);
    let e = err(i.check(info));
    assert!(e.contains("head 3") && e.contains("3 heads"), "{e}");
    let mut i = Intervention::new(Site::block(1, Point::ResidPost), Edit::Zero);
    i.head = Some(0);
    assert!(err(i.check(info)).contains("not split by head"));
    let steer = Edit::Steer {
        vector: vec![1.0; 3],
        scale: 1.0,
    };
    let e = err(Intervention::new(Site::block(1, Point::ResidPost), steer).check(info));
    assert!(e.contains("3 elements") && e.contains("576"), "{e}");
    let e = err(Site::parse("blocks.x.resid_post", info).map(|_| ()));
    assert!(e.contains("names are"), "{e}");
}
