//! Looking inside models from scripts: hook names, `run_with_cache`,
//! attention maps, the logit lens, traced generation and interventions
//! (`ablate`, `patch`, `steer`, applied by `m.with_hooks(hooks, || ...)`).

use super::convert::{
    check_keys, engine_err, floats, index, non_negative, number, runtime, string, ScriptResult,
};
use super::model_api::ModelHandle;
use super::register::{func, getter};
use super::Shared;
use crate::generate::TextKind;
use crate::inspect::plots::{attention_plot, lens_plot, short_label, trace_plot};
use crate::inspect::{self, ActivationCache, Edit, Intervention, LogitLens, Trace};
use crate::plot::Plot;
use crate::tensor::Tensor;
use rhai::{Array, Dynamic, Engine, FnPtr, Map, NativeCallContext, FLOAT, INT};
use std::sync::Arc;

/// Activations recorded by `m.run_with_cache` or `m.generate_traced`.
#[derive(Clone)]
pub struct CacheHandle {
    cache: Arc<ActivationCache>,
    /// `[T, vocab]` (`()` in scripts for a trace's cache, which has none).
    logits: Option<Tensor>,
    tokens: Vec<String>,
}

impl CacheHandle {
    pub fn describe(&self) -> String {
        let mut out = format!(
            "Cache({} positions, {} activations, {:.1} MB)",
            self.tokens.len(),
            self.cache.names().len(),
            self.cache.bytes() as f64 / 1e6
        );
        for (site, t) in self.cache.sites().take(12) {
            out += &format!("\n  {:<26} {:?}", site.name(), t.dims());
        }
        if self.cache.names().len() > 12 {
            out += &format!("\n  … {} more", self.cache.names().len() - 12);
        }
        out
    }
}

/// `m.logit_lens(text)`: the lens and the names of its tokens.
#[derive(Clone)]
pub struct LensHandle {
    lens: Arc<LogitLens>,
    model: ModelHandle,
}

impl LensHandle {
    fn labels(&self) -> Vec<String> {
        self.lens
            .tokens
            .iter()
            .map(|&id| self.model.token_text(id))
            .collect()
    }

    /// A text grid: layers down (last first), positions across, each cell
    /// the top token and its probability.
    pub fn describe(&self) -> String {
        let lens = &self.lens;
        let t = lens.tokens.len();
        let shown: Vec<usize> = (t.saturating_sub(10)..t).collect();
        let probs = lens.probs.to_f32_vec().unwrap_or_default();
        let cell = |s: String| format!("{s:<14}");
        let mut out = format!(
            "Logit lens over {} layers × {} positions (top token, {}){}\n",
            lens.layers,
            t,
            match lens.target {
                Some(id) => format!("p({})", self.model.token_text(id)),
                None => "its probability".into(),
            },
            if shown.len() < t {
                format!("; last {} positions shown", shown.len())
            } else {
                String::new()
            }
        );
        out += &cell("layer".into());
        for &p in &shown {
            out += &cell(short_label(&self.model.token_text(lens.tokens[p]), 12));
        }
        for layer in (0..lens.layers).rev() {
            out += "\n";
            out += &cell(format!("{layer}"));
            for &p in &shown {
                let top = &lens.top[layer][p][0];
                let label = short_label(&self.model.token_text(top.id), 7);
                out += &cell(format!("{label} {:.2}", probs[layer * t + p]));
            }
        }
        out
    }
}

/// `m.generate_traced(...)`: the generation with per-token confidence.
#[derive(Clone)]
pub struct TraceHandle {
    trace: Arc<Trace>,
    model: ModelHandle,
}

impl TraceHandle {
    pub fn describe(&self) -> String {
        let g = &self.trace.generation;
        let summary = self.trace.summary();
        let mut out = format!(
            "Trace: {} tokens ({} reasoning, {} answer), stopped by {}",
            g.tokens.len(),
            summary.reasoning.tokens,
            summary.answer.tokens,
            g.stop.name()
        );
        for (name, s) in [
            ("reasoning", &summary.reasoning),
            ("answer", &summary.answer),
        ] {
            if s.tokens == 0 {
                continue;
            }
            out += &format!(
                "\n  {name:<9} mean logprob {:.2}, mean entropy {:.2} nats",
                s.mean_logprob, s.mean_entropy
            );
            if let Some(i) = s.most_uncertain {
                let r = &self.trace.records()[i];
                out += &format!(
                    "; least sure at token {i} {:?} (entropy {:.2})",
                    self.model.token_text(r.id),
                    r.entropy
                );
            }
        }
        out
    }

