//! GRPO from scripts: `let rl = rlvr(#{ checkpoint: "warm", task: "copy" })`
//! on a model trained here, or `rlvr(#{ model: "smollm2", task: "addition",
//! think: true })` on a pretrained chat model (LoRA by default), then `rl.exact_match(200)`, `rl.live(100, 10)` (the reward chart redrawn
//! in place), `rl.rewards`, `rl.plot()`, `rl.save("tuned")`. A reward
//! written in rhai replaces the task's: `rl.steps(50, |completion, answer| ...)`.

use super::convert::{non_negative, runtime, string, ScriptResult};
use super::options::apply_map;
use super::register::{func, getter};
use super::Shared;
use crate::finetune::reinforce::{ChatAddition, Reinforcer};
use crate::finetune::rl::ChatGrpo;
use crate::train::grpo::{GrpoConfig, GrpoRecord, GrpoRun};
use crate::train::lora::LoraConfig;
use crate::train::plot;
use crate::train::tasks::Task;
use rhai::{Array, Dynamic, Engine, FnPtr, Map, NativeCallContext};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// A GRPO run shared between script values: a model trained here on a toy
/// task, or a pretrained chat model on additions.
#[derive(Clone)]
pub struct RlvrRun(Arc<Mutex<Box<dyn Reinforcer>>>);

impl RlvrRun {
    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn Reinforcer>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What `rlvr(#{...})` takes beside the engine's GRPO options.
const CALL_KEYS: [&str; 9] = [
    "checkpoint",
    "model",
    "task",
    "seed",
    "digits",
    "lora_rank",
    "lora_alpha",
    "think",
    "think_budget",
];

/// `rlvr(#{...})`: the engine's GRPO options (`GrpoConfig`, the names
/// `monologue rlvr` takes too), plus what to train: a supervised run's
/// `checkpoint` and its toy `task`, or a pretrained chat `model` on
/// `task: "addition"` (with `digits`, `lora_rank`, `lora_alpha`, `think`).
fn new_run(opts: &Map) -> ScriptResult<RlvrRun> {
    let config = apply_map(&GrpoConfig::default(), opts, &CALL_KEYS, "rlvr")?;
    let get = |k: &str| opts.get(k);
    let seed = get("seed").map_or(Ok(1337), |v| non_negative(v, "seed"))? as u64;
    let task = get("task").map(|t| string(t, "task")).transpose()?;
    let run: Box<dyn Reinforcer> = match (get("checkpoint"), get("model")) {
        (Some(_), Some(_)) => return Err(runtime("rlvr: give `checkpoint` or `model`, not both")),
        (None, None) => {
            return Err(runtime(
                "rlvr: give `checkpoint` (a supervised run's folder) or `model` (a pretrained chat model)",
            ))
        }
        (Some(dir), None) => {
            let dir = string(dir, "checkpoint")?;
            let task: Task = task
                .unwrap_or_else(|| "copy".into())
                .parse()
                .map_err(|e| runtime(format!("rlvr: {e}")))?;
            let run = GrpoRun::from_checkpoint(std::path::Path::new(&dir), task, config, seed)
                .map_err(|e| runtime(format!("rlvr: {dir}: {e}")))?;
            Box::new(run)
        }
        (None, Some(model)) => Box::new(chat_run(&string(model, "model")?, task, config, seed, opts)?),
    };
    Ok(RlvrRun(Arc::new(Mutex::new(run))))
}

/// GRPO on a pretrained chat model: LoRA adapters of `lora_rank` (16;
/// 0 trains every weight), or an adapter given as the model goes on
/// training as it is.
fn chat_run(
    model: &str,
    task: Option<String>,
    config: GrpoConfig,
    seed: u64,
    opts: &Map,
) -> ScriptResult<ChatAddition> {
    if let Some(task) = task.filter(|t| t != "addition") {
        return Err(runtime(format!(
            "rlvr: a chat model practises task \"addition\", not {task:?}"
        )));
    }
    let get = |k: &str| opts.get(k);
    let digits = get("digits").map_or(Ok(3), |v| non_negative(v, "digits"))?;
    if !(1..=18).contains(&digits) {
        return Err(runtime(format!(
            "rlvr: digits must be 1 to 18, not {digits}"
        )));
    }
    let rank = get("lora_rank").map_or(Ok(16), |v| non_negative(v, "lora_rank"))?;
    let alpha = match get("lora_alpha") {
        Some(v) => v
            .as_float()
            .or_else(|_| v.as_int().map(|i| i as f64))
            .map_err(|_| runtime("rlvr: lora_alpha must be a number"))? as f32,
        None => 32.0,
    };
    let think = match get("think") {
        Some(v) => v
            .as_bool()
            .map_err(|_| runtime("rlvr: think must be true or false"))?,
        None => false,
    };
    let lora = (rank > 0).then(|| LoraConfig {
        rank,
        alpha,
        seed,
        ..LoraConfig::default()
    });
    let fail = |e: crate::error::Error| runtime(format!("rlvr: {model}: {e}"));
    let (policy, text) = crate::finetune::open(model, lora).map_err(fail)?;
    let mut grpo = ChatGrpo::new(policy, text, config, seed).map_err(fail)?;
    grpo.think = think;
    grpo.think_budget = match get("think_budget") {
        Some(v) if think => Some(non_negative(v, "think_budget")?.max(1)),
        Some(_) => return Err(runtime("rlvr: think_budget needs think: true")),
        None => None,
    };
    Ok(ChatAddition::new(grpo, digits, seed))
}

fn record_map(r: &GrpoRecord) -> Map {
    let mut m = Map::new();
    m.insert("step".into(), Dynamic::from(r.step as i64));
    m.insert("reward".into(), Dynamic::from(r.reward));
    m.insert("frac_zero_std".into(), Dynamic::from(r.frac_zero_std));
    m.insert("clip_ratio".into(), Dynamic::from(r.clip_ratio));
    m.insert("kl".into(), Dynamic::from(r.kl));
    m.insert("completion_len".into(), Dynamic::from(r.completion_len));
    m
}

/// A script's reward function: `f(completion, answer)` → a number.
type ScriptReward<'a> = Option<(&'a NativeCallContext<'a>, &'a FnPtr)>;

