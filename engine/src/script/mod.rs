//! The rhai scripting API: how people drive the engine from the REPL, from
//! Jupyter cells, from script files and from the tests. It is registered
//! once, here, so a script that works in one face works in the others.
//!
//! ```text
//! let m = load_model("smollm2");
//! m.generate("The capital of France is", #{ max_tokens: 16, temperature: 0.0 })
//! let t = tensor([[1.0, 2.0], [3.0, 4.0]]); t.matmul(t).softmax(-1)
//! profile(|| m.generate("hi", #{ max_tokens: 16 }))
//! ```
//!
//! | file | registers |
//! |---|---|
//! | `model_api.rs` | `load_model`, the `Model` and `Chat` types |
//! | `inspect_api.rs` | hook names, `run_with_cache`, attention, logit lens, traces, `with_hooks` |
//! | `tensor_api.rs` | `tensor(...)` and the `Tensor` type |
//! | `profile_api.rs` | `profile(fn)`, `profile_start/stop`, `save_trace` |
//! | `plot_api.rs` | `plot_line`, `plot_bar`, `plot_heatmap` |
//!
//! A [`Session`] holds one engine, the variables and functions defined so
//! far, a cancellation flag and the [`Sink`] that receives streamed text.
//! Every registered function carries its documentation as rhai metadata;
//! `help.rs` reads it back for `:help` and tab completion.

mod convert;
mod display;
mod help;
mod inspect_api;
mod limits;
mod model_api;
mod options;
mod plot_api;
mod profile_api;
mod register;
mod rlvr_api;
mod tensor_api;
mod train_api;

pub use display::{render, Rendered};
pub use inspect_api::{CacheHandle, HookSpec, LensHandle, TraceHandle};
pub use limits::Limits;
pub use model_api::{ChatHandle, ModelHandle};
pub use profile_api::ProfileTable;
/// rhai's value types, for faces that bind variables.
pub use rhai::{Array, Dynamic, Map};

use crate::generate::TextKind;
use rhai::{Engine, EvalAltResult, ParseErrorType, Position, Scope, AST};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The stack a thread that runs scripts should have. rhai walks nested
/// values recursively (to check their size, to drop them), so
/// `for i in 0..n { m = #{ x: m } }` overflowed the 8 MiB main stack and
/// killed the process. With this much, the nesting a script can reach is
/// bounded by time instead (each level re-checks the ones below it, so
/// depth grows with the square root of the work), and an interrupt stops
/// it. It is reserved address space; only what is used is touched.
pub const SCRIPT_STACK_BYTES: usize = 256 << 20;

/// Where a session's output goes while a script runs: the REPL writes it to
/// the terminal, the Jupyter kernel sends stream messages, tests collect it.
pub trait Sink: Send {
    /// A piece of generated text, as it streams.
    fn text(&mut self, piece: &str, kind: TextKind);
    /// A line from the script's `print` (or `debug`).
    fn print(&mut self, line: &str);
    /// A line from the script's `debug` (the kernel sends it as stderr;
    /// by default it is printed like `print`).
    fn debug(&mut self, line: &str) {
        self.print(line);
    }
    /// A value shown at once by `display(x)` (notebooks render it rich;
    /// by default its text is printed).
    fn display(&mut self, value: &Dynamic, shown: &Rendered) {
        let _ = value;
        self.print(&shown.text);
    }
    /// `display(x, id)` (`update` false) and `update_display(x, id)`
    /// (`update` true): a notebook shows the value under display id `id`
    /// and later replaces it in place (a live chart). Terminals print the
    /// first showing and skip the updates.
    fn display_as(&mut self, value: &Dynamic, shown: &Rendered, id: &str, update: bool) {
        let _ = id;
        if !update {
            self.display(value, shown);
        }
    }
    /// `clear_output(wait)`: a notebook clears the cell's output (with
    /// `wait`, only when the next output arrives, so a redrawn chart does
    /// not flicker). Terminals keep what they printed.
    fn clear_output(&mut self, wait: bool) {
        let _ = wait;
    }
    /// A line typed by the person for the script's `input(prompt)`, or why
    /// none can be read (no terminal, a notebook that disallows stdin, an
    /// interrupt). The line has no trailing newline.
    fn input(&mut self, prompt: &str) -> Result<String, String> {
        let _ = prompt;
        Err("this front end cannot read input".into())
    }
}