    fn tokens(&self) -> Array {
        self.trace
            .records()
            .iter()
            .map(|r| {
                let mut m = Map::new();
                m.insert("id".into(), (r.id as INT).into());
                m.insert("token".into(), self.model.token_text(r.id).into());
                m.insert("logprob".into(), (r.logprob as FLOAT).into());
                m.insert("prob".into(), ((r.logprob as FLOAT).exp()).into());
                m.insert("entropy".into(), (r.entropy as FLOAT).into());
                let section = match r.kind {
                    TextKind::Reasoning => "reasoning",
                    TextKind::Answer => "answer",
                };
                m.insert("section".into(), section.into());
                m.insert("forced".into(), r.forced.into());
                let top: Array = r
                    .top
                    .iter()
                    .map(|c| {
                        let mut alt = Map::new();
                        alt.insert("token".into(), self.model.token_text(c.id).into());
                        alt.insert("id".into(), (c.id as INT).into());
                        alt.insert("prob".into(), (c.prob as FLOAT).into());
                        Dynamic::from(alt)
                    })
                    .collect();
                m.insert("top".into(), top.into());
                Dynamic::from(m)
            })
            .collect()
    }
}

/// What a hook does; recorded activations are looked up per hook point
/// when the hook is applied (a glob such as `blocks.*.resid_post` patches
/// each layer from its own recording).
#[derive(Clone)]
enum HookEdit {
    Zero,
    Mean { from: Option<Arc<ActivationCache>> },
    Patch { from: Arc<ActivationCache> },
    Steer { vector: Vec<f32>, scale: f32 },
}

/// An intervention as a script builds it; its name is checked against a
/// model when `m.with_hooks` applies it.
#[derive(Clone)]
pub struct HookSpec {
    name: String,
    edit: HookEdit,
    head: Option<usize>,
    neuron: Option<usize>,
    positions: Option<Vec<usize>>,
}

impl HookSpec {
    pub fn describe(&self) -> String {
        let what = match &self.edit {
            HookEdit::Zero => "zero-ablate".to_string(),
            HookEdit::Mean { .. } => "mean-ablate".to_string(),
            HookEdit::Patch { .. } => "patch".to_string(),
            HookEdit::Steer { scale, .. } => format!("steer (scale {scale})"),
        };
        let mut out = format!("Hook({what} {}", self.name);
        if let Some(h) = self.head {
            out += &format!(", head {h}");
        }
        if let Some(n) = self.neuron {
            out += &format!(", neuron {n}");
        }
        if let Some(p) = &self.positions {
            out += &format!(", positions {p:?}");
        }
        out + ")"
    }

    /// The interventions this hook makes on `m`: one per hook point its
    /// name (or glob, e.g. `blocks.*.attn.z`) matches.
    fn build(&self, m: &ModelHandle) -> ScriptResult<Vec<Intervention>> {
        let info = m.lm.model.info();
        let sites = inspect::select(&[self.name.as_str()], info).map_err(engine_err)?;
        sites
            .into_iter()
            .map(|site| {
                let recorded =
                    |cache: &ActivationCache| cache.get(&site.name()).cloned().map_err(engine_err);
                let edit = match &self.edit {
                    HookEdit::Zero => Edit::Zero,
                    HookEdit::Mean { from } => Edit::Mean {
                        from: from.as_deref().map(recorded).transpose()?,
                    },
                    HookEdit::Patch { from } => Edit::Patch {
                        from: recorded(from)?,
                    },
                    HookEdit::Steer { vector, scale } => Edit::Steer {
                        vector: vector.clone(),
                        scale: *scale,
                    },
                };
                let intervention = Intervention {
                    site,
                    edit,
                    head: self.head,
                    neuron: self.neuron,
                    positions: self.positions.clone(),
                };
                intervention.check(info).map_err(engine_err)?;
                Ok(intervention)
            })
            .collect()
    }

