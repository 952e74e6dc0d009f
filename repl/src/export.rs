//! `monologue export --model DIR --out PATH`: a trained GPT (a run's
//! folder, one checkpoint, or any Hugging Face GPT-2 folder) as one GGUF
//! file that llama.cpp runs; or a LoRA fine-tune (a run's folder, one
//! checkpoint, or a `peft` folder) merged into its base, written in the
//! base's format.

use monologue::finetune::merge::write_merged;
use monologue::train::export::export_gguf;
use monologue::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// A GPT training run's folder (its newest checkpoint), one checkpoint, or a Hugging Face
    /// GPT-2 folder; or a LoRA fine-tune's run, checkpoint or peft folder.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// What to write (replaced if it exists): a GGUF file; for a LoRA fine-tune of a Hugging
    /// Face model, a folder.
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
}

pub fn run(args: &ExportArgs) -> Result<()> {
    let resolved = monologue::io::checkpoint_folder(&args.model)?;
    let what = if monologue::model::adapter::is_adapter(&resolved) {
        write_merged(&resolved, &args.out)?;
        "the base with the adapters merged"
    } else {
        export_gguf(&args.model, &args.out)?;
        "the GPT"
    };
    let bytes = std::fs::metadata(&args.out).map_or(0, |m| m.len());
    eprintln!(
        "wrote {what} to {} ({:.1} MB; run it: monologue generate --model {} --prompt ...)",
        args.out.display(),
        bytes as f64 / 1e6,
        args.out.display()
    );
    Ok(())
}