/// A sink that keeps everything, for tests and batch runs.
#[derive(Debug, Default, Clone)]
pub struct Collected {
    pub text: String,
    pub reasoning: String,
    pub printed: Vec<String>,
    /// Lines `input()` returns, first to last; `input()` fails when none
    /// are left.
    pub inputs: std::collections::VecDeque<String>,
    /// The prompts `input()` was called with.
    pub prompts: Vec<String>,
    /// `display(x, id)` and `update_display(x, id)`: (id, whether an
    /// update, the value's text).
    pub displays: Vec<(String, bool, String)>,
}

/// Collects into a shared [`Collected`].
pub struct CollectSink(pub Arc<Mutex<Collected>>);

impl Sink for CollectSink {
    fn text(&mut self, piece: &str, kind: TextKind) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kind == TextKind::Reasoning {
            c.reasoning += piece;
        }
        c.text += piece;
    }
    fn print(&mut self, line: &str) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        c.printed.push(line.to_string());
    }
    fn display_as(&mut self, _: &Dynamic, shown: &Rendered, id: &str, update: bool) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        c.displays
            .push((id.to_string(), update, shown.text.clone()));
    }
    fn input(&mut self, prompt: &str) -> Result<String, String> {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        c.prompts.push(prompt.to_string());
        c.inputs
            .pop_front()
            .ok_or_else(|| "no input is left to read".to_string())
    }
}

/// What the registered functions share with the session that runs them.
pub(crate) struct Shared {
    /// Set from another thread (Ctrl-C, a kernel interrupt) to stop the
    /// running script between operations and generation between tokens.
    pub cancel: Arc<AtomicBool>,
    sink: Mutex<Box<dyn Sink>>,
    /// Text streamed during the current input (faces skip echoing a result
    /// that was already shown as it streamed).
    streamed: Mutex<String>,
    /// The last profile taken, for `save_trace`.
    pub last_profile: Mutex<Option<crate::profile::Profile>>,
    /// The size limits the next input runs with (`set_limits`).
    limits: Mutex<Limits>,
}

impl Shared {
    fn limits(&self) -> Limits {
        *self.limits.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_limits(&self, limits: Limits) {
        *self.limits.lock().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    pub fn emit_text(&self, piece: &str, kind: TextKind) {
        self.streamed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_str(piece);
        self.sink().text(piece, kind);
    }

    fn emit_display(&self, value: &Dynamic) {
        let shown = display::render(value);
        self.sink().display(value, &shown);
    }

    /// Shows `value` under display id `id`, or replaces what it shows.
    pub(crate) fn emit_display_as(&self, value: &Dynamic, id: &str, update: bool) {
        let shown = display::render(value);
        self.sink().display_as(value, &shown, id, update);
    }

    fn sink(&self) -> std::sync::MutexGuard<'_, Box<dyn Sink>> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_input(&self, prompt: &str) -> Result<String, String> {
        self.sink().input(prompt)
    }

    fn emit_debug(&self, line: &str) {
        self.sink().debug(line);
    }

    fn emit_print(&self, line: &str) {
        self.sink().print(line);
    }
}

/// A script error, with where it happened when rhai knows.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    pub message: String,
    /// 1-based line and column.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The script was stopped by [`Session::cancel_flag`].
    pub interrupted: bool,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ScriptError {}

const INTERRUPTED: &str = "interrupted";

impl ScriptError {
    fn from_rhai(err: &EvalAltResult) -> Self {
        let interrupted = matches!(err, EvalAltResult::ErrorTerminated(..));
        let message = if interrupted {
            INTERRUPTED.to_string()
        } else {
            describe(err)
        };
        ScriptError {
            message,
            interrupted,
            ..ScriptError::at(innermost_position(err))
        }
    }

    fn at(pos: Position) -> Self {
        ScriptError {
            message: String::new(),
            line: pos.line(),
            column: pos.position(),
            interrupted: false,
        }
    }
}

/// rhai wraps errors raised inside functions; the innermost says what
/// actually went wrong.
fn describe(err: &EvalAltResult) -> String {
    match err {
        EvalAltResult::ErrorInFunctionCall(name, _, inner, _) if !name.is_empty() => {
            format!("in {name}: {}", describe(inner))
        }
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        EvalAltResult::ErrorDataTooLarge(what, _) => format!(
            "{what}: the value would pass its size limit (see limits(); a script may raise it \
             with set_limits(#{{ max_array: ... }}) for the inputs after it)"
        ),
        EvalAltResult::ErrorDataRace(what, _) => format!(
            "{what}: a closure uses the value whose method it is passed to, which rhai locks for the call; \
             let the closure take it as its argument (m.with_hooks(hooks, |m| m.top_k(text, 5))) \
             or call the function form (with_hooks(m, hooks, || ...))"
        ),
        other => {
            // rhai appends " (line L, position C)"; we report it separately.
            let s = other.to_string();
            match s.rfind(" (line ") {
                Some(i) if s.ends_with(')') => s[..i].to_string(),
                _ => s,
            }
        }
    }
}

fn innermost_position(err: &EvalAltResult) -> Position {
    match err {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, pos) => {
            let p = innermost_position(inner);
            if p.is_none() {
                *pos
            } else {
                p
            }
        }
        other => other.position(),
    }
}