    /// Apply `head`, `neuron` and `positions` from an option map.
    fn select(mut self, opts: &Map) -> ScriptResult<Self> {
        if let Some(v) = opts.get("head") {
            self.head = Some(non_negative(v, "head")?);
        }
        if let Some(v) = opts.get("neuron") {
            self.neuron = Some(non_negative(v, "neuron")?);
        }
        if let Some(v) = opts.get("positions") {
            let list = v
                .clone()
                .try_cast::<Array>()
                .ok_or_else(|| runtime("positions: expected an array of positions"))?;
            self.positions = Some(
                list.iter()
                    .map(|p| non_negative(p, "positions"))
                    .collect::<ScriptResult<_>>()?,
            );
        }
        Ok(self)
    }
}

fn spec(name: &str, edit: HookEdit) -> HookSpec {
    HookSpec {
        name: name.to_string(),
        edit,
        head: None,
        neuron: None,
        positions: None,
    }
}

/// Names from a string or an array of strings.
fn names(value: &Dynamic) -> ScriptResult<Vec<String>> {
    if let Ok(s) = value.clone().into_string() {
        return Ok(vec![s]);
    }
    match value.clone().try_cast::<Array>() {
        Some(a) => a.iter().map(|v| string(v, "hook names")).collect(),
        None => Err(runtime(format!(
            "hook names: expected a string or an array of strings, got {}",
            value.type_name()
        ))),
    }
}

/// The recordings a patch or a mean ablation reads: the cache must hold
/// something the hook's name (or glob) matches.
fn recordings(cache: &CacheHandle, name: &str) -> ScriptResult<Arc<ActivationCache>> {
    if !cache
        .cache
        .names()
        .iter()
        .any(|n| inspect::glob_match(name, n))
    {
        return Err(runtime(format!(
            "the cache holds no `{name}`; it holds {}",
            cache.cache.names().join(", ")
        )));
    }
    Ok(cache.cache.clone())
}

/// A vector from a tensor or an array of numbers.
fn vector(value: &Dynamic) -> ScriptResult<Vec<f32>> {
    if let Some(t) = value.clone().try_cast::<Tensor>() {
        return t.to_f32_vec().map_err(engine_err);
    }
    match value.clone().try_cast::<Array>() {
        Some(a) => Ok(floats(&a, "steering vector")?
            .into_iter()
            .map(|x| x as f32)
            .collect()),
        None => Err(runtime(format!(
            "steering vector: expected a tensor or an array of numbers, got {}",
            value.type_name()
        ))),
    }
}

impl ModelHandle {
    fn tokens_of(&self, text: &str) -> ScriptResult<Vec<u32>> {
        let ids = self.lm.encode(text);
        if ids.is_empty() {
            return Err(runtime("the text has no tokens"));
        }
        Ok(ids)
    }

    fn run_with_cache(&self, text: &str, wanted: &Dynamic) -> ScriptResult<CacheHandle> {
        let ids = self.tokens_of(text)?;
        let wanted = names(wanted)?;
        let (logits, cache) = self
            .with_model(|model| inspect::run_with_cache(model, &ids, &wanted))
            .map_err(engine_err)?;
        Ok(CacheHandle {
            cache: Arc::new(cache),
            logits: Some(logits),
            tokens: ids.iter().map(|&id| self.token_text(id)).collect(),
        })
    }

    fn attention(&self, text: &str, layer: INT, head: INT) -> ScriptResult<Tensor> {
        let ids = self.tokens_of(text)?;
        let (layer, head) = (index(layer, "layer")?, index(head, "head")?);
        self.with_model(|model| inspect::attention_head(model, &ids, layer, head))
            .map_err(engine_err)
    }

    fn logit_lens(&self, text: &str, opts: &Map) -> ScriptResult<LensHandle> {
        self.logit_lens_of(self.tokens_of(text)?, opts)
    }