/// One step, rewarded by the task or by the script's function.
fn one_step(r: &mut dyn Reinforcer, reward: ScriptReward) -> ScriptResult<GrpoRecord> {
    let result = match reward {
        None => r.step(None),
        Some((ctx, f)) => r.step(Some(&mut |completion: &str, answer: &str| {
            let value: Dynamic = f
                .call_within_context(ctx, (completion.to_string(), answer.to_string()))
                .map_err(|e| crate::error::Error::Invalid(format!("the reward function: {e}")))?;
            value
                .as_float()
                .or_else(|_| value.as_int().map(|i| i as f64))
                .map_err(|t| {
                    crate::error::Error::Invalid(format!(
                        "the reward function returned {t}, not a number"
                    ))
                })
        })),
    };
    result.map_err(|e| runtime(format!("rlvr step: {e}")))
}

/// Up to `n` steps, redrawing the reward chart every `every` steps when
/// `every` is given; an interrupt stops after the current step.
fn steps(
    shared: &Shared,
    run: &RlvrRun,
    n: usize,
    every: Option<usize>,
    reward: ScriptReward,
) -> ScriptResult<Dynamic> {
    let id = format!("monologue-rlvr-{:p}", Arc::as_ptr(&run.0));
    let mut last = Dynamic::UNIT;
    let mut shown = false;
    for i in 0..n {
        if shared.cancel.load(Ordering::Relaxed) {
            break;
        }
        let mut r = run.lock();
        let record = one_step(r.as_mut(), reward)?;
        last = Dynamic::from(record_map(&record));
        if every.is_some_and(|e| (i + 1) % e.max(1) == 0 || i + 1 == n) {
            let chart = plot::reward_curve(r.history()).map_err(|e| runtime(e.to_string()))?;
            drop(r);
            shared.emit_display_as(&Dynamic::from(chart), &id, shown);
            shown = true;
        }
    }
    Ok(last)
}

