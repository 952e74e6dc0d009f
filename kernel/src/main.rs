//! `monologue-kernel`: a Jupyter kernel whose cells are Monologue's rhai
//! scripts — the same API as the REPL, with streamed generation and rich
//! display of plots and tables.
//!
//! ```text
//! monologue-kernel install [--user | --prefix P] [--model M]   # write the kernelspec
//! monologue-kernel [--model M] CONNECTION_FILE               # what Jupyter runs
//! ```

mod bundle;
mod connection;
mod history;
mod install;
mod server;
mod wire;
mod worker;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "monologue-kernel",
    version,
    about = "A Jupyter kernel for Monologue's rhai scripts"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Load this model as `m` before the first cell (smollm2, a .gguf file or a Hugging Face folder).
    #[arg(long)]
    model: Option<String>,
    /// The connection file Jupyter passes.
    connection_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Write the kernelspec (name `monologue`, display name `Monologue (rhai)`).
    Install {
        /// Into the user's Jupyter data folder.
        #[arg(long)]
        user: bool,
        /// Into PREFIX/share/jupyter/kernels (e.g. a virtual environment).
        #[arg(long)]
        prefix: Option<PathBuf>,
        /// Preload this model as `m` in every new kernel.
        #[arg(long)]
        model: Option<String>,
    },
}

fn main() -> ExitCode {
    if let Err(why) = monologue::backend::cpu::simd::from_env() {
        eprintln!("monologue-kernel: {why}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Install {
            user,
            prefix,
            model,
        }) => install::kernels_dir(user, prefix.as_deref())
            .and_then(|dir| install::install(&dir, model.as_deref()))
            .map(|dir| println!("installed the monologue kernelspec in {}", dir.display())),
        None => match cli.connection_file {
            Some(path) => run(&path, cli.model),
            None => Err("give a connection file (Jupyter does), or `install`".into()),
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

fn run(path: &std::path::Path, model: Option<String>) -> Result<(), String> {
    let connection = connection::Connection::read(path)?;
    let preload = model.map(|m| format!("let m = load_model({m:?});"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(server::serve(connection, preload))
}