    /// The logit lens over token ids (a trace's context, exactly as the
    /// model read it).
    fn logit_lens_of(&self, ids: Vec<u32>, opts: &Map) -> ScriptResult<LensHandle> {
        check_keys(opts, &["k", "token", "last"], "logit_lens options")?;
        let vocab = self.lm.tokenizer.vocab_size();
        if ids.is_empty() {
            return Err(runtime("logit_lens: no tokens"));
        }
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(runtime(format!("logit_lens: {bad} is not a token id")));
        }
        let k = opts
            .get("k")
            .map(|v| non_negative(v, "k"))
            .transpose()?
            .unwrap_or(5);
        let target = match opts.get("token") {
            None => None,
            Some(v) => Some(self.single_token(v)?),
        };
        let mut lens = self
            .with_model(|model| inspect::logit_lens(model, &ids, k, target))
            .map_err(engine_err)?;
        if let Some(n) = opts.get("last") {
            lens = lens
                .last(non_negative(n, "last")?.max(1))
                .map_err(engine_err)?;
        }
        Ok(LensHandle {
            lens: Arc::new(lens),
            model: self.clone(),
        })
    }

    /// A token given by id or as text that must encode to one token.
    fn single_token(&self, value: &Dynamic) -> ScriptResult<u32> {
        if let Some(id) = value.clone().try_cast::<INT>() {
            return u32::try_from(id)
                .ok()
                .filter(|&id| (id as usize) < self.lm.tokenizer.vocab_size())
                .ok_or_else(|| runtime(format!("token: {id} is not a token id")));
        }
        let text = string(value, "token")?;
        let ids = self.lm.tokenizer.encode(&text, true, false);
        match ids.as_slice() {
            [id] => Ok(*id),
            _ => Err(runtime(format!(
                "token: {text:?} is {} tokens; give one token (e.g. with its leading space) or its id",
                ids.len()
            ))),
        }
    }

    fn generate_traced(
        &self,
        shared: &Shared,
        prompt: &str,
        opts: &Map,
    ) -> ScriptResult<TraceHandle> {
        let mut opts = opts.clone();
        let cache_names = match opts.remove("cache") {
            Some(v) => names(&v)?,
            None => Vec::new(),
        };
        let top_k = opts
            .get("top_logprobs")
            .map(|v| non_negative(v, "top_logprobs"))
            .transpose()?
            .unwrap_or(5);
        let (ids, options, mut state) = self.prepare(prompt, &opts)?;
        let trace = self
            .with_model(|model| {
                inspect::generate_traced(
                    model,
                    &self.lm.tokenizer,
                    &mut state,
                    &ids,
                    &options,
                    top_k,
                    &cache_names,
                    Some(&shared.cancel),
                    &mut |piece, kind| shared.emit_text(piece, kind),
                )
            })
            .map_err(engine_err)?;
        Ok(TraceHandle {
            trace: Arc::new(trace),
            model: self.clone(),
        })
    }

    /// Run `f` with `hooks` added to this model's active interventions;
    /// they are removed afterwards, also when `f` fails.
    fn with_hooks(
        &self,
        ctx: &NativeCallContext,
        hooks: &Dynamic,
        f: &FnPtr,
    ) -> ScriptResult<Dynamic> {
        let specs: Vec<HookSpec> = if let Some(h) = hooks.clone().try_cast::<HookSpec>() {
            vec![h]
        } else if let Some(list) = hooks.clone().try_cast::<Array>() {
            list.iter()
                .map(|v| {
                    v.clone().try_cast::<HookSpec>().ok_or_else(|| {
                        runtime(format!(
                            "with_hooks: expected hooks made by ablate, patch or steer, got {}",
                            v.type_name()
                        ))
                    })
                })
                .collect::<ScriptResult<_>>()?
        } else {
            return Err(runtime(format!(
                "with_hooks: expected a hook or an array of hooks, got {}",
                hooks.type_name()
            )));
        };
        let built: Vec<Intervention> = specs
            .iter()
            .map(|s| s.build(self))
            .collect::<ScriptResult<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        let before = {
            let mut active = self.hooks.lock().unwrap_or_else(|e| e.into_inner());
            let before = active.len();
            active.extend(built);
            before
        };
        // `|m| ...` gets the model; `|| ...` gets nothing.
        let result = match f.call_within_context::<Dynamic>(ctx, (Dynamic::from(self.clone()),)) {
            Err(e) if matches!(&*e, rhai::EvalAltResult::ErrorFunctionNotFound(sig, _) if sig.starts_with(f.fn_name())) => {
                f.call_within_context::<Dynamic>(ctx, ())
            }
            other => other,
        };
        self.hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .truncate(before);
        result
    }
}

