//! rustyline's view of a session: tab completion from the scripting API's
//! metadata, and multi-line input (Enter on an unfinished expression opens
//! a continuation line instead of running it).

use monologue::script::Session;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use std::cell::RefCell;
use std::rc::Rc;

/// The REPL's own commands, completed like functions.
pub const COMMANDS: [&str; 7] = [
    ":help", ":load", ":time", ":profile", ":vars", ":quit", ":exit",
];

pub struct ReplHelper {
    pub session: Rc<RefCell<Session>>,
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let pair = |s: &str| Pair {
            display: s.to_string(),
            replacement: s.to_string(),
        };
        if line.starts_with(':') && !line[..pos].contains(' ') {
            let typed = &line[..pos];
            let found = COMMANDS.iter().filter(|c| c.starts_with(typed));
            return Ok((0, found.map(|c| pair(c)).collect()));
        }
        // `:help gen<TAB>` completes names like an expression would.
        let Ok(session) = self.session.try_borrow() else {
            return Ok((pos, Vec::new()));
        };
        let (start, names) = session.complete(line, pos);
        Ok((start, names.iter().map(|n| pair(n)).collect()))
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if input.trim_start().starts_with(':') {
            return Ok(ValidationResult::Valid(None));
        }
        let incomplete = self
            .session
            .try_borrow()
            .map(|s| s.is_incomplete(input))
            .unwrap_or(false);
        Ok(if incomplete {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {}

impl Helper for ReplHelper {}
