//! GRPO from scripts: `let rl = rlvr(#{ checkpoint: "warm", task: "copy" })`,
//! then `rl.exact_match(200)`, `rl.live(100, 10)` (the reward chart redrawn
//! in place), `rl.rewards`, `rl.plot()`, `rl.save("tuned")`. A reward
//! written in rhai replaces the task's: `rl.steps(50, |completion, answer| ...)`.

use super::convert::{non_negative, runtime, string, ScriptResult};
use super::options::apply_map;
use super::register::{func, getter};
use super::Shared;
use crate::generate::Rng;
use crate::train::grpo::{GrpoConfig, GrpoRecord, GrpoRun};
use crate::train::tasks::Task;
use crate::train::{checkpoint, plot};
use rhai::{Array, Dynamic, Engine, FnPtr, Map, NativeCallContext};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// A GRPO run shared between script values.
#[derive(Clone)]
pub struct RlvrRun(Arc<Mutex<GrpoRun>>);

impl RlvrRun {
    fn lock(&self) -> std::sync::MutexGuard<'_, GrpoRun> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `rlvr(#{...})`: the engine's GRPO options (`GrpoConfig`, the names
/// `monologue rlvr` takes too), plus the checkpoint, the task and the seed.
fn new_run(opts: &Map) -> ScriptResult<RlvrRun> {
    let config = apply_map(
        &GrpoConfig::default(),
        opts,
        &["checkpoint", "task", "seed"],
        "rlvr",
    )?;
    let get = |k: &str| opts.get(k);
    let dir = get("checkpoint")
        .ok_or_else(|| runtime("rlvr: give `checkpoint` (a supervised run's folder)"))?;
    let dir = string(dir, "checkpoint")?;
    let task: Task = get("task")
        .map_or(Ok("copy".to_string()), |t| string(t, "task"))?
        .parse()
        .map_err(|e| runtime(format!("rlvr: {e}")))?;
    let seed = get("seed").map_or(Ok(1337), |v| non_negative(v, "seed"))? as u64;
    let run = GrpoRun::from_checkpoint(std::path::Path::new(&dir), task, config, seed)
        .map_err(|e| runtime(format!("rlvr: {dir}: {e}")))?;
    Ok(RlvrRun(Arc::new(Mutex::new(run))))
}

fn record_map(r: &GrpoRecord) -> Map {
    let mut m = Map::new();
    m.insert("step".into(), Dynamic::from(r.step as i64));
    m.insert("reward".into(), Dynamic::from(r.reward));
    m.insert("frac_zero_std".into(), Dynamic::from(r.frac_zero_std));
    m.insert("clip_ratio".into(), Dynamic::from(r.clip_ratio));
    m.insert("kl".into(), Dynamic::from(r.kl));
    m
}

/// A script's reward function: `f(completion, answer)` → a number.
type ScriptReward<'a> = Option<(&'a NativeCallContext<'a>, &'a FnPtr)>;

/// One step, rewarded by the task or by the script's function.
fn one_step(r: &mut GrpoRun, reward: ScriptReward) -> ScriptResult<GrpoRecord> {
    let result = match reward {
        None => r.step(),
        Some((ctx, f)) => r.step_with(&mut |completion, answer| {
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
        }),
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
        let record = one_step(&mut r, reward)?;
        last = Dynamic::from(record_map(&record));
        if every.is_some_and(|e| (i + 1) % e.max(1) == 0 || i + 1 == n) {
            let chart = plot::reward_curve(&r.history).map_err(|e| runtime(e.to_string()))?;
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
        "GRPO with verifiable rewards on a supervised checkpoint: #{ checkpoint, task: \"copy\" | \"reverse\" |\n\"arithmetic\", group, prompts, lr, clip, beta, temperature, max_new, updates, max_len, seed }.",
    )
    .register_into_engine(engine, |opts: Map| new_run(&opts));
    func(
        "step",
        "One GRPO step; returns #{ step, reward, frac_zero_std, clip_ratio, kl }.",
    )
    .register_into_engine(engine, |run: &mut RlvrRun| {
        one_step(&mut run.lock(), None).map(|r| record_map(&r))
    });
    func(
        "step",
        "One GRPO step rewarded by f(completion, answer) (a number; the task's answer is given).",
    )
    .register_into_engine(
        engine,
        |ctx: NativeCallContext, run: &mut RlvrRun, f: FnPtr| {
            one_step(&mut run.lock(), Some((&ctx, &f))).map(|r| record_map(&r))
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
                .history
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
        let mut r = run.lock();
        let mut rng = Rng::new(0x0e7a1);
        let max_len = r.config.max_len;
        let problems: Vec<_> = (0..n.max(1))
            .map(|_| r.task.problem(&mut rng, max_len))
            .collect();
        r.exact_match(&problems)
            .map_err(|e| runtime(format!("exact_match: {e}")))
    });
    func("plot", "The mean reward per step.").register_into_engine(engine, |run: &mut RlvrRun| {
        plot::reward_curve(&run.lock().history).map_err(|e| runtime(e.to_string()))
    });
    func(
        "save",
        "Save the tuned model as a checkpoint; load_model(folder) then generates from it.",
    )
    .register_into_engine(engine, |run: &mut RlvrRun, dir: &str| {
        checkpoint::save(&run.lock().policy, std::path::Path::new(dir))
            .map(|p| p.display().to_string())
            .map_err(|e| runtime(format!("save: {e}")))
    });
}
