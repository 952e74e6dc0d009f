//! Inspection from scripts, with the names notebooks rely on: hook_names,
//! run_with_cache, attention, logit_lens, generate_traced, with_hooks.
//! Values are checked against the engine's own calls.

use crate::common;

use common::script::{eval, floats, run, session};
use monologue::inspect;
use monologue::model::{LoadOptions, Logits};
use monologue::plot::Plot;
use monologue::script::{Array, Map};
use monologue::tensor::Tensor;
use monologue::LanguageModel;

const TEXT: &str = "The Eiffel Tower is in the city of";

fn engine_model() -> LanguageModel {
    LanguageModel::load(common::smollm2().to_str().unwrap(), &LoadOptions::default()).unwrap()
}

fn tensor(d: monologue::script::Dynamic) -> Tensor {
    d.try_cast::<Tensor>().expect("a tensor")
}

#[test]
fn hook_names_and_shapes() {
    let mut s = session();
    let names: Vec<String> = eval(&mut s, "m.hook_names()")
        .into_array()
        .unwrap()
        .into_iter()
        .map(|n| n.into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3 + 30 * 11);
    assert_eq!(names[0], "embed");
    assert!(names.contains(&"blocks.29.attn.pattern".to_string()));
    assert_eq!(names.last().unwrap(), "logits");
    let shapes = eval(&mut s, "m.hook_shapes()").try_cast::<Map>().unwrap();
    let shape = |n: &str| shapes[n].clone().into_string().unwrap();
    assert_eq!(shape("blocks.0.attn.pattern"), "[9, T, K]");
    assert_eq!(shape("blocks.0.attn.k"), "[T, 3, 64]");
    assert_eq!(shape("blocks.0.mlp.hidden"), "[T, 1536]");
    // The names and shapes are documented in :help.
    let help = s.help(Some("hook_names"));
    assert!(help.contains("attn.pattern [H, T, K]"), "{help}");
}

#[test]
fn run_with_cache_holds_only_what_was_asked() {
    let lm = engine_model();
    let ids = lm.encode(TEXT);
    let mut s = session();
    run(
        &mut s,
        &format!("let c = m.run_with_cache({TEXT:?}, [\"blocks.*.attn.pattern\", \"blocks.2.resid_post\"]);"),
    );
    let names = eval(&mut s, "c.names()").into_array().unwrap();
    assert_eq!(names.len(), 31);
    let pattern = tensor(eval(&mut s, "c.get(\"blocks.7.attn.pattern\")"));
    assert_eq!(pattern.dims(), [9, ids.len(), ids.len()]);
    let (_, engine) =
        inspect::run_with_cache(&*lm.model, &ids, &["blocks.7.attn.pattern"]).unwrap();
    assert_eq!(
        pattern.to_f32_vec().unwrap(),
        engine
            .get("blocks.7.attn.pattern")
            .unwrap()
            .to_f32_vec()
            .unwrap()
    );
    let logits = tensor(eval(&mut s, "c.logits"));
    let mut state = lm.model.new_state(ids.len()).unwrap();
    let direct = lm.model.forward(&mut state, &ids, Logits::All).unwrap();
    assert_eq!(logits.to_f32_vec().unwrap(), direct);
    assert_eq!(
        eval(&mut s, "c.tokens.len()").as_int().unwrap() as usize,
        ids.len()
    );
    let err = s.eval("c.get(\"blocks.3.mlp.out\")").unwrap_err().message;
    assert!(
        err.contains("holds no `blocks.3.mlp.out`") && err.contains("blocks.2.resid_post"),
        "{err}"
    );
    let err = s
        .eval(&format!(
            "m.run_with_cache({TEXT:?}, \"blocks.40.resid_post\")"
        ))
        .unwrap_err()
        .message;
    assert!(
        err.contains("layer 40") && err.contains("30 layers"),
        "{err}"
    );
    let shown = s.eval("c").unwrap().render().unwrap().text;
    assert!(
        shown.contains("31 activations") && shown.contains("blocks.2.resid_post"),
        "{shown}"
    );
}

#[test]
fn attention_rows_sum_to_one_and_plot_with_token_labels() {
    let mut s = session();
    let a = tensor(eval(&mut s, &format!("m.attention({TEXT:?}, 4, 2)")));
    let t = a.dims()[0];
    assert_eq!(a.dims(), [t, t]);
    let sums = floats(eval(
        &mut s,
        &format!("m.attention({TEXT:?}, 4, 2).sum(-1).to_array()"),
    ));
    assert!(sums.iter().all(|x| (x - 1.0).abs() < 1e-4), "{sums:?}");
    let to = tensor(eval(&mut s, &format!("m.attention_to({TEXT:?}, 0)")));
    assert_eq!(to.dims(), [30, 9]);
    let plot = eval(&mut s, &format!("m.plot_attention({TEXT:?}, 4, 2)"))
        .try_cast::<Plot>()
        .unwrap();
    let svg = plot.to_svg().unwrap();
    assert!(svg.contains("iffel") && svg.contains("Attention, layer 4 head 2"));
    let err = s
        .eval(&format!("m.attention({TEXT:?}, 4, 12)"))
        .unwrap_err()
        .message;
    assert!(err.contains("head 12") && err.contains("9 heads"), "{err}");
}

