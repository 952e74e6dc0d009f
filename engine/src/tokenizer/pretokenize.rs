//! Pre-tokenizers: split text into the pieces that BPE encodes one at a time.
//!
//! Each one is a hand-written scanner equivalent to a regex from the
//! reference tokenizers (alternatives tried in order at each position, as
//! Perl-style engines do). The patterns, for reference:
//!
//! * GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
//! * Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
//! * Qwen 2: Llama 3's with `\p{N}` for `\p{N}{1,3}`.
//! * SmolLM (and StarCoder): every `\p{N}` character on its own, then GPT-2's
//!   pattern on the text between them.

use super::unicode::{class_at, Class};
use crate::{Error, Result};

/// The pre-tokenizers we implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PreTokenizer {
    Gpt2,
    Llama3,
    Qwen2,
    SmolLm,
}

/// The GPT-2 pattern as Hugging Face's `ByteLevel` pre-tokenizer writes it.
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// The Llama 3 pattern.
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The Qwen 2 pattern.
pub const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

impl PreTokenizer {
    /// The pre-tokenizer for a GGUF `tokenizer.ggml.pre` value.
    pub fn from_gguf_name(name: &str) -> Result<Self> {
        Ok(match name {
            "gpt-2" | "gpt2" => Self::Gpt2,
            "llama3" | "llama-bpe" | "llama-v3" => Self::Llama3,
            "qwen2" => Self::Qwen2,
            "smollm" | "starcoder" | "refact" => Self::SmolLm,
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown pre-tokenizer {name:?} (tokenizer.ggml.pre); known: \
                     gpt-2, llama3 (llama-bpe), qwen2, smollm (starcoder, refact)"
                )))
            }
        })
    }

    /// The pre-tokenizer whose regex is `pattern`, if we know it.
    pub fn from_pattern(pattern: &str) -> Option<Self> {
        match pattern {
            GPT2_PATTERN => Some(Self::Gpt2),
            LLAMA3_PATTERN => Some(Self::Llama3),
            QWEN2_PATTERN => Some(Self::Qwen2),
            _ => None,
        }
    }

    /// The name `from_gguf_name` accepts for this pre-tokenizer.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gpt2 => "gpt-2",
            Self::Llama3 => "llama3",
            Self::Qwen2 => "qwen2",
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
                Self::Llama3 => llama3_piece(s, i, 3),
                Self::Qwen2 => llama3_piece(s, i, 1),
            };
            debug_assert!(j > i);
            // Pieces end on character boundaries by construction.
            f(&text[i..j]);
            i = j;
        }
    }

    /// The pieces of `text` as a vector (for tests and inspection).
    pub fn pieces(self, text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        self.split(text, |p| out.push(p));
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
        Class::Letter | Class::Number | Class::Other => run(s, start, k),
        Class::Space => {
            let (end, last) = space_run(s, start);
            let last = if end == start { i } else { last };
            spaces(s, i, end, last, isolate_numbers)
        }
    }
}

/// One Llama 3 (`max_digits` 3) or Qwen 2 (`max_digits` 1) piece at `i`.
#[inline(always)]
fn llama3_piece(s: &[u8], i: usize, max_digits: usize) -> usize {
    let b = s[i];
    if b == b'\'' {
        let n = contraction(s, i + 1, true);
        if n > 0 {
            return i + 1 + n;
        }
    }
    let (k, n) = class_at(s, i);
    let next = i + n;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if k == Class::Letter {
        return run(s, next, Class::Letter);
    }
    if k != Class::Number && b != b'\r' && b != b'\n' && next < s.len() {
        let (k2, n2) = class_at(s, next);
        if k2 == Class::Letter {
            return run(s, next + n2, Class::Letter);
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
    } else if b == b' ' && next < s.len() && class_at(s, next).0 == Class::Other {
        Some(next + class_at(s, next).1)
    } else {
        None
    };
    if let Some(from) = other_from {
        let mut j = run(s, from, Class::Other);
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
    fn llama3_pieces() {
        assert_eq!(
            Llama3.pieces("I'LL pay 12345!!\n\n  ok\tgo"),
            ["I", "'LL", " pay", " ", "123", "45", "!!\n\n", " ", " ok", "\tgo"]
        );
        assert_eq!(Llama3.pieces("a \n b"), ["a", " \n", " b"]);
        assert_eq!(Qwen2.pieces("12"), ["1", "2"]);
    }
}
