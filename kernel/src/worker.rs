//! The thread that owns the scripting session and runs cells. The kernel's
//! socket loop hands it jobs and gets events back (streamed text, displays,
//! replies), so the loop stays free to answer interrupts and heartbeats
//! while a cell runs.

use crate::bundle;
use monologue::generate::TextKind;
use monologue::script::{Dynamic, Rendered, Session, Sink};
use serde_json::{json, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

/// Work for the session. Jobs run one at a time, in order, so every event
/// belongs to the request the kernel is working on.
pub enum Job {
    Execute {
        code: String,
        silent: bool,
        count: u64,
        /// The front end can answer `input()` (its `allow_stdin`).
        allow_stdin: bool,
    },
    Complete {
        code: String,
        cursor: usize,
    },
    Inspect {
        code: String,
        cursor: usize,
    },
    IsComplete {
        code: String,
    },
}

/// What the session sends back.
pub enum Event {
    Stream {
        name: &'static str,
        text: String,
    },
    /// Show `data`; with an id, later `update`s replace it in place.
    Display {
        data: Value,
        id: Option<String>,
        update: bool,
    },
    ExecuteResult {
        count: u64,
        data: Value,
    },
    Error {
        content: Value,
    },
    /// Clear the cell's output (`wait`: when the next output arrives).
    ClearOutput {
        wait: bool,
    },
    /// The cell called `input(prompt)`: ask the front end on the stdin
    /// channel and send its answer (or why there is none) to `answer`.
    Input {
        prompt: String,
        answer: mpsc::Sender<Result<String, String>>,
    },
    /// The job is finished: send this reply on the shell channel.
    Reply {
        msg_type: &'static str,
        content: Value,
    },
}

/// Sends a cell's output as events. Reasoning (`<think>`) goes into one
/// display that grows in place and folds away (`<details>`) when the answer
/// starts; the answer streams as plain output.
struct KernelSink {
    events: UnboundedSender<Event>,
    reasoning: Arc<Mutex<Reasoning>>,
    /// Whether the running cell's front end allows stdin.
    allow_stdin: Arc<AtomicBool>,
}

/// The reasoning shown so far in the running cell.
#[derive(Default)]
pub struct Reasoning {
    id: Option<String>,
    text: String,
    open: bool,
}

impl Reasoning {
    fn bundle(&self) -> Value {
        let open = if self.open { " open" } else { "" };
        let html = format!(
            "<details{open}><summary><i>Reasoning</i> ({} characters)</summary><pre style=\"white-space: pre-wrap; opacity: 0.7\">{}</pre></details>",
            self.text.chars().count(),
            bundle::escape(&self.text)
        );
        json!({ "text/plain": format!("<think>{}</think>", self.text), "text/html": html })
    }
}

impl KernelSink {
    fn reasoning(&mut self, piece: &str) {
        let mut r = self.reasoning.lock().unwrap_or_else(|e| e.into_inner());
        r.text.push_str(piece);
        r.open = true;
        let update = r.id.is_some();
        let id =
            r.id.get_or_insert_with(|| uuid::Uuid::new_v4().to_string())
                .clone();
        let data = r.bundle();
        let _ = self.events.send(Event::Display {
            data,
            id: Some(id),
            update,
        });
    }

    /// Fold the reasoning display, if one is open.
    fn close_reasoning(&mut self) {
        let mut r = self.reasoning.lock().unwrap_or_else(|e| e.into_inner());
        if r.open {
            r.open = false;
            let data = r.bundle();
            let _ = self.events.send(Event::Display {
                data,
                id: r.id.clone(),
                update: true,
            });
        }
    }
}

impl Sink for KernelSink {
    fn text(&mut self, piece: &str, kind: TextKind) {
        if kind == TextKind::Reasoning {
            self.reasoning(piece);
            return;
        }
        self.close_reasoning();
        let _ = self.events.send(Event::Stream {
            name: "stdout",
            text: piece.to_string(),
        });
    }
    fn print(&mut self, line: &str) {
        let _ = self.events.send(Event::Stream {
            name: "stdout",
            text: format!("{line}\n"),
        });
    }
    fn debug(&mut self, line: &str) {
        let _ = self.events.send(Event::Stream {
            name: "stderr",
            text: format!("{line}\n"),
        });
    }
    fn display(&mut self, value: &Dynamic, shown: &Rendered) {
        let _ = self.events.send(Event::Display {
            data: bundle::bundle(value, shown),
            id: None,
            update: false,
        });
    }
    fn display_as(&mut self, value: &Dynamic, shown: &Rendered, id: &str, update: bool) {
        let _ = self.events.send(Event::Display {
            data: bundle::bundle(value, shown),
            id: Some(id.to_string()),
            update,
        });
    }
    fn clear_output(&mut self, wait: bool) {
        let _ = self.events.send(Event::ClearOutput { wait });
    }
    fn input(&mut self, prompt: &str) -> Result<String, String> {
        if !self.allow_stdin.load(Ordering::Relaxed) {
            return Err("this front end does not accept input (allow_stdin is false)".into());
        }
        self.close_reasoning();
        let (answer, reply) = mpsc::channel();
        let asked = self.events.send(Event::Input {
            prompt: prompt.to_string(),
            answer,
        });
        if asked.is_err() {
            return Err("the kernel is shutting down".into());
        }
        // The kernel answers every request: with the typed line, or with an
        // error when the cell is interrupted or the front end goes away.
        reply
            .recv()
            .map_err(|_| "the kernel is shutting down".to_string())?
    }
}

pub struct Worker {
    pub jobs: mpsc::Sender<Job>,
    /// Raised by an interrupt: stops the running cell, keeps the variables.
    pub cancel: Arc<AtomicBool>,
}

/// Start the session thread; `preload` runs first (e.g. loading a model).
pub fn spawn(events: UnboundedSender<Event>, preload: Option<String>) -> Worker {
    let (jobs, inbox) = mpsc::channel::<Job>();
    let reasoning = Arc::new(Mutex::new(Reasoning::default()));
    let allow_stdin = Arc::new(AtomicBool::new(false));
    let sink = KernelSink {
        events: events.clone(),
        reasoning: reasoning.clone(),
        allow_stdin: allow_stdin.clone(),
    };
    let session = Session::new(Box::new(sink));
    let cancel = session.cancel_flag();
    std::thread::Builder::new()
        .name("monologue-cell".into())
        .stack_size(monologue::script::SCRIPT_STACK_BYTES)
        .spawn(move || run(session, inbox, events, reasoning, allow_stdin, preload))
        .expect("spawning the session thread");
    Worker { jobs, cancel }
}

fn run(
    mut session: Session,
    inbox: mpsc::Receiver<Job>,
    events: UnboundedSender<Event>,
    reasoning: Arc<Mutex<Reasoning>>,
    allow_stdin: Arc<AtomicBool>,
    preload: Option<String>,
) {
    if let Some(code) = preload {
        if let Err(e) = session.eval(&code) {
            eprintln!("monologue-kernel: preloading failed: {e}");
        }
    }
    while let Ok(job) = inbox.recv() {
        match job {
            Job::Execute {
                code,
                silent,
                count,
                allow_stdin: allowed,
            } => {
                allow_stdin.store(allowed, Ordering::Relaxed);
                *reasoning.lock().unwrap_or_else(|e| e.into_inner()) = Reasoning::default();
                let cell_events = execute(&mut session, &code, silent, count);
                // A cell that ends while reasoning (a budget, an interrupt)
                // leaves its reasoning folded too.
                {
                    let mut r = reasoning.lock().unwrap_or_else(|e| e.into_inner());
                    if r.open {
                        r.open = false;
                        let _ = events.send(Event::Display {
                            data: r.bundle(),
                            id: r.id.clone(),
                            update: true,
                        });
                    }
                }
                for event in cell_events {
                    let _ = events.send(event);
                }
            }
            Job::Complete { code, cursor } => {
                let at = byte_offset(&code, cursor);
                let (start, matches) = session.complete(&code, at);
                let content = json!({
                    "status": "ok",
                    "matches": matches,
                    "cursor_start": code[..start.min(code.len())].chars().count(),
                    "cursor_end": cursor,
                    "metadata": {},
                });
                let _ = events.send(Event::Reply {
                    msg_type: "complete_reply",
                    content,
                });
            }
            Job::Inspect { code, cursor } => {
                let name = word_at(&code, byte_offset(&code, cursor));
                let help = (!name.is_empty()).then(|| session.help(Some(&name)));
                let found = help.as_ref().is_some_and(|h| !h.starts_with("no "));
                let content = json!({
                    "status": "ok",
                    "found": found,
                    "data": if found { json!({ "text/plain": help }) } else { json!({}) },
                    "metadata": {},
                });
                let _ = events.send(Event::Reply {
                    msg_type: "inspect_reply",
                    content,
                });
            }
            Job::IsComplete { code } => {
                let status = if session.is_incomplete(&code) {
                    "incomplete"
                } else {
                    "complete"
                };
                let mut content = json!({ "status": status });
                if status == "incomplete" {
                    content["indent"] = json!("");
                }
                let _ = events.send(Event::Reply {
                    msg_type: "is_complete_reply",
                    content,
                });
            }
        }
    }
}

/// Run one cell: its result, or its error, then the execute reply.
fn execute(session: &mut Session, code: &str, silent: bool, count: u64) -> Vec<Event> {
    let outcome = catch_unwind(AssertUnwindSafe(|| session.eval(code)));
    let error = |ename: &str, evalue: String| {
        let content = json!({
            "status": "error",
            "ename": ename,
            "evalue": evalue,
            "traceback": [format!("{ename}: {evalue}")],
            "execution_count": count,
        });
        vec![
            Event::Error {
                content: content.clone(),
            },
            Event::Reply {
                msg_type: "execute_reply",
                content,
            },
        ]
    };
    match outcome {
        Ok(Ok(outcome)) => {
            let mut events = Vec::new();
            if !silent {
                if let Some(shown) = outcome.render() {
                    events.push(Event::ExecuteResult {
                        count,
                        data: bundle::bundle(&outcome.value, &shown),
                    });
                }
            }
            events.push(Event::Reply {
                msg_type: "execute_reply",
                content: json!({
                    "status": "ok",
                    "execution_count": count,
                    "user_expressions": {},
                    "payload": [],
                }),
            });
            events
        }
        Ok(Err(e)) if e.interrupted => error("KeyboardInterrupt", e.to_string()),
        Ok(Err(e)) => error("ScriptError", e.to_string()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            error(
                "EnginePanic",
                format!("the engine panicked: {what} (the kernel goes on)"),
            )
        }
    }
}

/// Jupyter counts cursor positions in code points; Rust slices in bytes.
fn byte_offset(code: &str, cursor: usize) -> usize {
    code.char_indices()
        .nth(cursor)
        .map_or(code.len(), |(i, _)| i)
}

/// The identifier touching byte offset `at`.
fn word_at(code: &str, at: usize) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let start = code[..at]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_word(c))
        .last()
        .map_or(at, |(i, _)| i);
    let end = code[at..]
        .find(|c: char| !is_word(c))
        .map_or(code.len(), |i| at + i);
    code[start..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_offsets() {
        assert_eq!(word_at("m.generate(x)", 5), "generate");
        assert_eq!(word_at("load_model", 10), "load_model");
        assert_eq!(word_at("a + b", 2), "");
        assert_eq!(byte_offset("héllo", 2), 3);
        assert_eq!(byte_offset("hé", 9), 3);
    }
}
