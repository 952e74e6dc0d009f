//! Finding added tokens (`<|im_start|>`, user-defined tokens) in text
//! before BPE sees it: leftmost match first, longest at that position (as
//! Hugging Face `tokenizers` does). A token may take the whitespace on its
//! left or right with it (`lstrip` / `rstrip` in tokenizer.json).

/// A run of plain text, or an added token found in the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Token(u32),
}

#[derive(Clone, Debug)]
struct Entry {
    content: Box<[u8]>,
    id: u32,
    special: bool,
    lstrip: bool,
    rstrip: bool,
}

/// The added tokens, indexed by first byte.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    entries: Vec<Entry>,
    /// Entries starting with each byte, longest first.
    by_first: Vec<Vec<u32>>,
    /// Bit `b` of word `b / 64`: some token starts with `b`. [any, non-special]
    first: [[u64; 4]; 2],
}

impl Matcher {
    /// `tokens`: (content, id, special). Empty contents are ignored.
    pub fn new(tokens: impl IntoIterator<Item = (String, u32, bool)>) -> Self {
        let mut m = Matcher {
            by_first: vec![Vec::new(); 256],
            ..Default::default()
        };
        for (content, id, special) in tokens {
            if content.is_empty() {
                continue;
            }
            let b = content.as_bytes()[0] as usize;
            m.first[0][b / 64] |= 1 << (b % 64);
            if !special {
                m.first[1][b / 64] |= 1 << (b % 64);
            }
            m.by_first[b].push(m.entries.len() as u32);
            m.entries.push(Entry {
                content: content.into_bytes().into(),
                id,
                special,
                lstrip: false,
                rstrip: false,
            });
        }
        let entries = &m.entries;
        for list in &mut m.by_first {
            list.sort_by_key(|&e| std::cmp::Reverse(entries[e as usize].content.len()));
        }
        m
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `(lstrip, rstrip)` flags of token `id`.
    pub fn strip_of(&self, id: u32) -> (bool, bool) {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .map_or((false, false), |e| (e.lstrip, e.rstrip))
    }

    /// Makes token `id` take the whitespace on its left (`lstrip`) and
    /// right (`rstrip`) along when it is found.
    pub fn set_strip(&mut self, id: u32, lstrip: bool, rstrip: bool) {
        for e in self.entries.iter_mut().filter(|e| e.id == id) {
            e.lstrip = lstrip;
            e.rstrip = rstrip;
        }
    }

    /// The (content, id, special) of every added token.
    pub fn tokens(&self) -> impl Iterator<Item = (&[u8], u32, bool)> {
        self.entries
            .iter()
            .map(|e| (&e.content[..], e.id, e.special))
    }

    /// Splits `text` into plain text and added tokens. Special tokens are
    /// found only with `parse_special`; others always.
    pub fn split<'a>(&self, text: &'a str, parse_special: bool, mut f: impl FnMut(Segment<'a>)) {
        if self.entries.is_empty() {
            if !text.is_empty() {
                f(Segment::Text(text));
            }
            return;
        }
        let first = &self.first[if parse_special { 0 } else { 1 }];
        let s = text.as_bytes();
        let mut plain = 0;
        let mut i = 0;
        while i < s.len() {
            let b = s[i] as usize;
            if first[b / 64] & (1 << (b % 64)) != 0 {
                let hit = self.by_first[b]
                    .iter()
                    .map(|&e| &self.entries[e as usize])
                    .find(|e| (parse_special || !e.special) && s[i..].starts_with(&e.content));
                if let Some(e) = hit {
                    let mut before = &text[plain..i];
                    if e.lstrip {
                        before = before.trim_end();
                    }
                    if !before.is_empty() {
                        f(Segment::Text(before));
                    }
                    f(Segment::Token(e.id));
                    i += e.content.len();
                    if e.rstrip {
                        i += text[i..].len() - text[i..].trim_start().len();
                    }
                    plain = i;
                    continue;
                }
            }
            i += 1;
        }
        if plain < s.len() {
            f(Segment::Text(&text[plain..]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftmost_longest() {
        let m = Matcher::new([
            ("<a>".to_string(), 1, true),
            ("<a><b>".to_string(), 2, true),
            ("hey".to_string(), 3, false),
        ]);
        let mut out = vec![];
        m.split("x<a><b>y<a>hey", true, |s| out.push(s));
        use Segment::*;
        assert_eq!(out, [Text("x"), Token(2), Text("y"), Token(1), Token(3)]);
        out.clear();
        m.split("x<a>hey!", false, |s| out.push(s));
        assert_eq!(out, [Text("x<a>"), Token(3), Text("!")]);
    }

    #[test]
    fn strips_take_whitespace_along() {
        let mut m = Matcher::new([("<a>".to_string(), 1, true), ("<b>".to_string(), 2, true)]);
        m.set_strip(1, true, true);
        let mut out = vec![];
        m.split("x  <a> \n y<b> z", true, |s| out.push(s));
        use Segment::*;
        assert_eq!(out, [Text("x"), Token(1), Text("y"), Token(2), Text(" z")]);
        out.clear();
        m.split("  <a>  ", true, |s| out.push(s));
        assert_eq!(out, [Token(1)]);
    }
}
