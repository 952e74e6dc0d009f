//! The `monologue` command.

mod bench;
mod generate;
mod inspect;
mod logits;
mod prompt;
mod tokenize;

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
    /// Generate text from a prompt, streaming it.
    Generate(generate::GenerateArgs),
    /// Print the logits a model gives a prompt.
    Logits(logits::LogitsArgs),
    /// Print the token ids of a text.
    Tokenize(tokenize::TokenizeArgs),
    /// Learn a byte-level BPE tokenizer from text files.
    TrainTokenizer(tokenize::TrainTokenizerArgs),
    /// Measure speed: a model's prefill and decode (default), kernels, or the tokenizer.
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        what: Option<BenchWhat>,
        #[command(flatten)]
        model: bench::ModelBenchArgs,
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
    /// Tokenizer encode throughput on a text file.
    Tokenizer(tokenize::BenchTokenizerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Inspect(args) => inspect::run(&args).map_err(Into::into),
        Command::Generate(args) => generate::run(&args),
        Command::Logits(args) => logits::run(&args),
        Command::Tokenize(args) => tokenize::tokenize(&args),
        Command::TrainTokenizer(args) => tokenize::train_tokenizer(&args),
        Command::Bench { what, model } => match what {
            Some(BenchWhat::Kernels { threads, json }) => {
                bench::kernels(threads, json).map_err(Into::into)
            }
            Some(BenchWhat::Tokenizer(args)) => tokenize::bench_tokenizer(&args),
            None => bench::model(&model),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