/// The value an input evaluated to, and what it streamed on the way.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub value: Dynamic,
    /// Generated text shown while the input ran.
    pub streamed: String,
    /// The cancel flag was raised while it ran: a generation stopped early
    /// but the input finished (had the script gone on, it would have been
    /// an interrupted error instead).
    pub interrupted: bool,
}

impl Outcome {
    /// How a face shows the value: nothing for `()` or for a string that
    /// was just streamed, else text (and SVG for plots).
    pub fn render(&self) -> Option<Rendered> {
        if self.value.is_unit() {
            return None;
        }
        if let Some(s) = self.value.read_lock::<rhai::ImmutableString>() {
            if !self.streamed.is_empty() && s.trim() == self.streamed.trim() {
                return None;
            }
        }
        Some(display::render(&self.value))
    }
}

pub struct Session {
    engine: Engine,
    scope: Scope<'static>,
    /// Functions defined by earlier inputs (`fn name() { ... }`).
    functions: AST,
    shared: Arc<Shared>,
    /// The size limits the engine has now (`set_limits` changes take
    /// effect when the next input starts).
    limits: Limits,
}

impl Session {
    /// A session whose output goes to `sink`.
    pub fn new(sink: Box<dyn Sink>) -> Self {
        let shared = Arc::new(Shared {
            cancel: Arc::new(AtomicBool::new(false)),
            sink: Mutex::new(sink),
            streamed: Mutex::new(String::new()),
            last_profile: Mutex::new(None),
            limits: Mutex::new(Limits::default()),
        });
        let mut engine = Engine::new();
        // Scripts are interactive: deep expressions are fine, runaway
        // recursion is not, and neither are values larger than memory.
        engine.set_max_expr_depths(256, 128);
        engine.set_max_call_levels(128);
        let limits = Limits::default();
        limits.apply(&mut engine);
        limits::register(&mut engine, &shared);
        let flag = shared.cancel.clone();
        engine.on_progress(move |_| {
            flag.load(Ordering::Relaxed)
                .then(|| Dynamic::from(INTERRUPTED))
        });
        let printer = shared.clone();
        engine.on_print(move |s| printer.emit_print(s));
        let debugger = shared.clone();
        engine.on_debug(move |s, _, _| debugger.emit_debug(s));
        register::register_all(&mut engine, &shared);
        let displayer = shared.clone();
        register::func(
            "display",
            "Show a value now (a plot, a table, a tensor), as a notebook cell's last value is shown;\nin a loop, each call shows one more.",
        )
        .register_into_engine(&mut engine, move |value: Dynamic| displayer.emit_display(&value));
        let displayer = shared.clone();
        register::func(
            "display",
            "Show a value under a display id (a string of your choosing): `update_display(x, id)` later\nreplaces it in place, for a live chart. The REPL prints it once.",
        )
        .register_into_engine(&mut engine, move |value: Dynamic, id: &str| {
            displayer.emit_display_as(&value, id, false)
        });
        let displayer = shared.clone();
        register::func(
            "update_display",
            "Replace what `display(x, id)` showed with a new value (a notebook redraws it in place;\nthe REPL shows nothing).",
        )
        .register_into_engine(&mut engine, move |value: Dynamic, id: &str| {
            displayer.emit_display_as(&value, id, true)
        });
        let clearer = shared.clone();
        register::func(
            "clear_output",
            "Clear this notebook cell's output; with `true`, only when the next output arrives\n(redraw a live chart in a loop: `clear_output(true); display(chart)`). No effect in the REPL.",
        )
        .register_into_engine(&mut engine, move |wait: bool| clearer.sink().clear_output(wait));
        let clearer = shared.clone();
        register::func("clear_output", "Clear this notebook cell's output now.")
            .register_into_engine(&mut engine, move || clearer.sink().clear_output(false));
        let reader = shared.clone();
        register::func(
            "input",
            "Ask for a line of text: the REPL reads it from the terminal, a notebook shows an input box.\nReturns the line without its newline.",
        )
        .register_into_engine(&mut engine, move |prompt: &str| -> Result<String, Box<EvalAltResult>> {
            reader.read_input(prompt).map_err(|e| format!("input: {e}").into())
        });
        let reader = shared.clone();
        register::func("input", "Ask for a line of text, with no prompt.").register_into_engine(
            &mut engine,
            move || -> Result<String, Box<EvalAltResult>> {
                reader
                    .read_input("")
                    .map_err(|e| format!("input: {e}").into())
            },
        );
        Session {
            engine,
            scope: Scope::new(),
            functions: AST::empty(),
            shared,
            limits,
        }
    }

