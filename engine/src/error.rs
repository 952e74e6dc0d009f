//! The engine's one error type. Every message names what was wrong and
//! where, so that a person reading it can fix the input without a debugger.

use std::fmt;

/// Errors the engine reports instead of panicking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model or data file is malformed, truncated or hostile.
    #[error("{path}: {message}")]
    File { path: String, message: String },

    /// Two shapes that must agree do not.
    #[error("shape mismatch in {context}: expected {expected}, got {found}")]
    Shape {
        context: String,
        expected: String,
        found: String,
    },

    /// An operation does not support this data type.
    #[error("{op} does not support dtype {dtype}")]
    DType { op: String, dtype: String },

    /// A tensor, hook or setting that was asked for does not exist.
    #[error("{0}")]
    NotFound(String),

    /// Anything else a caller passed that cannot be used.
    #[error("{0}")]
    Invalid(String),

    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn file(path: impl fmt::Display, message: impl fmt::Display) -> Self {
        Error::File {
            path: path.to_string(),
            message: message.to_string(),
        }
    }

    pub fn shape(
        context: impl fmt::Display,
        expected: impl fmt::Debug,
        found: impl fmt::Debug,
    ) -> Self {
        Error::Shape {
            context: context.to_string(),
            expected: format!("{expected:?}"),
            found: format!("{found:?}"),
        }
    }

    pub fn io(path: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// `text` with every control character but newline and tab written as an
/// escape (`\u{1b}`), for text from files that reaches a terminal: a
/// metadata key, a tensor name or a template's error message could
/// otherwise move the cursor, retitle the window or hide earlier output.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped_but_newlines_and_tabs_kept() {
        assert_eq!(printable("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("\u{9b}31m\x07\r"), "\\u{9b}31m\\u{7}\\u{d}");
    }
}
