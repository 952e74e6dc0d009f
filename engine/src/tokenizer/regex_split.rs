//! Pre-tokenizers that are a list of splitting steps, for the patterns
//! without a hand-written scanner (DeepSeek, Falcon, Qwen 3.5, GPT-4o, ...,
//! and any `tokenizer.json` regex).
//!
//! Each step cuts every piece the step before left, as Hugging Face's
//! `Split` does: the pattern's matches and the text between them become
//! pieces, then the step's [`Behavior`] decides what to keep and what to
//! join. llama.cpp's lists of regexes for `tokenizer.ggml.pre` are the same
//! thing with every step `Isolated`. Regexes run on `fancy-regex`
//! (leftmost-first backtracking with look-arounds, as Oniguruma in
//! `tokenizers`).
//!
//! A step that comes after `ByteLevel` in a tokenizer.json sees the text as
//! `tokenizers` does there: in the byte-level alphabet, one character per
//! byte (`é` is `Ã©`). Its cuts may then fall inside a UTF-8 character, so
//! pieces are byte strings.

use super::pretokenize::Scanner;
use crate::{Error, Result};

/// What a split step does with the pattern's matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Matches and the text between them are all pieces.
    Isolated,
    /// Matches are dropped.
    Removed,
    /// A match joins the piece before it.
    MergedWithPrevious,
    /// A match joins the piece after it.
    MergedWithNext,
    /// Adjacent matches join into one piece.
    Contiguous,
}

impl Behavior {
    /// The behaviour Hugging Face names `name`.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "Isolated" => Self::Isolated,
            "Removed" => Self::Removed,
            "MergedWithPrevious" => Self::MergedWithPrevious,
            "MergedWithNext" => Self::MergedWithNext,
            "Contiguous" => Self::Contiguous,
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown split behavior {name:?} (known: Isolated, Removed, \
                     MergedWithPrevious, MergedWithNext, Contiguous)"
                )))
            }
        })
    }
}

/// What a step looks for.
#[derive(Clone, Debug)]
pub enum Finder {
    Regex(Box<fancy_regex::Regex>),
    /// A hand-written scanner: every piece it cuts counts as a match.
    Scanner(Scanner),
}

/// One splitting step.
#[derive(Clone, Debug)]
pub struct Step {
    pub finder: Finder,
    pub behavior: Behavior,
    /// Treat the text between matches as the matches, and the other way
    /// round.
    pub invert: bool,
    /// Match against the byte-level spelling of the text (a step after
    /// `ByteLevel`).
    pub byte_level: bool,
}

impl Step {
    /// An `Isolated` step for `pattern`; a pattern that does not compile
    /// is an error that names it.
    pub fn regex(pattern: &str, behavior: Behavior, invert: bool) -> Result<Self> {
        // Backtracking is bounded so that a hostile pattern fails with an
        // error instead of hanging the encoder.
        let re = fancy_regex::RegexBuilder::new(pattern)
            .backtrack_limit(1_000_000)
            .build()
            .map_err(|e| {
                Error::Invalid(format!(
                    "pre-tokenizer regex {pattern:?} does not compile: {e}"
                ))
            })?;
        Ok(Self {
            finder: Finder::Regex(Box::new(re)),
            behavior,
            invert,
            byte_level: false,
        })
    }

    pub fn scanner(scanner: Scanner) -> Self {
        Self {
            finder: Finder::Scanner(scanner),
            behavior: Behavior::Isolated,
            invert: false,
            byte_level: false,
        }
    }

    /// This step, matching against the byte-level spelling.
    pub fn on_byte_level(mut self) -> Self {
        self.byte_level = true;
        self
    }

