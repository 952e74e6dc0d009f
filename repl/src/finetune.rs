//! `monologue finetune`: fine-tune a pretrained model (GGUF or a Hugging
//! Face folder) on conversations in JSON lines, with a progress bar (or
//! one JSON object per step), periodic checkpoints in the model's own
//! format, and a loss chart beside them. Ctrl-C stops after the current
//! step and saves.

use crate::train::drive;
use clap::Args;
use monologue::finetune::sft;
use monologue::finetune::{arithmetic, checkpoint, FineTune, FinetuneOptions};
use std::path::PathBuf;

#[derive(Args)]
pub struct FinetuneArgs {
    /// Conversations to learn, one `{"messages": [{"role": …, "content": …}, …]}` per line.
    #[arg(long, value_name = "FILE.jsonl", required_unless_present = "task")]
    pub data: Option<PathBuf>,
    /// Learn generated conversations instead: `addition` (multi-digit sums worked out in a
    /// <think> section, column by column with carries, then the answer).
    #[arg(long, conflicts_with = "data", value_parser = ["addition"])]
    pub task: Option<String>,
    /// --task: how many conversations.
    #[arg(long, default_value_t = 2000)]
    pub task_examples: usize,
    /// --task: digits of each number.
    #[arg(long, default_value_t = 3)]
    pub digits: usize,
    /// Where checkpoints go (a run's folder; `--model DIR` loads its newest).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the run saved in DIR (its settings; give the same data).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Save a checkpoint every N steps (and always at the end).
    #[arg(long, default_value_t = 200)]
    pub save_every: usize,
    /// One JSON object per step on stdout instead of a progress bar.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub threads: monologue::backend::cpu::pool::ThreadOptions,
    /// The engine's fine-tuning options, with the engine's names and defaults.
    #[command(flatten)]
    pub finetune: FinetuneOptions,
}

type Error = Box<dyn std::error::Error>;

pub fn run(args: &FinetuneArgs) -> Result<(), Error> {
    args.threads.apply()?;
    let conversations = match (&args.data, &args.task) {
        (Some(path), _) => sft::read_jsonl(path)?,
        (None, Some(_)) => {
            let mut rng = monologue::generate::Rng::new(args.finetune.seed ^ 0x7ace);
            arithmetic::traces(&mut rng, args.task_examples, args.digits)
        }
        (None, None) => return Err("give --data FILE.jsonl or --task addition".into()),
    };
    let mut ft = match &args.resume {
        Some(dir) => {
            let ft = checkpoint::resume(dir, &conversations)?;
            eprintln!("resuming {} at step {}", dir.display(), ft.step);
            ft
        }
        None => FineTune::from_options(&args.finetune, &conversations)?,
    };
    describe(&ft);
    let resumed_here = args.resume.as_deref() == Some(args.out.as_path());
    let total = ft.config.steps;
    let saved = drive(
        &mut ft,
        total,
        &args.out,
        args.save_every,
        args.json,
        resumed_here,
    )?;
    eprintln!(
        "saved {} (chat with it: monologue --model {})",
        saved.display(),
        args.out.display()
    );
    if ft.model.lora.is_some() {
        eprintln!(
            "merge the adapters into a full model: monologue export --model {} --out merged.gguf (or a folder, for a Hugging Face base)",
            args.out.display()
        );
    }
    Ok(())
}

fn describe(ft: &FineTune) {
    let params: usize = ft.model.graph.params.iter().map(|p| p.value.len()).sum();
    let (train, val) = (&ft.data.train_stats, &ft.data.validation_stats);
    let info = ft.model.info();
    let trained: usize = ft
        .model
        .graph
        .params
        .iter()
        .filter(|p| p.trainable)
        .map(|p| p.value.len())
        .sum();
    match &ft.model.lora {
        Some(l) => eprintln!(
            "{} ({}): LoRA rank {} on {} projections, {:.2} M parameters trained; the base stays frozen as loaded",
            ft.base,
            info.architecture,
            l.rank,
            ft.model.adapters.len(),
            trained as f64 / 1e6
        ),
        None => eprintln!(
            "{} ({}): {:.1} M parameters, all trained in f32",
            ft.base,
            info.architecture,
            params as f64 / 1e6
        ),
    }
    eprintln!(
        "{} conversations ({} held out) → {} rows of {} tokens, {:.0}% filled; {} tokens scored; {} cut to fit, {} dropped; {} steps",
        train.documents + val.documents,
        val.documents,
        train.rows,
        ft.config.seq,
        100.0 * train.fill(ft.config.seq),
        train.scored,
        train.truncated,
        train.dropped,
        ft.config.steps
    );
}
