//! The interactive REPL: `monologue` with no subcommand.
//!
//! Each input runs in one [`Session`], so variables and functions persist.
//! rustyline edits lines (history, completion, multi-line input); Ctrl-C
//! while an input runs sets the session's cancel flag, which stops the
//! script between operations and generation between tokens, and leaves
//! every variable as it was. Without a terminal (a script piped into
//! `monologue`) the same loop runs without prompts or colours.

mod commands;
mod helper;
pub mod sink;

use commands::Command;
use helper::ReplHelper;
use monologue::script::{Dynamic, Outcome, ScriptError, Session};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};
use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args, Debug, Default)]
pub struct ReplArgs {
    /// Load this model before the prompt and bind it to `m` (a GGUF file, a
    /// Hugging Face folder, or `smollm2`).
    #[arg(long)]
    pub model: Option<String>,
    #[command(flatten)]
    pub threads: monologue::backend::cpu::pool::ThreadOptions,
}

/// What the loop keeps between inputs besides the session.
struct Repl {
    session: Rc<RefCell<Session>>,
    /// Streamed text left the cursor mid-line.
    mid_line: Arc<AtomicBool>,
    styled: bool,
    time_inputs: bool,
    profile_inputs: bool,
    plots: sink::PlotFiles,
    /// Inputs that failed (the exit code of a piped script says so).
    errors: usize,
}

pub fn run(args: &ReplArgs) -> Result<(), Box<dyn std::error::Error>> {
    args.threads.apply()?;
    let interactive = std::io::stdin().is_terminal();
    let styled = interactive && std::io::stdout().is_terminal();
    let mid_line = Arc::new(AtomicBool::new(false));
    let plots = sink::PlotFiles::default();
    let session = Session::new(Box::new(sink::TerminalSink::new(
        styled,
        mid_line.clone(),
        plots.clone(),
    )));
    install_interrupt(session.cancel_flag());
    let mut repl = Repl {
        session: Rc::new(RefCell::new(session)),
        mid_line,
        styled,
        time_inputs: false,
        profile_inputs: false,
        plots,
        errors: 0,
    };
    if interactive {
        println!(
            "Monologue {} — rhai scripting; :help lists functions, Tab completes, Ctrl-D exits.",
            env!("CARGO_PKG_VERSION")
        );
    }
    if let Some(model) = &args.model {
        let loaded = repl.session.borrow().load_model(model)?;
        if interactive {
            println!(
                "m = {} (loaded in {:.0} ms)",
                loaded.lm.path.display(),
                loaded.lm.load_ms
            );
            println!("try: m.generate(\"The capital of France is\", #{{ max_tokens: 16, temperature: 0.0 }})");
            println!("     let c = m.chat_session(); c.say(\"Hi! Who are you?\")");
        }
        repl.session.borrow_mut().set("m", Dynamic::from(loaded));
    } else if interactive {
        println!("try: let m = load_model(\"smollm2\");");
    }
    if interactive {
        repl.interactive()?;
    } else {
        repl.piped()?;
        if repl.errors > 0 {
            return Err(format!("{} input(s) failed", repl.errors).into());
        }
    }
    Ok(())
}

/// Ctrl-C while an input runs: set the flag the session polls. (While
/// rustyline reads a line the terminal is raw and Ctrl-C arrives as a key.)
fn install_interrupt(flag: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
}

fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MONOLOGUE_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".monologue_history"))
}

