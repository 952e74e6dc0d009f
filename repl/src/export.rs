//! `monologue export --model DIR --out FILE.gguf`: a trained GPT (a run's
//! folder, one checkpoint, or any Hugging Face GPT-2 folder) as one GGUF
//! file that llama.cpp runs.

use monologue::train::export::export_gguf;
use monologue::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// A training run's folder (its newest checkpoint), one checkpoint, or a Hugging Face GPT-2 folder.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The GGUF file to write (replaced atomically if it exists).
    #[arg(long, value_name = "FILE.gguf")]
    out: PathBuf,
}

pub fn run(args: &ExportArgs) -> Result<()> {
    export_gguf(&args.model, &args.out)?;
    let bytes = std::fs::metadata(&args.out).map_or(0, |m| m.len());
    eprintln!(
        "wrote {} ({:.1} MB; run it: monologue generate --model {} --prompt ...)",
        args.out.display(),
        bytes as f64 / 1e6,
        args.out.display()
    );
    Ok(())
}
