//! The terminal sink: generated text streams to stdout as it comes, the
//! reasoning part dimmed (on a terminal) so the answer stands apart.

use monologue::generate::TextKind;
use monologue::plot::Plot;
use monologue::script::{Dynamic, Rendered, Sink};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Where the REPL saves plots: `plots/plot-N.png` (or `$MONOLOGUE_PLOTS`),
/// numbered across results and `display(...)` calls.
#[derive(Clone, Default)]
pub struct PlotFiles {
    saved: Arc<AtomicUsize>,
}

impl PlotFiles {
    pub fn save(&self, plot: &Plot) -> Result<PathBuf, String> {
        let n = self.saved.fetch_add(1, Ordering::Relaxed) + 1;
        let dir = std::env::var_os("MONOLOGUE_PLOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("plots"));
        let path = dir.join(format!("plot-{n}.png"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        plot.save(&path).map_err(|e| e.to_string())?;
        Ok(path)
    }

    /// The line the REPL prints for a rendered value, saving its plot.
    pub fn line(&self, shown: &Rendered) -> Result<String, String> {
        match &shown.plot {
            Some(plot) => {
                let path = self
                    .save(plot)
                    .map_err(|e| format!("could not save the plot: {e}"))?;
                Ok(format!("{} → saved {}", shown.text, path.display()))
            }
            None => Ok(shown.text.clone()),
        }
    }
}

pub struct TerminalSink {
    /// Colours and dimming only on a terminal.
    styled: bool,
    /// What kind of text was written last, to set reasoning apart.
    last: Option<TextKind>,
    /// Streamed text left the cursor mid-line (the REPL ends the line
    /// before printing anything else).
    mid_line: Arc<AtomicBool>,
    plots: PlotFiles,
}

impl TerminalSink {
    pub fn new(styled: bool, mid_line: Arc<AtomicBool>, plots: PlotFiles) -> Self {
        TerminalSink {
            styled,
            last: None,
            mid_line,
            plots,
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

    fn display(&mut self, _value: &Dynamic, shown: &Rendered) {
        match self.plots.line(shown) {
            Ok(line) => self.print(&line),
            Err(e) => eprintln!("error: {e}"),
        }
    }

    fn input(&mut self, prompt: &str) -> Result<String, String> {
        let mut out = std::io::stdout().lock();
        if self.mid_line.swap(false, Ordering::Relaxed) {
            let _ = writeln!(out);
        }
        let _ = write!(out, "{prompt}");
        let _ = out.flush();
        drop(out);
        self.last = None;
        // Until a line is typed, the prompt leaves the cursor mid-line (an
        // error then starts on a line of its own).
        self.mid_line.store(!prompt.is_empty(), Ordering::Relaxed);
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(0) => Err("end of input (stdin is closed)".into()),
            Ok(_) => {
                // The typed newline ended the line on the terminal.
                self.mid_line.store(false, Ordering::Relaxed);
                let trimmed = line.strip_suffix('\n').unwrap_or(&line);
                Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string())
            }
            Err(e) => Err(format!("reading stdin: {e}")),
        }
    }
}