    /// Calls `f` with `(start, end, is_match)` for consecutive spans that
    /// cover `text`.
    fn spans(&self, text: &str, mut f: impl FnMut(usize, usize, bool)) {
        match &self.finder {
            Finder::Scanner(s) => {
                let mut at = 0;
                s.split(text, |piece| {
                    f(at, at + piece.len(), !self.invert);
                    at += piece.len();
                });
            }
            Finder::Regex(re) => {
                let mut at = 0;
                for m in re.find_iter(text) {
                    // A regex that exceeds its backtracking budget ends the
                    // matching here: the rest of the text stays one piece
                    // (never a panic, never a hang).
                    let Ok(m) = m else { break };
                    if m.start() == m.end() {
                        // An empty match still cuts (superbpe's digit
                        // groups are look-aheads).
                        if at < m.start() {
                            f(at, m.start(), self.invert);
                            at = m.start();
                        }
                        continue;
                    }
                    if at < m.start() {
                        f(at, m.start(), self.invert);
                    }
                    f(m.start(), m.end(), !self.invert);
                    at = m.end();
                }
                if at < text.len() {
                    f(at, text.len(), self.invert);
                }
            }
        }
    }

    /// The pieces of the bytes `piece` after this step, as byte ranges
    /// offset by `base`, appended to `out`.
    fn apply_bytes(&self, piece: &[u8], base: usize, out: &mut Vec<(usize, usize)>) {
        if !self.byte_level {
            // Earlier steps cut only between characters.
            let text = std::str::from_utf8(piece).unwrap_or_default();
            return self.apply(text, base, out);
        }
        // Match on the byte-level spelling, where character i is byte i;
        // `at[k]` is the byte of the piece at offset k of the spelling.
        let spelled = super::bytes::bytes_to_text(piece);
        let mut at = vec![0usize; spelled.len() + 1];
        for (i, (k, _)) in spelled.char_indices().enumerate() {
            at[k] = i;
        }
        at[spelled.len()] = piece.len();
        let start = out.len();
        self.apply(&spelled, 0, out);
        for r in &mut out[start..] {
            *r = (base + at[r.0], base + at[r.1]);
        }
    }

    /// The pieces of `text` after this step, as byte ranges offset by
    /// `base`, appended to `out`.
    fn apply(&self, text: &str, base: usize, out: &mut Vec<(usize, usize)>) {
        // A span waiting to be joined by what follows (MergedWithNext) or
        // by another match (Contiguous).
        let mut open: Option<(usize, usize, bool)> = None;
        // The last piece is text between matches (MergedWithPrevious).
        let mut after_text = false;
        let emit = |out: &mut Vec<(usize, usize)>, a: usize, b: usize| {
            out.push((base + a, base + b));
        };
        self.spans(text, |a, b, hit| match self.behavior {
            Behavior::Isolated => emit(out, a, b),
            Behavior::Removed => {
                if !hit {
                    emit(out, a, b)
                }
            }
            Behavior::MergedWithPrevious => {
                // A match joins the text just before it, never another match.
                match out.last_mut() {
                    Some(last) if hit && after_text && last.1 == base + a => last.1 = base + b,
                    _ => emit(out, a, b),
                }
                after_text = !hit;
            }
            Behavior::MergedWithNext => match open.take() {
                Some((s, _, _)) => {
                    if hit {
                        emit(out, s, a);
                        open = Some((a, b, true));
                    } else {
                        emit(out, s, b);
                    }
                }
                None if hit => open = Some((a, b, true)),
                None => emit(out, a, b),
            },
            Behavior::Contiguous => match open.take() {
                Some((s, _, true)) if hit => open = Some((s, b, true)),
                Some((s, e, _)) => {
                    emit(out, s, e);
                    open = Some((a, b, hit));
                }
                None => open = Some((a, b, hit)),
            },
        });
        if let Some((s, e, _)) = open {
            out.push((base + s, base + e));
        }
    }
}

/// A pre-tokenizer made of steps.
#[derive(Clone, Debug)]
pub struct RegexSplit {
    /// The name it goes by (a `tokenizer.ggml.pre` value, or `custom`).
    pub name: String,
    pub steps: Vec<Step>,
}

