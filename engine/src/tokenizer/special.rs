//! Finding added tokens (`<|im_start|>`, user-defined tokens) in text
//! before BPE sees it: leftmost match first, longest at that position (as
//! Hugging Face `tokenizers` does). A token may take the whitespace on its
//! left or right with it (`lstrip` / `rstrip` in tokenizer.json).
//!
//! The tokens live in a byte trie, so a position costs the length of the
//! longest token that starts there, however many tokens there are (Gemma's
//! vocabulary has 6,000 control tokens that start with `<`).

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

/// No entry.
const NONE: u32 = u32::MAX;

/// A trie node: the entry that ends here (any, and the first that is not
/// special), and the children by next byte, sorted.
#[derive(Clone, Debug)]
struct Node {
    any: u32,
    plain: u32,
    children: Vec<(u8, u32)>,
}

impl Node {
    fn new() -> Self {
        Self {
            any: NONE,
            plain: NONE,
            children: Vec::new(),
        }
    }

    #[inline]
    fn child(&self, b: u8) -> Option<u32> {
        self.children
            .binary_search_by_key(&b, |&(c, _)| c)
            .ok()
            .map(|i| self.children[i].1)
    }
}

/// The added tokens, in a trie.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    entries: Vec<Entry>,
    /// Node 0 is the root.
    nodes: Vec<Node>,
    /// Bit `b` of word `b / 64`: some token starts with `b`. [any, non-special]
    first: [[u64; 4]; 2],
}

impl Matcher {
    /// `tokens`: (content, id, special). Empty contents are ignored.
    pub fn new(tokens: impl IntoIterator<Item = (String, u32, bool)>) -> Self {
        let mut m = Matcher {
            nodes: vec![Node::new()],
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
            let entry = m.entries.len() as u32;
            let mut node = 0usize;
            for &byte in content.as_bytes() {
                node = match m.nodes[node].child(byte) {
                    Some(next) => next as usize,
                    None => {
                        let next = m.nodes.len();
                        m.nodes.push(Node::new());
                        let children = &mut m.nodes[node].children;
                        let at = children.partition_point(|&(c, _)| c < byte);
                        children.insert(at, (byte, next as u32));
                        next
                    }
                };
            }
            // The first token with a text keeps it.
            let end = &mut m.nodes[node];
            if end.any == NONE {
                end.any = entry;
            }
            if !special && end.plain == NONE {
                end.plain = entry;
            }
            m.entries.push(Entry {
                content: content.into_bytes().into(),
                id,
                special,
                lstrip: false,
                rstrip: false,
            });
        }
        m
    }

    /// The id and length of the longest token of any kind that `s` starts
    /// with (WordPiece's longest match).
    pub fn longest_prefix(&self, s: &[u8]) -> Option<(u32, usize)> {
        self.longest(s, true).map(|e| (e.id, e.content.len()))
    }

    /// The longest token allowed here that starts at `s[0]`.
    #[inline]
    fn longest(&self, s: &[u8], parse_special: bool) -> Option<&Entry> {
        let mut node = &self.nodes[0];
        let mut best = None;
        for &b in s {
            let Some(next) = node.child(b) else { break };
            node = &self.nodes[next as usize];
            let e = if parse_special { node.any } else { node.plain };
            if e != NONE {
                best = Some(&self.entries[e as usize]);
            }
        }
        best
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
                if let Some(e) = self.longest(&s[i..], parse_special) {
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
