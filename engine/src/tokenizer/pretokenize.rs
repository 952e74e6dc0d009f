//! Pre-tokenizers: split text into the pieces that BPE encodes one at a time.
//!
//! The common ones are hand-written scanners, each equivalent to a regex
//! from the reference tokenizers (alternatives tried in order at each
//! position, as Perl-style engines do); any other pattern runs as regex
//! steps ([`RegexSplit`]), and SentencePiece text is cut by
//! [`MetaspaceSplit`]. The scanners' patterns, for reference:
//!
//! * GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
//! * Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
//! * Qwen 2: Llama 3's with `\p{N}` for `\p{N}{1,3}`.
//! * Qwen 3.5: Qwen 2's with marks (`\p{M}`) kept with letters.
//! * SmolLM (and StarCoder): every `\p{N}` character on its own, then GPT-2's
//!   pattern on the text between them.

use std::sync::Arc;

pub use super::metaspace::MetaspaceSplit;
use super::regex_split::RegexSplit;
use super::unicode::{class_at, class_with_marks_at, Class};
use crate::{Error, Result};

/// How text is cut into pieces before the model encodes each one.
#[derive(Clone, Debug, PartialEq)]
pub enum PreTokenizer {
    /// GPT-2's pattern (hand-written scanner).
    Gpt2,
    /// Llama 3's pattern (hand-written scanner).
    Llama3,
    /// Qwen 2's pattern (hand-written scanner).
    Qwen2,
    /// Qwen 3.5's pattern: Qwen 2's with combining marks kept with letters
    /// (hand-written scanner).
    Qwen35,
    /// SmolLM's and StarCoder's (hand-written scanner).
    SmolLm,
    /// No cut: the text is one piece.
    Whole,
    /// SentencePiece-spelled text, cut only where no token can reach
    /// across (an exact speed-up, see [`MetaspaceSplit`]).
    Metaspace(Arc<MetaspaceSplit>),
    /// Any other pattern: regex steps.
    Regex(Arc<RegexSplit>),
}

/// The hand-written scanners, for use as a step of a [`RegexSplit`] too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scanner {
    Gpt2,
    Llama3,
    Qwen2,
    Qwen35,
    SmolLm,
}

impl Scanner {
    pub fn name(self) -> &'static str {
        match self {
            Self::Gpt2 => "gpt-2",
            Self::Llama3 => "llama3",
            Self::Qwen2 => "qwen2",
            Self::Qwen35 => "qwen35",
            Self::SmolLm => "smollm",
        }
    }

    /// Calls `f` with each piece of `text`, in order; the pieces concatenate
    /// to `text`.
    #[inline]
    pub fn split<'a>(self, text: &'a str, mut f: impl FnMut(&'a str)) {
        let s = text.as_bytes();
        let mut i = 0;
        while i < s.len() {
            let j = match self {
                Self::Gpt2 => gpt2_piece(s, i, false),
                Self::SmolLm => gpt2_piece(s, i, true),
                Self::Llama3 => llama3_piece::<false>(s, i, 3),
                Self::Qwen2 => llama3_piece::<false>(s, i, 1),
                Self::Qwen35 => llama3_piece::<true>(s, i, 1),
            };
            debug_assert!(j > i);
            // Pieces end on character boundaries by construction.
            f(&text[i..j]);
            i = j;
        }
    }
}

/// The GPT-2 pattern as Hugging Face's `ByteLevel` pre-tokenizer writes it.
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// The Llama 3 pattern.
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The Qwen 2 pattern.
pub const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The Qwen 3.5 pattern.
pub const QWEN35_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

impl PreTokenizer {
    /// The pre-tokenizer for a GGUF `tokenizer.ggml.pre` value of a
    /// byte-level BPE vocabulary: the names llama.cpp knows, with its
    /// patterns.
    pub fn from_gguf_name(name: &str) -> Result<Self> {
        if let Some(fast) = super::pre_names::scanner_for(name) {
            return Ok(fast);
        }
        match super::pre_names::patterns_for(name) {
            Some(patterns) => Ok(Self::Regex(Arc::new(RegexSplit::isolated(name, patterns)?))),
            None => Err(Error::Invalid(format!(
                "unknown pre-tokenizer {name:?} (tokenizer.ggml.pre); known: {}",
                super::pre_names::known().join(", ")
            ))),
        }
    }

