//! Where a running script's output goes: the [`Sink`] each face implements
//! (terminal, Jupyter messages), and [`CollectSink`] for tests and batch runs.

use super::display::Rendered;
use crate::generate::TextKind;
use rhai::Dynamic;
use std::sync::{Arc, Mutex};

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
