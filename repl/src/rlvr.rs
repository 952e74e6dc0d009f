//! `monologue rlvr`: reinforcement learning with verifiable rewards (GRPO)
//! on a supervised checkpoint, with a progress bar (or one JSON object per
//! step), the exact-match rate on held-out problems before and after, a
//! reward chart, and the tuned model saved as a checkpoint. Ctrl-C stops
//! after the current step and saves.

use clap::Args;
use monologue::generate::Rng;
use monologue::train::grpo::{GrpoConfig, GrpoRecord, GrpoRun};
use monologue::train::tasks::{Problem, Task};
use monologue::train::{checkpoint, plot};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Args)]
pub struct RlvrArgs {
    /// A supervised run's folder (or one checkpoint) warmed up on the task's format
    /// (`monologue train --task ...`).
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// copy (`abc:` → `abc`), reverse (`abc>` → `cba`) or arithmetic (`3+5=` → `8`).
    #[arg(long, default_value = "copy")]
    pub task: String,
    /// GRPO steps.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// Where the tuned model's checkpoints go.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// One JSON object per step on stdout instead of a progress bar.
    #[arg(long)]
    pub json: bool,
    /// The engine's GRPO options, with the engine's names and defaults.
    #[command(flatten)]
    pub grpo: GrpoConfig,
    /// Held-out problems scored (exact match, greedy) before and after.
    #[arg(long, default_value_t = 200)]
    pub eval: usize,
    #[arg(long, default_value_t = 1337)]
    pub seed: u64,
    #[command(flatten)]
    pub threads: monologue::backend::cpu::pool::ThreadOptions,
}

type Error = Box<dyn std::error::Error>;

pub fn run(args: &RlvrArgs) -> Result<(), Error> {
    args.threads.apply()?;
    let task: Task = args.task.parse()?;
    let mut grpo = GrpoRun::from_checkpoint(&args.checkpoint, task, args.grpo.clone(), args.seed)
        .map_err(|e| format!("--checkpoint {}: {e}", args.checkpoint.display()))?;
    // Problems from their own stream: not the ones GRPO samples.
    let mut eval_rng = Rng::new(args.seed ^ 0x0e7a1);
    let held_out: Vec<Problem> = (0..args.eval)
        .map(|_| task.problem(&mut eval_rng, args.grpo.max_len))
        .collect();
    let before = grpo.exact_match(&held_out)?;
    eprintln!(
        "{}: exact match {:.1}% on {} held-out {} problems before GRPO",
        grpo.policy.model.architecture().describe(),
        100.0 * before,
        held_out.len(),
        args.task
    );
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let bar = (!args.json).then(|| crate::train::progress_bar(0, args.steps));
    while grpo.step < args.steps && !stop.load(Ordering::SeqCst) {
        let record = grpo.step()?;
        report(&record, bar.as_ref(), args.json);
    }
    if let Some(bar) = &bar {
        bar.finish();
    }
    if stop.load(Ordering::SeqCst) {
        eprintln!("interrupted at step {}; saving", grpo.step);
    }
    let after = grpo.exact_match(&held_out)?;
    eprintln!(
        "exact match {:.1}% → {:.1}% after {} GRPO steps",
        100.0 * before,
        100.0 * after,
        grpo.step
    );
    let saved = checkpoint::save(&grpo.policy, &args.out)?;
    if !grpo.history.is_empty() {
        plot::reward_curve(&grpo.history)?.save(args.out.join("reward.svg"))?;
    }
    eprintln!("saved {}", saved.display());
    Ok(())
}

fn report(r: &GrpoRecord, bar: Option<&indicatif::ProgressBar>, json: bool) {
    if json {
        let line = serde_json::json!({
            "step": r.step,
            "reward": r.reward,
            "frac_zero_std": r.frac_zero_std,
            "clip_ratio": r.clip_ratio,
            "kl": r.kl,
        });
        println!("{line}");
    }
    if let Some(bar) = bar {
        bar.set_message(format!(
            "reward {:.3}  tied {:.0}%  clipped {:.1}%  kl {:.4}",
            r.reward,
            100.0 * r.frac_zero_std,
            100.0 * r.clip_ratio,
            r.kl
        ));
        bar.set_position(r.step as u64);
    }
}