    /// A session that collects its output (for tests and `monologue run`).
    pub fn collecting() -> (Self, Arc<Mutex<Collected>>) {
        let collected = Arc::new(Mutex::new(Collected::default()));
        (
            Session::new(Box::new(CollectSink(collected.clone()))),
            collected,
        )
    }

    /// The flag that interrupts a running input when set. Each input clears
    /// it when it starts.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.shared.cancel.clone()
    }

    /// Run one input. Variables and functions it defines persist; on an
    /// error (or an interrupt) those defined before it stay as they were.
    pub fn eval(&mut self, code: &str) -> Result<Outcome, ScriptError> {
        self.shared.cancel.store(false, Ordering::Relaxed);
        let limits = self.shared.limits();
        if limits != self.limits {
            limits.apply(&mut self.engine);
            self.limits = limits;
        }
        self.shared
            .streamed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let ast = self
            .engine
            .compile_with_scope(&self.scope, code)
            .map_err(|e| ScriptError {
                message: e.err_type().to_string(),
                ..ScriptError::at(e.position())
            })?;
        let program = self.functions.merge(&ast);
        let value = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &program)
            .map_err(|e| ScriptError::from_rhai(&e))?;
        self.functions = self.functions.merge(&ast.clone_functions_only());
        let streamed = std::mem::take(
            &mut *self
                .shared
                .streamed
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        Ok(Outcome {
            value,
            streamed,
            interrupted: self.shared.cancel.load(Ordering::Relaxed),
        })
    }

    /// Bind a variable (the REPL binds `m` to the default model).
    pub fn set(&mut self, name: &str, value: Dynamic) {
        self.scope.set_value(name.to_string(), value);
    }

    /// Load a model into a handle, as `load_model(name)` does in a script.
    pub fn load_model(&self, name: &str) -> crate::Result<ModelHandle> {
        ModelHandle::load(name, &Default::default())
    }

    /// Names of the variables defined so far.
    pub fn variables(&self) -> Vec<String> {
        self.scope
            .iter()
            .map(|(name, _, _)| name.to_string())
            .collect()
    }

    /// Whether `code` is an unfinished input that continues on the next line
    /// (an open bracket or string, or a statement cut short), as opposed to
    /// a complete one or one with a real syntax error.
    pub fn is_incomplete(&self, code: &str) -> bool {
        if open_brackets(code) {
            return true;
        }
        match self.engine.compile_with_scope(&self.scope, code) {
            Ok(_) => false,
            Err(e) => matches!(e.err_type(), ParseErrorType::UnexpectedEOF),
        }
    }

    /// `:help` text: an overview, or every function and method called `name`.
    pub fn help(&self, name: Option<&str>) -> String {
        help::help(&self.engine, name)
    }

    /// Completions for the word before `pos` in `line`: the start of that
    /// word and the candidates.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        help::complete(&self.engine, &self.variables(), line, pos)
    }
}

/// True if `code` ends inside a string or with brackets left open.
fn open_brackets(code: &str) -> bool {
    let mut depth = 0i64;
    let mut chars = code.chars().peekable();
    let mut in_string: Option<char> = None;
    while let Some(c) = chars.next() {
        match in_string {
            Some(q) => {
                if c == '\\' {
                    chars.next();
                } else if c == q {
                    in_string = None;
                }
            }
            None => match c {
                '"' | '`' => in_string = Some(c),
                '\'' => {
                    // A character literal: skip it whole.
                    if chars.next() == Some('\\') {
                        chars.next();
                    }
                    chars.next();
                }
                '/' if chars.peek() == Some(&'/') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            },
        }
    }
    depth > 0 || in_string.is_some()
}
