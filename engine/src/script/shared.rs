//! What the registered functions share with the session that runs them:
//! the cancel flag, the output sink, the last profile and the size limits.

use super::display;
use super::{Limits, Sink};
use crate::generate::TextKind;
use rhai::Dynamic;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// What the registered functions share with the session that runs them.
pub(crate) struct Shared {
    /// Set from another thread (Ctrl-C, a kernel interrupt) to stop the
    /// running script between operations and generation between tokens.
    pub cancel: Arc<AtomicBool>,
    pub(super) sink: Mutex<Box<dyn Sink>>,
    /// Text streamed during the current input (faces skip echoing a result
    /// that was already shown as it streamed).
    pub(super) streamed: Mutex<String>,
    /// The last profile taken, for `save_trace`.
    pub last_profile: Mutex<Option<crate::profile::Profile>>,
    /// The size limits the next input runs with (`set_limits`).
    pub(super) limits: Mutex<Limits>,
}

impl Shared {
    pub(super) fn limits(&self) -> Limits {
        *self.limits.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set_limits(&self, limits: Limits) {
        *self.limits.lock().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    pub fn emit_text(&self, piece: &str, kind: TextKind) {
        self.streamed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_str(piece);
        self.sink().text(piece, kind);
    }

    pub(super) fn emit_display(&self, value: &Dynamic) {
        let shown = display::render(value);
        self.sink().display(value, &shown);
    }

    /// Shows `value` under display id `id`, or replaces what it shows.
    pub(crate) fn emit_display_as(&self, value: &Dynamic, id: &str, update: bool) {
        let shown = display::render(value);
        self.sink().display_as(value, &shown, id, update);
    }

    pub(super) fn sink(&self) -> std::sync::MutexGuard<'_, Box<dyn Sink>> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn read_input(&self, prompt: &str) -> Result<String, String> {
        self.sink().input(prompt)
    }

    pub(super) fn emit_debug(&self, line: &str) {
        self.sink().debug(line);
    }

    pub(super) fn emit_print(&self, line: &str) {
        self.sink().print(line);
    }
}