impl PartialEq for RegexSplit {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.patterns() == other.patterns()
    }
}

impl RegexSplit {
    /// llama.cpp's form: every step an `Isolated` regex.
    pub fn isolated(name: &str, patterns: &[&str]) -> Result<Self> {
        Ok(Self {
            name: name.to_string(),
            steps: patterns
                .iter()
                .map(|p| Step::regex(p, Behavior::Isolated, false))
                .collect::<Result<_>>()?,
        })
    }

    /// The steps' regexes (a scanner shows as its name).
    pub fn patterns(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| match &s.finder {
                Finder::Regex(re) => re.as_str().to_string(),
                Finder::Scanner(sc) => format!("<{}>", sc.name()),
            })
            .collect()
    }

    /// Calls `f` with each piece of `text`, in order (as bytes: a step on
    /// the byte-level spelling may cut inside a character).
    pub fn split<'a>(&self, text: &'a str, mut f: impl FnMut(&'a [u8])) {
        let bytes = text.as_bytes();
        let mut pieces = vec![(0, text.len())];
        let mut next = Vec::new();
        for step in &self.steps {
            next.clear();
            for &(a, b) in &pieces {
                step.apply_bytes(&bytes[a..b], a, &mut next);
            }
            std::mem::swap(&mut pieces, &mut next);
        }
        for (a, b) in pieces {
            if a < b {
                f(&bytes[a..b]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(split: &RegexSplit, text: &str) -> Vec<String> {
        let mut out = vec![];
        split.split(text, |p| out.push(String::from_utf8_lossy(p).into_owned()));
        out
    }

    fn one(pattern: &str, behavior: Behavior, invert: bool) -> RegexSplit {
        RegexSplit {
            name: "test".into(),
            steps: vec![Step::regex(pattern, behavior, invert).unwrap()],
        }
    }

    #[test]
    fn behaviors_match_hugging_face() {
        // The examples of tokenizers' SplitDelimiterBehavior docs, on "-".
        let text = "the-final--countdown";
        let cases = [
            (Behavior::Removed, vec!["the", "final", "countdown"]),
            (
                Behavior::Isolated,
                vec!["the", "-", "final", "-", "-", "countdown"],
            ),
            (
                Behavior::MergedWithPrevious,
                vec!["the-", "final-", "-", "countdown"],
            ),
            (
                Behavior::MergedWithNext,
                vec!["the", "-final", "-", "-countdown"],
            ),
            (
                Behavior::Contiguous,
                vec!["the", "-", "final", "--", "countdown"],
            ),
        ];
        for (b, want) in cases {
            assert_eq!(pieces(&one("-", b, false), text), want, "{b:?}");
        }
        // Inverted: the words are the matches.
        assert_eq!(
            pieces(&one("[a-z]+", Behavior::Removed, true), text),
            ["the", "final", "countdown"]
        );
    }

    #[test]
    fn steps_apply_in_turn() {
        let s = RegexSplit::isolated("t", &[r"\p{N}+", r"[a-z]+"]).unwrap();
        assert_eq!(pieces(&s, "ab12cd ef"), ["ab", "12", "cd", " ", "ef"]);
    }

    #[test]
    fn steps_after_byte_level_see_one_character_per_byte() {
        // "²" is C2 B2, spelled "Â²": \p{N} finds only its second byte.
        let s = RegexSplit {
            name: "t".into(),
            steps: vec![Step::regex(r"\p{N}", Behavior::Isolated, false)
                .unwrap()
                .on_byte_level()],
        };
        let mut out: Vec<Vec<u8>> = vec![];
        s.split("a²b", |p| out.push(p.to_vec()));
        assert_eq!(out, [b"a\xC2".to_vec(), b"\xB2".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn a_bad_pattern_is_an_error() {
        let e = RegexSplit::isolated("t", &["(unclosed"]).unwrap_err();
        assert!(e.to_string().contains("does not compile"), "{e}");
    }
}