pub fn register(engine: &mut Engine, shared: &Arc<Shared>) {
    engine.register_type_with_name::<CacheHandle>("Cache");
    engine.register_type_with_name::<LensHandle>("LogitLens");
    engine.register_type_with_name::<TraceHandle>("Trace");
    engine.register_type_with_name::<HookSpec>("Hook");
    register_names_and_cache(engine);
    register_attention(engine);
    register_lens(engine);
    register_trace(engine, shared);
    register_hooks(engine);
}

const HOOK_NAMES_DOC: &str =
    "Every hook point of the model, in forward-pass order (T: positions, K: keys seen, H: heads):
embed [T, d]; blocks.N.resid_pre [T, d]; blocks.N.attn.q [T, H, hd] (after RoPE);
blocks.N.attn.k / attn.v [T, KV heads, hd]; blocks.N.attn.pattern [H, T, K] (softmax, causal);
blocks.N.attn.z [T, H, hd] (per-head output before the projection); blocks.N.attn.out [T, d];
blocks.N.resid_mid [T, d]; blocks.N.mlp.hidden [T, d_ff]; blocks.N.mlp.out [T, d];
blocks.N.resid_post [T, d]; final_norm and logits (on the rows whose logits are computed).
m.hook_shapes() gives each name's shape for this model.";

fn register_names_and_cache(engine: &mut Engine) {
    func("hook_names", HOOK_NAMES_DOC).register_into_engine(
        engine,
        |m: &mut ModelHandle| -> Array {
            inspect::hook_names(m.lm.model.info())
                .into_iter()
                .map(|(name, _)| Dynamic::from(name))
                .collect()
        },
    );
    func("hook_shapes", "Each hook point's shape for this model, as #{ name: \"[T, 576]\" } (T: positions, K: keys).")
        .register_into_engine(engine, |m: &mut ModelHandle| -> Map {
            inspect::hook_names(m.lm.model.info())
                .into_iter()
                .map(|(name, shape)| (name.into(), shape.into()))
                .collect()
        });
    func(
        "run_with_cache",
        "One forward pass over the text recording only the named activations (names or globs such as\n\"blocks.*.attn.pattern\"): returns a Cache with c.logits, c.names(), c.get(name), c.tokens.",
    )
    .register_into_engine(engine, |m: &mut ModelHandle, text: &str, wanted: Dynamic| {
        m.run_with_cache(text, &wanted)
    });
    getter(
        "logits",
        "The logits of every position, a tensor [T, vocab] (() for a trace's cache).",
    )
    .register_into_engine(engine, |c: &mut CacheHandle| -> Dynamic {
        c.logits.clone().map_or(Dynamic::UNIT, Dynamic::from)
    });
    func(
        "names",
        "The names of the recorded activations, in forward-pass order.",
    )
    .register_into_engine(engine, |c: &mut CacheHandle| -> Array {
        c.cache.names().into_iter().map(Dynamic::from).collect()
    });
    func(
        "get",
        "The recorded activation called name, a tensor (shapes: :help hook_names).",
    )
    .register_into_engine(engine, |c: &mut CacheHandle, name: &str| {
        c.cache.get(name).cloned().map_err(engine_err)
    });
    getter("tokens", "The tokens the activations belong to, as text.")
        .register_into_engine(engine, |c: &mut CacheHandle| -> Array {
            c.tokens.iter().cloned().map(Dynamic::from).collect()
        });
    for name in ["to_string", "to_debug"] {
        func(name, "What the cache holds.")
            .register_into_engine(engine, |c: &mut CacheHandle| c.describe());
    }
}