impl Repl {
    fn interactive(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        let config = Config::builder()
            .auto_add_history(false)
            .max_history_size(10_000)?
            .build();
        let mut editor: Editor<ReplHelper, DefaultHistory> = Editor::with_config(config)?;
        editor.set_helper(Some(ReplHelper {
            session: self.session.clone(),
        }));
        let history = history_path();
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        loop {
            match editor.readline("» ") {
                Ok(input) => {
                    if input.trim().is_empty() {
                        continue;
                    }
                    let _ = editor.add_history_entry(input.as_str());
                    if let Some(path) = &history {
                        let _ = editor.save_history(path);
                    }
                    if !self.handle(&input) {
                        break;
                    }
                }
                Err(ReadlineError::Interrupted) => {
                    println!("(Ctrl-C: input cleared; Ctrl-D or :quit exits)");
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// A script on stdin: inputs are split where they are complete, as if
    /// typed, and each value is printed.
    fn piped(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        let mut pending = String::new();
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            if pending.is_empty() && line.trim().is_empty() {
                continue;
            }
            pending.push_str(&line);
            pending.push('\n');
            let command = pending.trim_start().starts_with(':');
            if !command && self.session.borrow().is_incomplete(&pending) {
                continue;
            }
            let input = std::mem::take(&mut pending);
            if !self.handle(&input) {
                return Ok(());
            }
        }
        if !pending.trim().is_empty() {
            self.handle(&pending);
        }
        Ok(())
    }

    /// Run one input; false when it asks to quit.
    fn handle(&mut self, input: &str) -> bool {
        let trimmed = input.trim();
        if trimmed.starts_with(':') {
            return match Command::parse(trimmed) {
                Ok(Command::Quit) => false,
                Ok(command) => {
                    self.command(command);
                    true
                }
                Err(message) => {
                    self.error(&message);
                    true
                }
            };
        }
        self.evaluate(input);
        true
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Help(name) => println!("{}", self.session.borrow().help(name.as_deref())),
            Command::Load(path) => match std::fs::read_to_string(&path) {
                Ok(code) => self.evaluate(&code),
                Err(e) => self.error(&format!("{path}: {e}")),
            },
            Command::Time => {
                self.time_inputs = !self.time_inputs;
                println!("timing {}", if self.time_inputs { "on" } else { "off" });
            }
            Command::Profile => {
                self.profile_inputs = !self.profile_inputs;
                println!(
                    "per-kernel profile after each input {}",
                    if self.profile_inputs { "on" } else { "off" }
                );
            }
            Command::Vars => println!("{}", self.session.borrow().variables().join(", ")),
            Command::Quit => {}
        }
    }

    fn evaluate(&mut self, code: &str) {
        let start = Instant::now();
        if self.profile_inputs {
            monologue::profile::start();
        }
        let result = self.session.borrow_mut().eval(code);
        let profile = self.profile_inputs.then(monologue::profile::stop);
        let elapsed = start.elapsed();
        self.end_streamed_line();
        match result {
            Ok(outcome) => self.show(&outcome),
            Err(e) => self.script_error(&e),
        }
        if let Some(p) = profile {
            if p.records.is_empty() {
                println!("(no kernels ran)");
            } else {
                println!("{}", p.table());
            }
        }
        if self.time_inputs {
            println!("({:.1} ms)", elapsed.as_secs_f64() * 1e3);
        }
    }

    fn end_streamed_line(&self) {
        if self.mid_line.swap(false, Ordering::Relaxed) {
            println!();
        }
    }

    fn show(&mut self, outcome: &Outcome) {
        if outcome.interrupted {
            println!("interrupted");
        }
        let Some(rendered) = outcome.render() else {
            return;
        };
        match self.plots.line(&rendered) {
            Ok(line) => println!("{line}"),
            Err(e) => self.error(&e),
        }
    }

    fn script_error(&mut self, e: &ScriptError) {
        if e.interrupted {
            println!("interrupted (variables are as they were before this input)");
            return;
        }
        self.error(&e.to_string());
    }

    fn error(&mut self, message: &str) {
        self.errors += 1;
        // Messages may quote a file (a key, a template's exception).
        let message = monologue::error::printable(message);
        let mut err = std::io::stderr().lock();
        let _ = if self.styled {
            writeln!(err, "\x1b[31merror:\x1b[0m {message}")
        } else {
            writeln!(err, "error: {message}")
        };
    }
}
