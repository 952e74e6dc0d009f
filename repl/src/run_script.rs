//! `monologue run script.rhai [args]`: run a script file non-interactively,
//! with its arguments in the array `args`.

use crate::repl::sink::{PlotFiles, TerminalSink};
use monologue::script::{Array, Dynamic, Session};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The script file.
    pub script: PathBuf,
    /// Passed to the script as the array `args`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub threads: monologue::backend::cpu::pool::ThreadOptions,
}

pub fn run(args: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    args.threads.apply()?;
    let code = std::fs::read_to_string(&args.script)
        .map_err(|e| format!("{}: {e}", args.script.display()))?;
    let styled = std::io::stdout().is_terminal();
    let mid_line = Arc::new(AtomicBool::new(false));
    let plots = PlotFiles::default();
    let mut session = Session::new(Box::new(TerminalSink::new(styled, mid_line.clone(), plots)));
    let cancel = session.cancel_flag();
    let _ = ctrlc::set_handler(move || cancel.store(true, std::sync::atomic::Ordering::Relaxed));
    let script_args: Array = args.args.iter().map(|a| Dynamic::from(a.clone())).collect();
    session.set("args", Dynamic::from(script_args));
    let result = session.eval(&code);
    if mid_line.load(std::sync::atomic::Ordering::Relaxed) {
        println!();
    }
    result.map_err(|e| format!("{}: {e}", args.script.display()))?;
    Ok(())
}