fn register_attention(engine: &mut Engine) {
    func(
        "attention",
        "One head's attention probabilities over the text: a tensor [query, key] (rows sum to 1, zero above the diagonal).",
    )
    .register_into_engine(engine, |m: &mut ModelHandle, text: &str, layer: INT, head: INT| {
        m.attention(text, layer, head)
    });
    func(
        "attention_to",
        "How much every layer and head attends from the last token to the token at position key: a tensor [layers, heads].",
    )
    .register_into_engine(engine, |m: &mut ModelHandle, text: &str, key: INT| {
        let ids = m.tokens_of(text)?;
        let key = index(key, "key")?;
        m.with_model(|model| inspect::attention_to(model, &ids, key, ids.len() - 1))
            .map_err(engine_err)
    });
    func(
        "plot_attention",
        "A heatmap of one head's attention over the text, labelled with its tokens.",
    )
    .register_into_engine(
        engine,
        |m: &mut ModelHandle, text: &str, layer: INT, head: INT| {
            let pattern = m.attention(text, layer, head)?;
            let labels: Vec<String> = m
                .tokens_of(text)?
                .iter()
                .map(|&id| m.token_text(id))
                .collect();
            let data = pattern.to_f32_vec().map_err(engine_err)?;
            attention_plot(&data, &labels, layer as usize, head as usize).map_err(engine_err)
        },
    );
}

fn register_lens(engine: &mut Engine) {
    func(
        "logit_lens",
        "Each layer's residual stream read through the final norm and the unembedding:\nper layer and position the top tokens and their probabilities (the last layer is the model's own prediction).",
    )
    .register_into_engine(engine, |m: &mut ModelHandle, text: &str| m.logit_lens(text, &Map::new()));
    func(
        "logit_lens",
        "The logit lens with options #{ k: top tokens kept (5), token: \" Paris\" or an id to follow across layers,\nlast: only the last n positions (a long prompt's grid cut to where the answer forms) }.",
    )
    .register_into_engine(engine, |m: &mut ModelHandle, text: &str, opts: Map| m.logit_lens(text, &opts));
    func(
        "logit_lens",
        "The logit lens over token ids (e.g. a trace's context(i): what the model read before a token), with the same options.",
    )
    .register_into_engine(engine, |m: &mut ModelHandle, ids: Array, opts: Map| {
        let ids = ids
            .iter()
            .map(|v| {
                v.as_int()
                    .ok()
                    .and_then(|i| u32::try_from(i).ok())
                    .ok_or_else(|| runtime("logit_lens: token ids must be integers"))
            })
            .collect::<ScriptResult<Vec<u32>>>()?;
        m.logit_lens_of(ids, &opts)
    });
    getter(
        "probs",
        "A tensor [layers, positions]: the followed token's probability, or the top token's.",
    )
    .register_into_engine(engine, |l: &mut LensHandle| l.lens.probs.clone());
    getter("tokens", "The input tokens, as text.")
        .register_into_engine(engine, |l: &mut LensHandle| -> Array {
            l.labels().into_iter().map(Dynamic::from).collect()
        });
    func(
        "top",
        "The top tokens at a layer and position: an array of #{ id, token, prob }.",
    )
    .register_into_engine(
        engine,
        |l: &mut LensHandle, layer: INT, pos: INT| -> ScriptResult<Array> {
            let (layer, pos) = (index(layer, "layer")?, index(pos, "position")?);
            let row = l.lens.top.get(layer).ok_or_else(|| {
                runtime(format!(
                    "layer {layer} is out of range: the lens has {} layers",
                    l.lens.layers
                ))
            })?;
            let top = row.get(pos).ok_or_else(|| {
                runtime(format!(
                    "position {pos} is out of range: the text has {} tokens",
                    row.len()
                ))
            })?;
            Ok(top
                .iter()
                .map(|c| {
                    let mut map = Map::new();
                    map.insert("id".into(), (c.id as INT).into());
                    map.insert("token".into(), l.model.token_text(c.id).into());
                    map.insert("prob".into(), (c.prob as FLOAT).into());
                    Dynamic::from(map)
                })
                .collect())
        },
    );
    func("plot", "The logit-lens grid: layers × positions, each cell the top token, coloured by probability.")
        .register_into_engine(engine, |l: &mut LensHandle| -> ScriptResult<Plot> {
            lens_plot(&l.lens, &l.labels(), |id| l.model.token_text(id)).map_err(engine_err)
        });
    for name in ["to_string", "to_debug"] {
        func(name, "The lens as a text grid.")
            .register_into_engine(engine, |l: &mut LensHandle| l.describe());
    }
}