    /// The pre-tokenizer whose regex is `pattern`, if a scanner does it.
    pub fn from_pattern(pattern: &str) -> Option<Self> {
        match pattern {
            GPT2_PATTERN => Some(Self::Gpt2),
            LLAMA3_PATTERN => Some(Self::Llama3),
            QWEN2_PATTERN => Some(Self::Qwen2),
            QWEN35_PATTERN => Some(Self::Qwen35),
            _ => None,
        }
    }

    /// The hand-written scanner this is, if it is one.
    pub fn scanner(&self) -> Option<Scanner> {
        Some(match self {
            Self::Gpt2 => Scanner::Gpt2,
            Self::Llama3 => Scanner::Llama3,
            Self::Qwen2 => Scanner::Qwen2,
            Self::Qwen35 => Scanner::Qwen35,
            Self::SmolLm => Scanner::SmolLm,
            _ => return None,
        })
    }

    /// The `tokenizer.ggml.pre` name of this pre-tokenizer (`default` for
    /// SentencePiece vocabularies, which have none).
    pub fn name(&self) -> &str {
        match self {
            Self::Whole | Self::Metaspace(_) => "default",
            Self::Regex(r) => &r.name,
            _ => self.scanner().map_or("default", Scanner::name),
        }
    }

    /// Calls `f` with each piece of `text`, in order. Pieces are bytes: a
    /// tokenizer.json step after `ByteLevel` may cut inside a character
    /// (every other pre-tokenizer cuts between characters).
    #[inline]
    pub fn split<'a>(&self, text: &'a str, mut f: impl FnMut(&'a [u8])) {
        match self {
            Self::Gpt2 => Scanner::Gpt2.split(text, |p| f(p.as_bytes())),
            Self::Llama3 => Scanner::Llama3.split(text, |p| f(p.as_bytes())),
            Self::Qwen2 => Scanner::Qwen2.split(text, |p| f(p.as_bytes())),
            Self::Qwen35 => Scanner::Qwen35.split(text, |p| f(p.as_bytes())),
            Self::SmolLm => Scanner::SmolLm.split(text, |p| f(p.as_bytes())),
            Self::Whole => {
                if !text.is_empty() {
                    f(text.as_bytes())
                }
            }
            Self::Metaspace(m) => m.split(text, |p| f(p.as_bytes())),
            Self::Regex(r) => r.split(text, f),
        }
    }

    /// The pieces of `text` as text (for tests and inspection; a piece cut
    /// inside a character shows U+FFFD).
    pub fn pieces(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.split(text, |p| out.push(String::from_utf8_lossy(p).into_owned()));
        out
    }
}

/// Length of a contraction (`s t re ve m ll d`) after an apostrophe at
/// `i - 1`, or 0. `fold`: match case-insensitively, as `(?i:...)` does
/// (which also lets `ſ`, U+017F, stand for `s`).
#[inline]
fn contraction(s: &[u8], i: usize, fold: bool) -> usize {
    let at = |k: usize| -> u8 {
        let b = s.get(i + k).copied().unwrap_or(0);
        if fold {
            b.to_ascii_lowercase()
        } else {
            b
        }
    };
    match at(0) {
        b's' | b't' | b'm' | b'd' => 1,
        b'r' | b'v' if at(1) == b'e' => 2,
        b'l' if at(1) == b'l' => 2,
        0xC5 if fold && s.get(i + 1) == Some(&0xBF) => 2,
        _ => 0,
    }
}

/// End of the run of characters of class `k` starting at `i`.
#[inline(always)]
fn run(s: &[u8], mut i: usize, k: Class) -> usize {
    while i < s.len() {
        let (c, n) = class_at(s, i);
        if c != k {
            break;
        }
        i += n;
    }
    i
}

