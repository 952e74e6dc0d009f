//! The `monologue` command.

mod bench;
mod inspect;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "monologue",
    version,
    about = "A Rust LLM engine you can look inside"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a model file: its metadata and its tensors.
    Inspect(inspect::Args),
    /// Measure kernel speeds against this machine's limits.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Dense GEMM and quantized matrix × vector at real model shapes.
    Kernels {
        /// Most threads to use (benchmarks run with 1 and with this many).
        #[arg(long)]
        threads: Option<usize>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Inspect(args) => inspect::run(&args).map_err(Into::into),
        Command::Bench {
            what: BenchWhat::Kernels { threads, json },
        } => bench::kernels(threads, json).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