#[test]
fn logit_lens_ends_at_the_models_prediction() {
    let mut s = session();
    run(
        &mut s,
        &format!("let lens = m.logit_lens({TEXT:?}, #{{ token: \" Paris\" }});"),
    );
    let probs = tensor(eval(&mut s, "lens.probs"));
    let dims = probs.dims().to_vec();
    assert_eq!(dims[0], 30);
    let last = probs.to_f32_vec().unwrap()[dims[0] * dims[1] - 1] as f64;
    let top = eval(&mut s, &format!("m.top_k({TEXT:?}, 1)"))
        .into_array()
        .unwrap();
    let top = top[0].clone().try_cast::<Map>().unwrap();
    assert_eq!(top["token"].clone().into_string().unwrap(), " Paris");
    assert!((top["prob"].as_float().unwrap() - last).abs() < 1e-5);
    let lens_top: Array = eval(&mut s, &format!("lens.top(29, {})", dims[1] - 1))
        .into_array()
        .unwrap();
    let first = lens_top[0].clone().try_cast::<Map>().unwrap();
    assert_eq!(first["token"].clone().into_string().unwrap(), " Paris");
    let grid = s.eval("lens").unwrap().render().unwrap().text;
    assert!(
        grid.contains("·Paris") && grid.lines().count() > 30,
        "{grid}"
    );
    let svg = eval(&mut s, "lens.plot()")
        .try_cast::<Plot>()
        .unwrap()
        .to_svg()
        .unwrap();
    assert!(svg.contains("Logit lens") && svg.contains("L29"));
    let err = s
        .eval(&format!(
            "m.logit_lens({TEXT:?}, #{{ token: \" Eiffel Tower\" }})"
        ))
        .unwrap_err()
        .message;
    assert!(err.contains("tokens; give one token"), "{err}");
}

#[test]
fn generate_traced_records_each_token_and_caches_steps() {
    let mut s = session();
    run(
        &mut s,
        "let tr = m.generate_traced(\"The capital of France is\", #{ max_tokens: 8, temperature: 0.0, top_logprobs: 3, cache: \"blocks.3.resid_post\" });",
    );
    let text = eval(&mut s, "tr.text").into_string().unwrap();
    let plain = eval(
        &mut s,
        "m.generate(\"The capital of France is\", #{ max_tokens: 8, temperature: 0.0 })",
    )
    .into_string()
    .unwrap();
    assert_eq!(text, plain);
    let tokens = eval(&mut s, "tr.tokens").into_array().unwrap();
    assert!(!tokens.is_empty());
    for t in &tokens {
        let t = t.clone().try_cast::<Map>().unwrap();
        let top = t["top"].clone().into_array().unwrap();
        assert_eq!(top.len(), 3);
        let best = top[0].clone().try_cast::<Map>().unwrap();
        assert_eq!(
            best["id"].as_int().unwrap(),
            t["id"].as_int().unwrap(),
            "greedy picks the top token"
        );
        assert_eq!(t["section"].clone().into_string().unwrap(), "answer");
        assert!(t["entropy"].as_float().unwrap() >= 0.0);
    }
    let rows = eval(&mut s, "tr.cache.get(\"blocks.3.resid_post\").shape[0]")
        .as_int()
        .unwrap();
    let prompt = eval(&mut s, "m.encode(\"The capital of France is\").len()")
        .as_int()
        .unwrap();
    assert!(
        rows > prompt,
        "the cache covers the generated steps too ({rows} rows)"
    );
    let summary = s.eval("tr").unwrap().render().unwrap().text;
    assert!(
        summary.contains("answer") && summary.contains("mean entropy"),
        "{summary}"
    );
    let svg = eval(&mut s, "tr.plot()")
        .try_cast::<Plot>()
        .unwrap()
        .to_svg()
        .unwrap();
    assert!(svg.contains("entropy"));
    // With thinking, tokens inside <think> are tagged reasoning and shaded.
    run(&mut s, "let th = m.generate_traced(\"Hi\", #{ chat: true, think: true, max_tokens: 4, think_budget: 3, temperature: 0.0 });");
    let sections: Vec<String> = eval(&mut s, "th.tokens.map(|t| t.section)")
        .into_array()
        .unwrap()
        .into_iter()
        .map(|x| x.into_string().unwrap())
        .collect();
    assert_eq!(
        sections.first().map(String::as_str),
        Some("reasoning"),
        "{sections:?}"
    );
}