/// End of the whitespace run starting at `i`, and the start of its last
/// character.
#[inline(always)]
fn space_run(s: &[u8], mut i: usize) -> (usize, usize) {
    let mut last = i;
    while i < s.len() {
        let (c, n) = class_at(s, i);
        if c != Class::Space {
            break;
        }
        last = i;
        i += n;
    }
    (i, last)
}

/// `\s+(?!\S)|\s+` at `i` (a space), given the run's end and last char.
/// With `digit_bound`, a following number counts as the end of the text.
#[inline(always)]
fn spaces(s: &[u8], i: usize, end: usize, last: usize, digit_bound: bool) -> usize {
    if end == s.len() || last == i {
        return end;
    }
    if digit_bound && class_at(s, end).0 == Class::Number {
        return end;
    }
    last
}

/// One GPT-2 piece starting at `i`. `isolate_numbers`: SmolLM's behaviour.
#[inline(always)]
fn gpt2_piece(s: &[u8], i: usize, isolate_numbers: bool) -> usize {
    let b = s[i];
    if b == b'\'' {
        let n = contraction(s, i + 1, false);
        if n > 0 {
            return i + 1 + n;
        }
    }
    let (mut k, n) = class_at(s, i);
    let mut start = i + n;
    if b == b' ' && start < s.len() {
        let (k2, n2) = class_at(s, start);
        if k2 != Class::Space && !(isolate_numbers && k2 == Class::Number) {
            k = k2;
            start += n2;
        }
    }
    match k {
        Class::Number if isolate_numbers => start,
        Class::Letter | Class::Number | Class::Mark | Class::Other => run(s, start, k),
        Class::Space => {
            let (end, last) = space_run(s, start);
            let last = if end == start { i } else { last };
            spaces(s, i, end, last, isolate_numbers)
        }
    }
}

/// Class and length of the character at `i`; with `MARKS`, combining
/// marks are `Mark`, else `Other`.
#[inline(always)]
fn class_m<const MARKS: bool>(s: &[u8], i: usize) -> (Class, usize) {
    if MARKS {
        class_with_marks_at(s, i)
    } else {
        class_at(s, i)
    }
}

/// A letter as the pattern sees it: `\p{L}`, or `[\p{L}\p{M}]` with marks.
#[inline(always)]
fn wordish<const MARKS: bool>(k: Class) -> bool {
    k == Class::Letter || (MARKS && k == Class::Mark)
}

/// End of the run of letters (with `MARKS`, letters and marks) at `i`.
#[inline(always)]
fn word_run<const MARKS: bool>(s: &[u8], mut i: usize) -> usize {
    while i < s.len() {
        let (c, n) = class_m::<MARKS>(s, i);
        if !wordish::<MARKS>(c) {
            break;
        }
        i += n;
    }
    i
}

/// End of the run of `Other` characters at `i` (with `MARKS`, marks are
/// not `Other`).
#[inline(always)]
fn other_run<const MARKS: bool>(s: &[u8], mut i: usize) -> usize {
    while i < s.len() {
        let (c, n) = class_m::<MARKS>(s, i);
        if c != Class::Other {
            break;
        }
        i += n;
    }
    i
}