pub fn register(engine: &mut Engine, shared: &Arc<Shared>) {
    engine.register_type_with_name::<RlvrRun>("RlvrRun");
    func(
        "rlvr",
        "GRPO with verifiable rewards on a supervised checkpoint: #{ checkpoint, task: \"copy\" | \"reverse\" |\n\"arithmetic\", group, prompts, lr, clip, beta, temperature, max_new, updates, max_len, seed },\nor on a pretrained chat model: #{ model, task: \"addition\", digits, lora_rank (16; 0: every weight),\nlora_alpha, think, think_budget\n(held-out replies' reasoning closed after that many tokens), ... }.",
    )
    .register_into_engine(engine, |opts: Map| new_run(&opts));
    func(
        "step",
        "One GRPO step; returns #{ step, reward, frac_zero_std, clip_ratio, kl, completion_len }.",
    )
    .register_into_engine(engine, |run: &mut RlvrRun| {
        one_step(run.lock().as_mut(), None).map(|r| record_map(&r))
    });
    func(
        "step",
        "One GRPO step rewarded by f(completion, answer) (a number; the task's answer is given).",
    )
    .register_into_engine(
        engine,
        |ctx: NativeCallContext, run: &mut RlvrRun, f: FnPtr| {
            one_step(run.lock().as_mut(), Some((&ctx, &f))).map(|r| record_map(&r))
        },
    );
    let s = shared.clone();
    func("steps", "Run n GRPO steps; returns the last step's record.")
        .register_into_engine(engine, move |run: &mut RlvrRun, n: i64| {
            steps(&s, run, n.max(0) as usize, None, None)
        });
    let s = shared.clone();
    func(
        "steps",
        "Run n GRPO steps rewarded by f(completion, answer).",
    )
    .register_into_engine(
        engine,
        move |ctx: NativeCallContext, run: &mut RlvrRun, n: i64, f: FnPtr| {
            steps(&s, run, n.max(0) as usize, None, Some((&ctx, &f)))
        },
    );
    let s = shared.clone();
    func(
        "live",
        "Run n GRPO steps with the reward chart redrawn in place every `every` steps.",
    )
    .register_into_engine(engine, move |run: &mut RlvrRun, n: i64, every: i64| {
        steps(
            &s,
            run,
            n.max(0) as usize,
            Some(every.max(1) as usize),
            None,
        )
    });
    let s = shared.clone();
    func(
        "live",
        "`live(n, every)` rewarded by f(completion, answer).",
    )
    .register_into_engine(
        engine,
        move |ctx: NativeCallContext, run: &mut RlvrRun, n: i64, every: i64, f: FnPtr| {
            let every = Some(every.max(1) as usize);
            steps(&s, run, n.max(0) as usize, every, Some((&ctx, &f)))
        },
    );
    getter("rewards", "Mean reward of every step so far.").register_into_engine(
        engine,
        |run: &mut RlvrRun| -> Array {
            run.lock()
                .history()
                .iter()
                .map(|r| Dynamic::from(r.reward))
                .collect()
        },
    );
    func(
        "exact_match",
        "The share of n held-out problems (the same ones at every call) answered exactly, greedily.",
    )
    .register_into_engine(engine, |run: &mut RlvrRun, n: i64| {
        run.lock()
            .exact_match(n.max(1) as usize)
            .map_err(|e| runtime(format!("exact_match: {e}")))
    });
    func("plot", "The mean reward per step.").register_into_engine(engine, |run: &mut RlvrRun| {
        plot::reward_curve(run.lock().history()).map_err(|e| runtime(e.to_string()))
    });
    func(
        "save",
        "Save the tuned model as a checkpoint; load_model(folder) then generates from it.",
    )
    .register_into_engine(engine, |run: &mut RlvrRun, dir: &str| {
        run.lock()
            .save(std::path::Path::new(dir))
            .map(|p| p.display().to_string())
            .map_err(|e| runtime(format!("save: {e}")))
    });
}