/// The logit lens on a generated token: `tr.context(i)` is exactly what
/// the model read before token i, so the lens's last layer at the last
/// position predicts that token as the model did; `last` keeps only the
/// final positions.
#[test]
fn the_logit_lens_reads_a_traced_tokens_context() {
    let mut s = session();
    run(
        &mut s,
        "let tr = m.generate_traced(\"The capital of France is\", #{ max_tokens: 4, temperature: 0.0 });",
    );
    let prompt = eval(&mut s, "m.encode(\"The capital of France is\").len()")
        .as_int()
        .unwrap();
    assert_eq!(
        eval(&mut s, "tr.context(2).len()").as_int().unwrap(),
        prompt + 2
    );
    run(
        &mut s,
        "let lens = m.logit_lens(tr.context(2), #{ last: 3 });",
    );
    assert_eq!(eval(&mut s, "lens.tokens.len()").as_int().unwrap(), 3);
    let layers = eval(&mut s, "lens.probs.shape").into_array().unwrap();
    assert_eq!(layers[1].as_int().unwrap(), 3);
    let predicted = eval(&mut s, "lens.top(29, 2)[0].id").as_int().unwrap();
    let chosen = eval(&mut s, "tr.tokens[2].id").as_int().unwrap();
    assert_eq!(
        predicted, chosen,
        "the last layer predicts the greedy token"
    );
    let err = s.eval("tr.context(99)").unwrap_err().message;
    assert!(err.contains("out of range"), "{err}");
    let err = s.eval("m.logit_lens([1, -4], #{})").unwrap_err().message;
    assert!(err.contains("token ids"), "{err}");
}

#[test]
fn hooks_apply_inside_with_hooks_and_are_removed_after() {
    let mut s = session();
    let top = |s: &mut monologue::script::Session, code: &str| -> (String, f64) {
        let a = eval(s, code).into_array().unwrap();
        let m = a[0].clone().try_cast::<Map>().unwrap();
        (
            m["token"].clone().into_string().unwrap(),
            m["prob"].as_float().unwrap(),
        )
    };
    let plain = top(&mut s, &format!("m.top_k({TEXT:?}, 1)"));
    let ablated = top(
        &mut s,
        &format!(
            "m.with_hooks(ablate(\"blocks.3.attn.z\", #{{ head: 2 }}), |m| m.top_k({TEXT:?}, 1))"
        ),
    );
    assert_ne!(plain.1, ablated.1);
    assert_eq!(
        top(&mut s, &format!("m.top_k({TEXT:?}, 1)")),
        plain,
        "hooks are removed"
    );
    // The function form, whose closure captures the model.
    let same = top(
        &mut s,
        &format!(
            "with_hooks(m, ablate(\"blocks.3.attn.z\", #{{ head: 2 }}), || m.top_k({TEXT:?}, 1))"
        ),
    );
    assert_eq!(same, ablated);
    // Patching the Colosseum run's residual stream makes Rome the answer.
    run(&mut s, "let other = m.run_with_cache(\"The Colosseum is in the city of\", \"blocks.10.resid_post\");");
    let patched = top(
        &mut s,
        &format!(
            "m.with_hooks([patch(\"blocks.10.resid_post\", other)], |m| m.top_k({TEXT:?}, 1))"
        ),
    );
    assert_eq!(patched.0, " Rome");
    // Patching with its own activations changes nothing.
    run(
        &mut s,
        &format!("let own = m.run_with_cache({TEXT:?}, \"blocks.*.resid_post\");"),
    );
    let own = top(
        &mut s,
        &format!("m.with_hooks(patch(\"blocks.*.resid_post\", own), |m| m.top_k({TEXT:?}, 1))"),
    );
    assert_eq!(own, plain);
    // A zero steering vector changes nothing; hooks reach generate too.
    let zero = top(&mut s, &format!("m.with_hooks(steer(\"blocks.5.resid_post\", zeros([576]), 3.0), |m| m.top_k({TEXT:?}, 1))"));
    assert_eq!(zero, plain);
    let generated = eval(&mut s, &format!("m.with_hooks(patch(\"blocks.10.resid_post\", other), |m| m.generate({TEXT:?}, #{{ max_tokens: 2, temperature: 0.0 }}))")).into_string().unwrap();
    assert!(generated.starts_with(" Rome"), "{generated}");
    // Errors: a bad name, a head out of range, the hooks gone afterwards.
    let err = s
        .eval("m.with_hooks(ablate(\"blocks.3.attn.zz\"), |m| 1)")
        .unwrap_err()
        .message;
    assert!(
        err.contains("attn.zz") && err.contains("names are"),
        "{err}"
    );
    let err = s
        .eval("m.with_hooks(ablate(\"blocks.3.attn.v\", #{ head: 5 }), |m| 1)")
        .unwrap_err()
        .message;
    assert!(err.contains("head 5") && err.contains("3 heads"), "{err}");
    let err = s
        .eval(&format!(
            "m.with_hooks(ablate(\"blocks.3.attn.z\"), |m| m.top_k({TEXT:?}, 0.5))"
        ))
        .unwrap_err()
        .message;
    assert!(!err.is_empty());
    assert_eq!(
        top(&mut s, &format!("m.top_k({TEXT:?}, 1)")),
        plain,
        "removed after an error too"
    );
    let err = s
        .eval(&format!(
            "m.with_hooks(ablate(\"blocks.3.attn.z\"), || m.top_k({TEXT:?}, 1))"
        ))
        .unwrap_err()
        .message;
    assert!(err.contains("|m|"), "{err}");
}