/// One Llama 3 (`max_digits` 3), Qwen 2 (`max_digits` 1) or, with
/// `MARKS`, Qwen 3.5 piece at `i`.
#[inline(always)]
fn llama3_piece<const MARKS: bool>(s: &[u8], i: usize, max_digits: usize) -> usize {
    let b = s[i];
    if b == b'\'' {
        let n = contraction(s, i + 1, true);
        if n > 0 {
            return i + 1 + n;
        }
    }
    let (k, n) = class_m::<MARKS>(s, i);
    let next = i + n;
    // [^\r\n\p{L}\p{N}]?\p{L}+ (with marks: [\p{L}\p{M}]+)
    if wordish::<MARKS>(k) {
        return word_run::<MARKS>(s, next);
    }
    if k != Class::Letter && k != Class::Number && b != b'\r' && b != b'\n' && next < s.len() {
        let (k2, n2) = class_m::<MARKS>(s, next);
        if wordish::<MARKS>(k2) {
            return word_run::<MARKS>(s, next + n2);
        }
    }
    // \p{N}{1,3}
    if k == Class::Number {
        let mut j = next;
        let mut count = 1;
        while count < max_digits && j < s.len() {
            let (k2, n2) = class_at(s, j);
            if k2 != Class::Number {
                break;
            }
            j += n2;
            count += 1;
        }
        return j;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    let other_from = if k == Class::Other {
        Some(next)
    } else if b == b' ' && next < s.len() && class_m::<MARKS>(s, next).0 == Class::Other {
        Some(next + class_at(s, next).1)
    } else {
        None
    };
    if let Some(from) = other_from {
        let mut j = other_run::<MARKS>(s, from);
        while j < s.len() && (s[j] == b'\r' || s[j] == b'\n') {
            j += 1;
        }
        return j;
    }
    // A space: `\s*[\r\n]+`, then `\s+(?!\S)`, then `\s+`.
    let (end, last) = space_run(s, next);
    let last = if end == next { i } else { last };
    let mut j = end;
    while j > i {
        // Step back one character.
        let mut p = j - 1;
        while s[p] & 0xC0 == 0x80 {
            p -= 1;
        }
        if s[p] == b'\r' || s[p] == b'\n' {
            return p + 1;
        }
        j = p;
    }
    spaces(s, i, end, last, false)
}

#[cfg(test)]
mod tests {
    use super::PreTokenizer::*;

    #[test]
    fn gpt2_pieces() {
        assert_eq!(
            Gpt2.pieces("Hello world's  end\n\n x"),
            ["Hello", " world", "'s", " ", " end", "\n\n", " x"]
        );
        assert_eq!(Gpt2.pieces("  a"), [" ", " a"]);
        assert_eq!(Gpt2.pieces("\t\tb"), ["\t", "\t", "b"]);
        assert_eq!(Gpt2.pieces("a  "), ["a", "  "]);
        assert_eq!(Gpt2.pieces("x 123 ?!'s"), ["x", " 123", " ?!'", "s"]);
        assert_eq!(Gpt2.pieces("I'LL"), ["I", "'", "LL"]);
        assert_eq!(Gpt2.pieces(""), Vec::<&str>::new());
    }

    #[test]
    fn smollm_pieces() {
        assert_eq!(
            SmolLm.pieces("ab 123  4x"),
            ["ab", " ", "1", "2", "3", "  ", "4", "x"]
        );
        assert_eq!(SmolLm.pieces("a ٣"), ["a", " ", "٣"]);
    }

    #[test]
    fn qwen35_keeps_marks_with_letters() {
        // "e" + COMBINING ACUTE ACCENT, and a mark after a space.
        assert_eq!(
            Qwen35.pieces("re\u{301}sume\u{301}"),
            ["re\u{301}sume\u{301}"]
        );
        assert_eq!(
            Qwen2.pieces("re\u{301}sume\u{301}"),
            ["re", "\u{301}sume", "\u{301}"]
        );
        assert_eq!(Qwen35.pieces("a \u{301}b"), ["a", " \u{301}b"]);
        assert_eq!(Qwen35.pieces("1\u{301}!"), ["1", "\u{301}", "!"]);
    }

    #[test]
    fn llama3_pieces() {
        assert_eq!(
            Llama3.pieces("I'LL pay 12345!!\n\n  ok\tgo"),
            ["I", "'LL", " pay", " ", "123", "45", "!!\n\n", " ", " ok", "\tgo"]
        );
        assert_eq!(Llama3.pieces("a \n b"), ["a", " \n", " b"]);
        assert_eq!(Qwen2.pieces("12"), ["1", "2"]);
    }
}