fn register_trace(engine: &mut Engine, shared: &Arc<Shared>) {
    let s = shared.clone();
    func(
        "generate_traced",
        "Generate (streaming) and return a Trace: per token its log-probability, entropy, top alternatives\nand whether it was reasoning or answer.",
    )
    .register_into_engine(engine, move |m: &mut ModelHandle, prompt: &str| {
        m.generate_traced(&s, prompt, &Map::new())
    });
    let s = shared.clone();
    func(
        "generate_traced",
        "Traced generation with generate's options plus top_logprobs (alternatives kept, 5) and\ncache: [hook names] to record those activations at every step (tr.cache).",
    )
    .register_into_engine(engine, move |m: &mut ModelHandle, prompt: &str, opts: Map| {
        m.generate_traced(&s, prompt, &opts)
    });
    func(
        "context",
        "The token ids the model read before generated token i: the prompt (chat template and all) and the\ntokens generated before it (for the logit lens on that token: m.logit_lens(tr.context(i), ...)).",
    )
    .register_into_engine(engine, |t: &mut TraceHandle, i: INT| -> ScriptResult<Array> {
        let generated = &t.trace.generation.tokens;
        let i = index(i, "token")?;
        if i >= generated.len() {
            return Err(runtime(format!(
                "token {i} is out of range: {} were generated",
                generated.len()
            )));
        }
        Ok(t.trace.prompt.iter().chain(&generated[..i]).map(|&id| Dynamic::from(id as INT)).collect())
    });
    getter("text", "All generated text (reasoning and answer).")
        .register_into_engine(engine, |t: &mut TraceHandle| {
            t.trace.generation.text.clone()
        });
    getter("reasoning", "The reasoning (inside <think>).")
        .register_into_engine(engine, |t: &mut TraceHandle| {
            t.trace.generation.reasoning.clone()
        });
    getter(
        "answer",
        "The answer (after </think>, or everything without reasoning).",
    )
    .register_into_engine(engine, |t: &mut TraceHandle| {
        t.trace.generation.answer.clone()
    });
    getter(
        "tokens",
        "Per generated token: #{ id, token, logprob, prob, entropy, section: \"reasoning\"|\"answer\", forced, top: [#{ token, id, prob }] }.",
    )
    .register_into_engine(engine, |t: &mut TraceHandle| t.tokens());
    getter(
        "summary",
        "Per section: tokens, mean_logprob, mean_entropy, most_uncertain (token index or ()).",
    )
    .register_into_engine(engine, |t: &mut TraceHandle| -> Map {
        let s = t.trace.summary();
        let section = |s: &inspect::SectionStats| -> Dynamic {
            let mut m = Map::new();
            m.insert("tokens".into(), (s.tokens as INT).into());
            m.insert("mean_logprob".into(), (s.mean_logprob as FLOAT).into());
            m.insert("mean_entropy".into(), (s.mean_entropy as FLOAT).into());
            m.insert(
                "most_uncertain".into(),
                s.most_uncertain
                    .map_or(Dynamic::UNIT, |i| (i as INT).into()),
            );
            m.into()
        };
        let mut m = Map::new();
        m.insert("reasoning".into(), section(&s.reasoning));
        m.insert("answer".into(), section(&s.answer));
        m
    });
    getter(
        "cache",
        "Activations recorded at every step (when generate_traced was given cache: [...]), or ().",
    )
    .register_into_engine(engine, |t: &mut TraceHandle| -> Dynamic {
        match &t.trace.cache {
            Some(c) => {
                let g = &t.trace.generation;
                let fed = g.tokens.len() - usize::from(g.unfed.is_some());
                let tokens = t.trace.prompt.iter().chain(&g.tokens[..fed]);
                Dynamic::from(CacheHandle {
                    cache: Arc::new(c.clone()),
                    logits: None,
                    tokens: tokens.map(|&id| t.model.token_text(id)).collect(),
                })
            }
            None => Dynamic::UNIT,
        }
    });
    func(
        "plot",
        "Probability and entropy of every generated token, the reasoning shaded.",
    )
    .register_into_engine(engine, |t: &mut TraceHandle| {
        trace_plot(&t.trace).map_err(engine_err)
    });
    for name in ["to_string", "to_debug"] {
        func(name, "A summary of the trace.")
            .register_into_engine(engine, |t: &mut TraceHandle| t.describe());
    }
}

