//! `monologue train`: train a model from scratch on a text file, with a
//! progress bar (or one JSON object per step), periodic checkpoints, and a
//! loss chart beside them. Ctrl-C stops after the current step and saves.

use clap::Args;
use monologue::finetune::trainer::Trainer;
use monologue::train::{checkpoint, StepRecord, TrainOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Args)]
pub struct TrainArgs {
    /// A UTF-8 text file to train on.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["text", "resume", "task"])]
    pub data: Option<PathBuf>,
    /// Train on this text instead of a file.
    #[arg(long, conflicts_with = "data")]
    pub text: Option<String>,
    /// Train on lines of a verifiable task instead (copy, reverse or
    /// arithmetic): the warm-up before `monologue rlvr`.
    #[arg(long, conflicts_with_all = ["data", "text"])]
    pub task: Option<String>,
    /// Task lines generated for --task.
    #[arg(long, default_value_t = 20000)]
    pub task_lines: usize,
    /// Longest task string for --task.
    #[arg(long, default_value_t = 5)]
    pub task_len: usize,
    /// Where checkpoints go (a run's folder; `--model DIR` loads its newest).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the run saved in DIR (its settings and tokenizer; give the same data).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Save a checkpoint every N steps (and always at the end).
    #[arg(long, default_value_t = 250)]
    pub save_every: usize,
    /// One JSON object per step on stdout instead of a progress bar.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub threads: monologue::backend::cpu::pool::ThreadOptions,
    /// The engine's training options, with the engine's names and defaults.
    #[command(flatten)]
    pub train: TrainOptions,
}

type Error = Box<dyn std::error::Error>;

pub fn run(args: &TrainArgs) -> Result<(), Error> {
    args.threads.apply()?;
    let text = read_text(args)?;
    let mut run = match &args.resume {
        Some(dir) => {
            let run = checkpoint::resume(dir, &text, args.train.val_fraction)?;
            eprintln!("resuming {} at step {}", dir.display(), run.step);
            run
        }
        None => args.train.start(&text)?,
    };
    let params: usize = run.graph.params.iter().map(|p| p.value.len()).sum();
    eprintln!(
        "{}: {:.2} M parameters; {} training tokens",
        run.model.architecture().describe(),
        params as f64 / 1e6,
        run.data.train.len()
    );
    let resumed_here = args.resume.as_deref() == Some(args.out.as_path());
    // A resumed run may be given more steps than it was started with (its
    // schedule stays at its end: the minimum learning rate).
    let saved = drive(
        &mut run,
        args.train.steps,
        &args.out,
        args.save_every,
        args.json,
        resumed_here,
    )?;
    eprintln!(
        "saved {} (generate from it: monologue generate --model {} --prompt ...)",
        saved.display(),
        args.out.display()
    );
    Ok(())
}

fn read_text(args: &TrainArgs) -> Result<String, Error> {
    if let Some(task) = &args.task {
        let task: monologue::train::tasks::Task = task.parse()?;
        let mut rng = monologue::generate::Rng::new(args.train.seed ^ 0x7a5c);
        return Ok(task.corpus(&mut rng, args.task_lines, args.task_len));
    }
    match (&args.text, &args.data) {
        (Some(text), _) => Ok(text.clone()),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("--data {}: {e}", path.display()).into()),
        (None, None) => Err("give the training text: --data FILE or --text TEXT".into()),
    }
}

pub fn progress_bar(done: usize, total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_position(done as u64);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} steps  {msg}  [{elapsed} < {eta}]",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

pub fn report(r: &StepRecord, bar: Option<&indicatif::ProgressBar>, json: bool) {
    if json {
        let mut line = serde_json::json!({
            "step": r.step,
            "loss": r.loss,
            "lr": r.lr,
            "grad_norm": r.grad_norm,
            "tok_s": r.tok_s,
        });
        if let Some(v) = r.val_loss {
            line["val_loss"] = v.into();
        }
        println!("{line}");
    }
    if let Some(bar) = bar {
        let val = r
            .val_loss
            .map(|v| format!("  val {v:.3}"))
            .unwrap_or_default();
        bar.set_message(format!(
            "loss {:.3}{val}  lr {:.1e}  |g| {:.2}  {:.0} tok/s",
            r.loss, r.lr, r.grad_norm, r.tok_s
        ));
        bar.set_position(r.step as u64);
        if let Some(v) = r.val_loss {
            bar.println(format!(
                "step {:>6}  loss {:.4}  val {v:.4}",
                r.step, r.loss
            ));
        }
    }
}

/// Trains up to step `total` (or a Ctrl-C, which stops after the current
/// step) with a progress bar or one JSON line per step, saving every
/// `save_every` steps and at the end; returns the last checkpoint.
/// `resumed_here`: the run was resumed from `out`, whose newest checkpoint
/// is the current step.
pub fn drive(
    run: &mut dyn Trainer,
    total: usize,
    out: &Path,
    save_every: usize,
    json: bool,
    resumed_here: bool,
) -> Result<PathBuf, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C while saving kills the process as usual.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let bar = (!json).then(|| progress_bar(run.steps_done(), total));
    // The step of the newest checkpoint this run wrote: the final save is
    // skipped when it would repeat it (a second copy would also push the
    // last distinct earlier checkpoint out of the ones kept).
    let mut saved_at = resumed_here.then_some(run.steps_done());
    while run.steps_done() < total && !stop.load(Ordering::SeqCst) {
        let record = run.step()?;
        report(&record, bar.as_ref(), json);
        if save_every > 0 && run.steps_done().is_multiple_of(save_every) {
            save(run, out, bar.as_ref())?;
            saved_at = Some(run.steps_done());
        }
    }
    if let Some(bar) = &bar {
        bar.finish();
    }
    if stop.load(Ordering::SeqCst) {
        eprintln!("interrupted at step {}; saving", run.steps_done());
    }
    match saved_at {
        Some(step) if step == run.steps_done() => Ok(checkpoint::resolve(out)?),
        _ => save(run, out, None),
    }
}

/// Saves a checkpoint and the loss chart beside it.
fn save(
    run: &dyn Trainer,
    out: &Path,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<PathBuf, Error> {
    let dir = run.save(out)?;
    if !run.history().is_empty() {
        monologue::train::plot::loss_curves(run.history())?.save(out.join("loss.svg"))?;
    }
    if let Some(bar) = bar {
        bar.println(format!("saved {}", dir.display()));
    }
    Ok(dir)
}
