//! The `monologue` command: with no subcommand, the interactive REPL.

mod bench;
mod bench_hooks;
mod export;
mod finetune;
mod generate;
mod inspect;
mod logits;
mod prompt;
mod repl;
mod rlvr;
mod run_script;
mod serve_web;
mod tokenize;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "monologue",
    version,
    about = "A Rust LLM engine you can look inside",
    long_about = "A Rust LLM engine you can look inside.\n\nWith no subcommand, `monologue` opens the interactive rhai REPL \
(`monologue --model smollm2` loads the default model first and binds it to `m`).",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    repl: repl::ReplArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run a rhai script file (its arguments are the array `args`).
    Run(run_script::RunArgs),
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
    /// Train a model from scratch on text, saving checkpoints.
    Train(train::TrainArgs),
    /// Fine-tune a pretrained model (GGUF or Hugging Face) on conversations in JSON lines.
    Finetune(finetune::FinetuneArgs),
    /// Reinforcement learning with verifiable rewards (GRPO) on a trained checkpoint.
    Rlvr(rlvr::RlvrArgs),
    /// Write a trained GPT as GGUF for llama.cpp, or a LoRA fine-tune merged into its base.
    Export(export::ExportArgs),
    /// Serve the browser chat (built by web/build.sh) on 127.0.0.1.
    ServeWeb(serve_web::ServeWebArgs),
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
    /// Decode speed with no hooks, with hooks listening to nothing, and while recording.
    Hooks(bench_hooks::HookBenchArgs),
}

fn main() -> ExitCode {
    // Everything runs on a thread with a deep stack: scripts can nest
    // values that rhai walks recursively (see SCRIPT_STACK_BYTES).
    let worker = std::thread::Builder::new()
        .name("monologue".into())
        .stack_size(monologue::script::SCRIPT_STACK_BYTES)
        .spawn(run_command);
    match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        Ok(Err(_)) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: could not start the main thread: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_command() -> ExitCode {
    if let Err(why) = monologue::backend::cpu::simd::from_env() {
        eprintln!("error: {why}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        return report(repl::run(&cli.repl));
    };
    let result: Result<(), Box<dyn std::error::Error>> = match command {
        Command::Run(args) => run_script::run(&args),
        Command::Inspect(args) => inspect::run(&args).map_err(Into::into),
        Command::Generate(args) => generate::run(&args),
        Command::Logits(args) => logits::run(&args),
        Command::Tokenize(args) => tokenize::tokenize(&args),
        Command::TrainTokenizer(args) => tokenize::train_tokenizer(&args),
        Command::Train(args) => train::run(&args),
        Command::Finetune(args) => finetune::run(&args),
        Command::Rlvr(args) => rlvr::run(&args),
        Command::Export(args) => export::run(&args).map_err(Into::into),
        Command::ServeWeb(args) => serve_web::run(&args),
        Command::Bench { what, model } => match what {
            Some(BenchWhat::Kernels { threads, json }) => {
                bench::kernels(threads, json).map_err(Into::into)
            }
            Some(BenchWhat::Tokenizer(args)) => tokenize::bench_tokenizer(&args),
            Some(BenchWhat::Hooks(args)) => bench_hooks::run(&args),
            None => bench::model(&model),
        },
    };
    report(result)
}

fn report(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Messages may quote a file (a key, a template's exception).
            eprintln!("error: {}", monologue::error::printable(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}
