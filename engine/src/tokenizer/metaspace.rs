//! Cutting SentencePiece-spelled text (spaces written `▁`) into pieces
//! that encode on their own, without changing a single id.
//!
//! llama.cpp merges a whole run of text at once; SentencePiece text has no
//! pre-tokenizer. But a merge only ever joins symbols into a token (or a
//! merge result), so a token that reaches across the gap between two
//! characters `p` and `c` contains `pc`. Where no token does, the text can
//! be cut there: the merges on each side are the same as before, and the
//! same words then hit the word cache. The cut rule is the vocabulary's
//! set of adjacent character pairs; for Llama's vocabulary that cuts before
//! most spaces and around most punctuation.

use super::hash::FastMap;

/// The space as SentencePiece writes it.
const SPACE: char = '▁';

/// Which adjacent character pairs some token contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaspaceSplit {
    /// Runs of `\n` are pieces of their own, and never cut (Gemma 4 splits
    /// so, as llama.cpp does).
    pub newline_runs: bool,
    /// Bit `c` of row `p`: ASCII `pc` occurs.
    ascii: Box<[u128; 128]>,
    /// Bit `p`: ASCII `p▁` occurs; bit `c`: `▁c` occurs.
    before_space: u128,
    after_space: u128,
    space_space: bool,
    /// Every other pair, as `(p << 32) | c`.
    other: FastMap<u64, ()>,
}

impl MetaspaceSplit {
    /// The cut rule for a vocabulary whose tokens (and merge results) are
    /// `texts`.
    pub fn for_texts<'a>(texts: impl IntoIterator<Item = &'a str>, newline_runs: bool) -> Self {
        let mut m = Self {
            newline_runs,
            ascii: Box::new([0; 128]),
            before_space: 0,
            after_space: 0,
            space_space: false,
            other: FastMap::default(),
        };
        for t in texts {
            let mut chars = t.chars();
            let Some(mut p) = chars.next() else { continue };
            for c in chars {
                m.add(p, c);
                p = c;
            }
        }
        m
    }

    fn add(&mut self, p: char, c: char) {
        match (p, c) {
            (SPACE, SPACE) => self.space_space = true,
            (p, SPACE) if p.is_ascii() => self.before_space |= 1 << p as u32,
            (SPACE, c) if c.is_ascii() => self.after_space |= 1 << c as u32,
            (p, c) if p.is_ascii() && c.is_ascii() => self.ascii[p as usize] |= 1 << c as u32,
            (p, c) => {
                self.other.insert(((p as u64) << 32) | c as u64, ());
            }
        }
    }

    /// Whether some token contains `pc`.
    #[inline]
    fn joined(&self, p: char, c: char) -> bool {
        match (p, c) {
            (SPACE, SPACE) => self.space_space,
            (p, SPACE) if p.is_ascii() => self.before_space & (1 << p as u32) != 0,
            (SPACE, c) if c.is_ascii() => self.after_space & (1 << c as u32) != 0,
            (p, c) if p.is_ascii() && c.is_ascii() => self.ascii[p as usize] & (1 << c as u32) != 0,
            (p, c) => self.other.contains_key(&(((p as u64) << 32) | c as u64)),
        }
    }

    /// Whether a piece may end between `p` and `c`.
    #[inline]
    fn cut(&self, p: char, c: char) -> bool {
        if self.newline_runs && (p == '\n' || c == '\n') {
            return (p == '\n') != (c == '\n');
        }
        !self.joined(p, c)
    }

    pub fn split<'a>(&self, text: &'a str, mut f: impl FnMut(&'a str)) {
        let mut start = 0;
        let mut prev: Option<char> = None;
        for (i, c) in text.char_indices() {
            if let Some(p) = prev {
                if self.cut(p, c) {
                    f(&text[start..i]);
                    start = i;
                }
            }
            prev = Some(c);
        }
        if start < text.len() {
            f(&text[start..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces<'a>(m: &MetaspaceSplit, text: &'a str) -> Vec<&'a str> {
        let mut out = vec![];
        m.split(text, |p| out.push(p));
        out
    }

    #[test]
    fn cuts_only_where_no_token_reaches_across() {
        let m =
            MetaspaceSplit::for_texts(["▁the", "▁▁", ">▁</", "th", "he", "ca", "at", "é▁"], false);
        assert_eq!(
            pieces(&m, "▁the▁▁cat>▁</a▁bé▁x"),
            ["▁the", "▁▁", "cat", ">▁</", "a", "▁", "b", "é▁", "x"]
        );
        let lines = MetaspaceSplit::for_texts(["ab", "b\n"], true);
        assert_eq!(pieces(&lines, "ab\n\nab"), ["ab", "\n\n", "ab"]);
    }
}
