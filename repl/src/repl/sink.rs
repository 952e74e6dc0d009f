//! The terminal sink: generated text streams to stdout as it comes, the
//! reasoning part dimmed (on a terminal) so the answer stands apart.

use monologue::generate::TextKind;
use monologue::script::Sink;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct TerminalSink {
    /// Colours and dimming only on a terminal.
    styled: bool,
    /// What kind of text was written last, to set reasoning apart.
    last: Option<TextKind>,
    /// Streamed text left the cursor mid-line (the REPL ends the line
    /// before printing anything else).
    mid_line: Arc<AtomicBool>,
}

impl TerminalSink {
    pub fn new(styled: bool, mid_line: Arc<AtomicBool>) -> Self {
        TerminalSink {
            styled,
            last: None,
            mid_line,
        }
    }
}

impl Sink for TerminalSink {
    fn text(&mut self, piece: &str, kind: TextKind) {
        let mut out = std::io::stdout().lock();
        // A closed pipe is not worth reporting from inside a script.
        let _ = match (kind, self.styled) {
            (TextKind::Reasoning, true) => write!(out, "\x1b[2m{piece}\x1b[0m"),
            (TextKind::Answer, _) if self.last == Some(TextKind::Reasoning) => {
                // The answer starts on its own line after the reasoning.
                let sep = if piece.starts_with('\n') { "" } else { "\n" };
                write!(out, "{sep}{piece}")
            }
            _ => out.write_all(piece.as_bytes()),
        };
        let _ = out.flush();
        self.last = Some(kind);
        if !piece.is_empty() {
            self.mid_line
                .store(!piece.ends_with('\n'), Ordering::Relaxed);
        }
    }

    fn print(&mut self, line: &str) {
        let mut out = std::io::stdout().lock();
        if self.mid_line.swap(false, Ordering::Relaxed) {
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        self.last = None;
    }
}
