//! WordPiece, as llama.cpp runs it for `tokenizer.ggml.model = "bert"`
//! (BERT and its embedding models, such as BGE).
//!
//! The text is normalized as BERT's normalizer does (lower case, marks
//! stripped after NFD, control characters dropped), cut into words at
//! whitespace, with each punctuation mark, ASCII symbol and CJK ideograph a
//! word of its own. Each word, with `▁` in front (llama.cpp's GGUF spells a
//! word's start so, and its continuations without BERT's `##`), is covered
//! greedily by the longest tokens from the left; a word that cannot be
//! covered is the unknown token.

use fancy_regex::Regex;

use super::special::Matcher;
use super::unicode::{class_of, Class};
use super::vocab::Vocab;
use crate::{Error, Result};

/// The vocabulary's longest-match encoder.
#[derive(Clone, Debug)]
pub struct WordPiece {
    /// Every token, in a byte trie: a position costs the length of the
    /// longest token that starts there, not a lookup per possible length.
    tokens: Matcher,
    unk: Option<u32>,
    lowercase: bool,
    strip_accents: bool,
    control: Regex,
    accent: Regex,
    punctuation: Regex,
}

/// CJK ideographs, which BERT treats as words of their own (the ranges of
/// Hugging Face's `_is_chinese_char`).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// The simple lower case of `c` (one character, as llama.cpp's table has).
fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

impl WordPiece {
    pub fn new(
        vocab: &Vocab,
        unk: Option<u32>,
        lowercase: bool,
        strip_accents: bool,
    ) -> Result<Self> {
        let class = |p: &str| {
            Regex::new(p).map_err(|e| Error::Invalid(format!("WordPiece class {p}: {e}")))
        };
        Ok(Self {
            tokens: Matcher::new(
                vocab
                    .texts()
                    .iter()
                    .enumerate()
                    .map(|(id, t)| (t.clone(), id as u32, false)),
            ),
            unk,
            lowercase,
            strip_accents,
            // As llama.cpp's tables: unassigned code points are not
            // control characters, and every mark is an accent.
            control: class(r"^[\p{Cc}\p{Cf}\p{Co}\p{Cs}]$")?,
            accent: class(r"^\p{M}$")?,
            punctuation: class(r"^\p{P}$")?,
        })
    }

    fn is(&self, re: &Regex, c: char) -> bool {
        let mut buf = [0u8; 4];
        re.is_match(c.encode_utf8(&mut buf)).unwrap_or(false)
    }

    /// The words of `text`, normalized.
    pub fn words(&self, text: &str) -> Vec<String> {
        use unicode_normalization::UnicodeNormalization;
        let chars: Vec<char> = if self.strip_accents {
            text.nfd().collect()
        } else {
            text.chars().collect()
        };
        let mut words = vec![String::new()];
        for c in chars {
            if class_of(c) == Class::Space {
                if !words.last().is_some_and(String::is_empty) {
                    words.push(String::new());
                }
                continue;
            }
            if c == '\0' || c == '\u{FFFD}' || self.is(&self.control, c) {
                continue;
            }
            if self.strip_accents && !c.is_ascii() && self.is(&self.accent, c) {
                continue;
            }
            let c = if self.lowercase { lower(c) } else { c };
            let alone = c.is_ascii_punctuation()
                || (!c.is_ascii() && self.is(&self.punctuation, c))
                || is_cjk(c);
            let last = words.last_mut().expect("words is never empty");
            if alone {
                if !last.is_empty() {
                    words.push(String::new());
                }
                let last = words.last_mut().expect("words is never empty");
                last.push(c);
                words.push(String::new());
            } else {
                last.push(c);
            }
        }
        if words.last().is_some_and(String::is_empty) {
            words.pop();
        }
        words
    }

    /// Appends the tokens of `text` (a run between added tokens) to `out`.
    pub fn encode(&self, text: &str, out: &mut Vec<u32>) {
        for word in self.words(text) {
            let word = format!("▁{word}");
            let start = out.len();
            let mut rest = word.as_bytes();
            while !rest.is_empty() {
                match self.tokens.longest_prefix(rest) {
                    Some((id, len)) => {
                        out.push(id);
                        rest = &rest[len..];
                    }
                    None => {
                        // The whole word is unknown.
                        out.truncate(start);
                        break;
                    }
                }
            }
            if out.len() == start {
                out.extend(self.unk);
            }
        }
    }
}
