//! `monologue rlvr`: reinforcement learning with verifiable rewards (GRPO)
//! on a supervised checkpoint, with a progress bar (or one JSON object per
//! step), the exact-match rate on held-out problems before and after, a
//! reward chart, and the tuned model saved as a checkpoint. Ctrl-C stops
//! after the current step and saves.

use clap::Args;
use monologue::finetune::reinforce::{ChatAddition, Reinforcer};
use monologue::finetune::{self, rl::ChatGrpo};
use monologue::train::grpo::{GrpoConfig, GrpoRecord, GrpoRun};
use monologue::train::lora::LoraConfig;
use monologue::train::plot;
use monologue::train::tasks::Task;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Args)]
pub struct RlvrArgs {
    /// A supervised run's folder (or one checkpoint) warmed up on the task's format
    /// (`monologue train --task ...`).
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "model",
        conflicts_with = "model"
    )]
    pub checkpoint: Option<PathBuf>,
    /// A pretrained chat model instead (a name, GGUF file, Hugging Face folder, or a fine-tune's
    /// run or adapter): GRPO through its chat template on `--task addition`.
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// copy (`abc:` → `abc`), reverse (`abc>` → `cba`) or arithmetic (`3+5=` → `8`) for
    /// --checkpoint; addition (`What is 478 + 356?`, answered after any reasoning) for --model.
    #[arg(long, default_value = "copy")]
    pub task: String,
    /// --model: digits of each number of an addition.
    #[arg(long, default_value_t = 3)]
    pub digits: usize,
    /// --model: train LoRA adapters of this rank (0: every weight); an adapter given as
    /// --model goes on training as it is.
    #[arg(long, default_value_t = 16)]
    pub lora_rank: usize,
    /// --model: LoRA's alpha.
    #[arg(long, default_value_t = 32.0)]
    pub lora_alpha: f32,
    /// --model: open each reply with <think> (the model reasons first).
    #[arg(long)]
    pub think: bool,
    /// --model with --think: when scoring held-out problems, close the reasoning after this
    /// many tokens (</think> written for the model), which then answers.
    #[arg(long, value_name = "TOKENS", requires = "think")]
    pub think_budget: Option<usize>,
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
    let (mut rl, what): (Box<dyn Reinforcer>, String) = match (&args.model, &args.checkpoint) {
        (Some(model), _) => (
            Box::new(chat_run(args, model)?),
            format!("additions of {}-digit numbers", args.digits),
        ),
        (None, Some(checkpoint)) => {
            let task: Task = args.task.parse()?;
            let run = GrpoRun::from_checkpoint(checkpoint, task, args.grpo.clone(), args.seed)
                .map_err(|e| format!("--checkpoint {}: {e}", checkpoint.display()))?;
            (Box::new(run), format!("{} problems", args.task))
        }
        (None, None) => return Err("give --checkpoint DIR or --model M".into()),
    };
    let before = rl.exact_match(args.eval)?;
    eprintln!(
        "{}: {:.1}% of {} held-out {what} right before GRPO",
        rl.describe(),
        100.0 * before,
        args.eval,
    );
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let bar = (!args.json).then(|| crate::train::progress_bar(0, args.steps));
    let mut done = 0;
    while done < args.steps && !stop.load(Ordering::SeqCst) {
        let record = rl.step(None)?;
        report(&record, bar.as_ref(), args.json);
        done += 1;
    }
    if let Some(bar) = &bar {
        bar.finish();
    }
    if stop.load(Ordering::SeqCst) {
        eprintln!("interrupted after {done} steps; saving");
    }
    // Nothing changed without a step: no need to score again.
    let after = match done {
        0 => before,
        _ => rl.exact_match(args.eval)?,
    };
    eprintln!(
        "exact match accuracy {:.1}% → {:.1}% after {done} GRPO steps",
        100.0 * before,
        100.0 * after,
    );
    let saved = rl.save(&args.out)?;
    if !rl.history().is_empty() {
        plot::reward_curve(rl.history())?.save(args.out.join("reward.svg"))?;
    }
    eprintln!(
        "saved {} (chat with it: monologue --model {})",
        saved.display(),
        args.out.display()
    );
    Ok(())
}

/// GRPO on a pretrained chat model: the addition task through its chat
/// template.
fn chat_run(args: &RlvrArgs, model: &str) -> Result<ChatAddition, Error> {
    if args.task != "addition" {
        return Err(format!("--model trains on --task addition, not {:?}", args.task).into());
    }
    let lora = (args.lora_rank > 0).then(|| LoraConfig {
        rank: args.lora_rank,
        alpha: args.lora_alpha,
        seed: args.seed,
        ..LoraConfig::default()
    });
    let (policy, text) = finetune::open(model, lora)?;
    let mut grpo = ChatGrpo::new(policy, text, args.grpo.clone(), args.seed)?;
    grpo.think = args.think;
    grpo.think_budget = args.think_budget;
    Ok(ChatAddition::new(grpo, args.digits, args.seed))
}

fn report(r: &GrpoRecord, bar: Option<&indicatif::ProgressBar>, json: bool) {
    if json {
        let line = serde_json::json!({
            "step": r.step,
            "reward": r.reward,
            "frac_zero_std": r.frac_zero_std,
            "clip_ratio": r.clip_ratio,
            "kl": r.kl,
            "completion_len": r.completion_len,
        });
        println!("{line}");
    }
    if let Some(bar) = bar {
        bar.set_message(format!(
            "reward {:.3}  tied {:.0}%  clipped {:.1}%  kl {:.4}  length {:.0}",
            r.reward,
            100.0 * r.frac_zero_std,
            100.0 * r.clip_ratio,
            r.kl,
            r.completion_len
        ));
        bar.set_position(r.step as u64);
    }
}
