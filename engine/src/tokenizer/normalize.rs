//! What happens to each run of text between added tokens before it is cut
//! into pieces: Unicode NFC, SentencePiece's leading space and its `▁` for
//! spaces.

use std::borrow::Cow;

/// Where a space goes in front of the text (SentencePiece's "dummy
/// prefix", so that a word at the start is spelled as it is mid-sentence).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrefixSpace {
    #[default]
    Never,
    /// Before every run of text: at the start and after each added token
    /// (llama.cpp's `add_space_prefix`; tokenizer.json's `Prepend("▁")` and
    /// Metaspace's `prepend_scheme: "always"`).
    EachRun,
    /// Only before text at the very start of the input (Metaspace's
    /// `prepend_scheme: "first"`).
    FirstRun,
}

/// The normalization of one tokenizer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Normalizer {
    /// Compose to NFC (tokenizer.json's `NFC`).
    pub nfc: bool,
    pub prefix: PrefixSpace,
    /// Leave out the prefix when the text already starts with a space
    /// (tokenizer.json's Metaspace pre-tokenizer does; llama.cpp and the
    /// `Prepend` normalizer do not).
    pub prefix_only_if_missing: bool,
    /// Write each space as `▁` (SentencePiece spelling).
    pub escape_spaces: bool,
}

impl Normalizer {
    /// Whether this leaves every text as it is.
    pub fn is_identity(&self) -> bool {
        *self == Self::default()
    }

    /// The run `text` as the model spells it. `at_start`: the run begins
    /// the input.
    pub fn apply<'a>(&self, text: &'a str, at_start: bool) -> Cow<'a, str> {
        use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
        let text: Cow<str> = if self.nfc && is_nfc_quick(text.chars()) != IsNormalized::Yes {
            Cow::Owned(text.nfc().collect())
        } else {
            Cow::Borrowed(text)
        };
        let prefix = match self.prefix {
            PrefixSpace::Never => false,
            PrefixSpace::EachRun => true,
            PrefixSpace::FirstRun => at_start,
        } && !(self.prefix_only_if_missing
            && (text.starts_with(' ') || text.starts_with('▁')));
        if !prefix && !self.escape_spaces {
            return text;
        }
        let space = if self.escape_spaces { "▁" } else { " " };
        let mut out = String::with_capacity(text.len() + text.len() / 4 + 3);
        if prefix {
            out.push_str(space);
        }
        if self.escape_spaces {
            for (i, part) in text.split(' ').enumerate() {
                if i > 0 {
                    out.push_str(space);
                }
                out.push_str(part);
            }
        } else {
            out.push_str(&text);
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentencepiece_spelling() {
        let spm = Normalizer {
            prefix: PrefixSpace::EachRun,
            escape_spaces: true,
            ..Default::default()
        };
        assert_eq!(spm.apply("Hello world", false), "▁Hello▁world");
        assert_eq!(spm.apply(" Hi", true), "▁▁Hi");
        let first = Normalizer {
            prefix: PrefixSpace::FirstRun,
            prefix_only_if_missing: true,
            escape_spaces: true,
            ..Default::default()
        };
        assert_eq!(first.apply("a b", true), "▁a▁b");
        assert_eq!(first.apply("a b", false), "a▁b");
        assert_eq!(first.apply(" a", true), "▁a");
        let plain = Normalizer::default();
        assert!(matches!(plain.apply("a b", true), Cow::Borrowed("a b")));
        let nfc = Normalizer {
            nfc: true,
            ..Default::default()
        };
        assert_eq!(nfc.apply("e\u{301}", true), "é");
    }
}