fn register_hooks(engine: &mut Engine) {
    func(
        "ablate",
        "A hook that zeroes the named activation (use with m.with_hooks).",
    )
    .register_into_engine(engine, |name: &str| spec(name, HookEdit::Zero));
    func(
        "ablate",
        "A hook that ablates part of an activation: #{ head, neuron, positions: [...], mode: \"zero\" | \"mean\",\nfrom: a Cache to take the mean from (default: this pass's positions) }.",
    )
    .register_into_engine(engine, |name: &str, opts: Map| {
        check_keys(&opts, &["head", "neuron", "positions", "mode", "from"], "ablate options")?;
        let mode = opts.get("mode").map(|v| string(v, "mode")).transpose()?;
        let from = match opts.get("from") {
            None => None,
            Some(v) => {
                let cache = v
                    .clone()
                    .try_cast::<CacheHandle>()
                    .ok_or_else(|| runtime("from: expected a Cache (from m.run_with_cache)"))?;
                Some(recordings(&cache, name)?)
            }
        };
        let edit = match mode.as_deref() {
            None | Some("zero") if from.is_none() => HookEdit::Zero,
            None | Some("mean") => HookEdit::Mean { from },
            Some("zero") => return Err(runtime("ablate: from is for mode \"mean\"")),
            Some(other) => return Err(runtime(format!("mode: {other:?} is not \"zero\" or \"mean\""))),
        };
        spec(name, edit).select(&opts)
    });
    func(
        "patch",
        "A hook that copies the named activation from another run's Cache, position by position (activation patching).",
    )
    .register_into_engine(engine, |name: &str, cache: CacheHandle| {
        Ok::<_, Box<rhai::EvalAltResult>>(spec(name, HookEdit::Patch { from: recordings(&cache, name)? }))
    });
    func(
        "patch",
        "Activation patching of part of the activation: #{ head, neuron, positions: [...] }.",
    )
    .register_into_engine(engine, |name: &str, cache: CacheHandle, opts: Map| {
        check_keys(&opts, &["head", "neuron", "positions"], "patch options")?;
        spec(
            name,
            HookEdit::Patch {
                from: recordings(&cache, name)?,
            },
        )
        .select(&opts)
    });
    func("steer", "A hook that adds scale × vector (a tensor or array) to the named activation at every position.")
        .register_into_engine(engine, |name: &str, v: Dynamic, scale: FLOAT| {
            Ok::<_, Box<rhai::EvalAltResult>>(spec(
                name,
                HookEdit::Steer { vector: vector(&v)?, scale: scale as f32 },
            ))
        });
    func(
        "steer",
        "Steering with options #{ scale (1.0), positions: [...], head, neuron }.",
    )
    .register_into_engine(engine, |name: &str, v: Dynamic, opts: Map| {
        check_keys(
            &opts,
            &["scale", "positions", "head", "neuron"],
            "steer options",
        )?;
        let scale = opts
            .get("scale")
            .map(|s| number(s, "scale"))
            .transpose()?
            .unwrap_or(1.0);
        spec(
            name,
            HookEdit::Steer {
                vector: vector(&v)?,
                scale: scale as f32,
            },
        )
        .select(&opts)
    });
    func(
        "with_hooks",
        "Run a closure with hooks (one or an array, from ablate / patch / steer) applied to every forward pass\nof this model — generate, logits, top_k, chat turns, run_with_cache, logit_lens — and removed afterwards.\nThe closure gets the model: m.with_hooks([ablate(\"blocks.3.attn.z\", #{ head: 2 })], |m| m.top_k(\"The capital of France is\", 3))\n(also with_hooks(m, hooks, || ...); hooks compose when nested)",
    )
        // The model is taken by value: the closure usually captures `m` too,
    // and a `&mut` receiver would lock it for the call.
    .register_into_engine(engine, |ctx: NativeCallContext, m: ModelHandle, hooks: Dynamic, f: FnPtr| {
        m.with_hooks(&ctx, &hooks, &f)
    });
    for name in ["to_string", "to_debug"] {
        func(name, "What the hook does.")
            .register_into_engine(engine, |h: &mut HookSpec| h.describe());
    }
}
