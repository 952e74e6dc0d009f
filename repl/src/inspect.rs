//! `monologue inspect MODEL [--json]`: describe a model file's metadata and
//! tensors, as a table for people or as JSON for programs.

use monologue::io::{inspect_json, inspect_text, ModelFile};
use monologue::{Error, Result};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A .gguf or .safetensors file, a model.safetensors.index.json, or a
    /// directory holding a safetensors checkpoint.
    model: PathBuf,
    /// Print JSON with every metadata value in full, instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let file = ModelFile::open(&args.model)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &inspect_json(&file))
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        out.write_all(inspect_text(&file).as_bytes())
    };
    match written.and_then(|()| out.flush()) {
        // `monologue inspect m.gguf | head` closing the pipe early is fine.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| Error::io("standard output", e)),
    }
}
