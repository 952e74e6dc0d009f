//! What one input gives back: its value and what it streamed ([`Outcome`]),
//! or an error that says where it happened ([`ScriptError`]).

use super::display::{self, Rendered};
use rhai::{Dynamic, EvalAltResult, Position};

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

pub(super) const INTERRUPTED: &str = "interrupted";

impl ScriptError {
    pub(super) fn from_rhai(err: &EvalAltResult) -> Self {
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

    pub(super) fn at(pos: Position) -> Self {
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
