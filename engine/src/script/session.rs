//! A [`Session`]: one rhai engine with every function registered, the
//! variables and functions defined so far, and the [`Shared`] state its
//! functions use.

use super::help;
use super::outcome::INTERRUPTED;
use super::{
    limits, register, CollectSink, Collected, Limits, ModelHandle, Outcome, ScriptError, Shared,
    Sink,
};
use rhai::{Dynamic, Engine, EvalAltResult, ParseErrorType, Scope, AST};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
