//! The BPE merge loop over token ids.
//!
//! A piece starts as one token per byte (byte-level BPE: GPT-2, Llama 3,
//! Qwen) or per character (BPE over SentencePiece-spelled text: Gemma 4,
//! and `tokenizer.json` files with `byte_fallback`), and repeatedly merges
//! the adjacent pair with the lowest merge rank, leftmost first. Short
//! pieces use a plain scan; long ones a heap over a linked list, so a
//! megabyte with no spaces costs `O(n log n)`, not `O(n²)`. A character
//! with no token of its own stays a placeholder through the merges and
//! then falls back to its bytes' `<0xXX>` tokens, or to the unknown token.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::hash::FastMap;
use crate::{Error, Result};

/// No token, or no merge.
pub const NONE: u32 = u32::MAX;
/// Marks a placeholder symbol: a character (in the low bits) with no
/// token. Token ids stay below this (the vocabulary refuses 2^31 tokens).
const PLACEHOLDER: u32 = 1 << 31;

/// The symbol of a character with no token: merges may name it (see
/// `Spm::as_bpe`), and what is left of it falls back.
pub fn placeholder(c: char) -> u32 {
    PLACEHOLDER | c as u32
}
/// Pieces with more bytes than this take the heap path.
const SMALL: usize = 48;

/// Merge table and first symbols of a BPE model.
#[derive(Clone, Debug)]
pub struct Bpe {
    /// `(left << 32) | right` → `(rank << 32) | merged`.
    merges: FastMap<u64, u64>,
    /// Token of each single byte; `NONE` where the vocabulary has none (such
    /// bytes are dropped, as the reference implementations do). Byte-level
    /// models only.
    byte_ids: [u32; 256],
    /// Per-character first symbols, for models over characters.
    chars: Option<Box<CharSymbols>>,
    n_merges: usize,
}

/// The first symbols of a BPE model over characters, and what stands for a
/// character that has no token.
#[derive(Clone, Debug)]
pub struct CharSymbols {
    /// Token of each ASCII character (`NONE` if none).
    ascii: [u32; 128],
    other: FastMap<char, u32>,
    /// `<0xXX>` token of each byte, if the model falls back to bytes.
    byte_fallback: Option<[u32; 256]>,
    unk: Option<u32>,
    /// Consecutive unknown tokens become one (tokenizer.json's `fuse_unk`).
    fuse_unk: bool,
}

impl CharSymbols {
    /// `token(c)`: the token of character `c`, if any.
    pub fn new(
        chars: impl IntoIterator<Item = (char, u32)>,
        byte_fallback: Option<[u32; 256]>,
        unk: Option<u32>,
        fuse_unk: bool,
    ) -> Self {
        let mut ascii = [NONE; 128];
        let mut other = FastMap::default();
        for (c, id) in chars {
            if (c as u32) < 128 {
                if ascii[c as usize] == NONE {
                    ascii[c as usize] = id;
                }
            } else {
                other.entry(c).or_insert(id);
            }
        }
        Self {
            ascii,
            other,
            byte_fallback,
            unk,
            fuse_unk,
        }
    }

    #[inline]
    fn symbol(&self, c: char) -> u32 {
        let id = if (c as u32) < 128 {
            self.ascii[c as usize]
        } else {
            self.other.get(&c).copied().unwrap_or(NONE)
        };
        if id == NONE {
            PLACEHOLDER | c as u32
        } else {
            id
        }
    }

    /// Replaces the placeholders in `out[start..]` by their fallback.
    fn fall_back(&self, out: &mut Vec<u32>, start: usize) {
        let symbols = out.split_off(start);
        let mut buf = [0u8; 4];
        for s in symbols {
            if s & PLACEHOLDER == 0 {
                out.push(s);
                continue;
            }
            let c = char::from_u32(s & !PLACEHOLDER).unwrap_or('\u{FFFD}');
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            if let Some(ids) = &self.byte_fallback {
                if bytes.iter().all(|&b| ids[b as usize] != NONE) {
                    out.extend(bytes.iter().map(|&b| ids[b as usize]));
                    continue;
                }
            }
            if let Some(unk) = self.unk {
                if !(self.fuse_unk && out.len() > start && out.last() == Some(&unk)) {
                    out.push(unk);
                }
            }
        }
    }
}

#[inline(always)]
fn key(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

impl Bpe {
    /// `merges[i]` is the pair of token ids merged with rank `i` and the
    /// token they become. A pair listed twice keeps its first (lowest) rank.
    pub fn new(byte_ids: [u32; 256], merges: &[(u32, u32, u32)]) -> Result<Self> {
        let ranked: Vec<(u32, u32, u32, u32)> = merges
            .iter()
            .enumerate()
            .map(|(rank, &(a, b, m))| (a, b, m, rank as u32))
            .collect();
        Self::with_ranks(byte_ids, &ranked)
    }

    /// `merges[i]` is `(a, b, merged, rank)`: merges may share a rank, and
    /// then the leftmost goes first.
    pub fn with_ranks(byte_ids: [u32; 256], merges: &[(u32, u32, u32, u32)]) -> Result<Self> {
        let mut map = FastMap::default();
        map.reserve(merges.len());
        for (i, &(a, b, m, rank)) in merges.iter().enumerate() {
            if a == NONE || b == NONE || m == NONE || rank == u32::MAX {
                return Err(Error::Invalid(format!(
                    "merge {i} uses an invalid token id or rank"
                )));
            }
            map.entry(key(a, b))
                .or_insert(((rank as u64) << 32) | m as u64);
        }
        Ok(Self {
            merges: map,
            byte_ids,
            chars: None,
            n_merges: merges.len(),
        })
    }

    /// A model over characters rather than bytes.
    pub fn over_chars(mut self, chars: CharSymbols) -> Self {
        self.chars = Some(Box::new(chars));
        self
    }

    /// Whether this model's first symbols are characters.
    pub fn is_char_level(&self) -> bool {
        self.chars.is_some()
    }

    /// For a model over characters: whether it falls back to byte tokens,
    /// and whether it fuses unknown tokens.
    pub fn fallback_options(&self) -> Option<(bool, bool)> {
        self.chars
            .as_ref()
            .map(|c| (c.byte_fallback.is_some(), c.fuse_unk))
    }

    pub fn n_merges(&self) -> usize {
        self.n_merges
    }

    pub fn byte_id(&self, b: u8) -> u32 {
        self.byte_ids[b as usize]
    }

    /// Rank and result of merging `a` and `b`, packed; `u64::MAX` if none.
    #[inline(always)]
    fn lookup(&self, a: u32, b: u32) -> u64 {
        match self.merges.get(&key(a, b)) {
            Some(&v) => v,
            None => u64::MAX,
        }
    }

    /// Appends the tokens of one piece to `out`. A model over characters
    /// gets whole characters (its pre-tokenizers never cut inside one).
    #[inline]
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        match &self.chars {
            None => self.encode_bytes(piece, out),
            Some(chars) => {
                let piece = String::from_utf8_lossy(piece);
                let start = out.len();
                let mut placeholders = false;
                out.extend(piece.chars().map(|c| {
                    let s = chars.symbol(c);
                    placeholders |= s & PLACEHOLDER != 0;
                    s
                }));
                self.merge(out, start);
                if placeholders {
                    chars.fall_back(out, start);
                }
            }
        }
    }

    #[inline]
    fn merge(&self, out: &mut Vec<u32>, start: usize) {
        if out.len() - start <= SMALL {
            self.merge_small(out, start);
        } else {
            self.merge_large(out, start);
        }
    }

    /// [`encode_piece`](Self::encode_piece) for a byte-level model.
    #[inline]
    fn encode_bytes(&self, piece: &[u8], out: &mut Vec<u32>) {
        if piece.len() == 1 {
            let id = self.byte_ids[piece[0] as usize];
            if id != NONE {
                out.push(id);
            }
            return;
        }
        let start = out.len();
        out.extend(
            piece
                .iter()
                .map(|&b| self.byte_ids[b as usize])
                .filter(|&id| id != NONE),
        );
        self.merge(out, start);
    }

    /// Scan for the best pair each round; `out[start..]` holds the symbols.
    fn merge_small(&self, out: &mut Vec<u32>, start: usize) {
        let n = out.len() - start;
        if n < 2 {
            return;
        }
        let mut ranks = [u64::MAX; SMALL];
        let syms = &mut out[start..];
        for i in 0..n - 1 {
            ranks[i] = self.lookup(syms[i], syms[i + 1]);
        }
        let mut len = n;
        loop {
            let mut best = u64::MAX;
            let mut at = 0;
            for (i, &r) in ranks[..len - 1].iter().enumerate() {
                // `<` on the rank keeps the leftmost of equal ranks (only
                // SentencePiece's merges share ranks: equal scores).
                if (r >> 32) < (best >> 32) {
                    best = r;
                    at = i;
                }
            }
            if best == u64::MAX {
                break;
            }
            syms[at] = best as u32;
            syms.copy_within(at + 2..len, at + 1);
            if at + 2 < len {
                ranks.copy_within(at + 2..len - 1, at + 1);
            }
            len -= 1;
            ranks[len - 1] = u64::MAX;
            if at > 0 {
                ranks[at - 1] = self.lookup(syms[at - 1], syms[at]);
            }
            if at + 1 < len {
                ranks[at] = self.lookup(syms[at], syms[at + 1]);
            } else if at < len {
                ranks[at] = u64::MAX;
            }
            if len == 1 {
                break;
            }
        }
        out.truncate(start + len);
    }

    /// Heap of candidate pairs over a doubly linked list of symbols.
    fn merge_large(&self, out: &mut Vec<u32>, start: usize) {
        let n = out.len() - start;
        let ids = &out[start..];
        let mut next: Vec<u32> = (1..=n as u32).collect();
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        next[n - 1] = NONE;
        let mut sym: Vec<u32> = ids.to_vec();
        let mut heap = BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            let r = self.lookup(sym[i], sym[i + 1]);
            if r != u64::MAX {
                heap.push(Reverse(((r >> 32) as u32, i as u32)));
            }
        }
        while let Some(Reverse((rank, pos))) = heap.pop() {
            let p = pos as usize;
            if sym[p] == NONE {
                continue;
            }
            let q = next[p];
            if q == NONE {
                continue;
            }
            let r = self.lookup(sym[p], sym[q as usize]);
            if r == u64::MAX || (r >> 32) as u32 != rank {
                continue;
            }
            sym[p] = r as u32;
            sym[q as usize] = NONE;
            let after = next[q as usize];
            next[p] = after;
            if after != NONE {
                prev[after as usize] = pos;
                let r = self.lookup(sym[p], sym[after as usize]);
                if r != u64::MAX {
                    heap.push(Reverse(((r >> 32) as u32, pos)));
                }
            }
            let before = prev[p];
            if before != NONE {
                let r = self.lookup(sym[before as usize], sym[p]);
                if r != u64::MAX {
                    heap.push(Reverse(((r >> 32) as u32, before)));
                }
            }
        }
        out.truncate(start);
        let mut i = 0u32;
        while i != NONE {
            out.push(sym[i as usize]);
            i = next[i as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Bpe {
        // Tokens: 0..256 bytes, 256 = "ab", 257 = "abab", 258 = "aa", 259 = "aaa".
        let mut bytes = [NONE; 256];
        for (b, id) in bytes.iter_mut().enumerate() {
            *id = b as u32;
        }
        bytes[b'z' as usize] = NONE;
        let a = b'a' as u32;
        let b = b'b' as u32;
        Bpe::new(
            bytes,
            &[(a, b, 256), (256, 256, 257), (a, a, 258), (258, a, 259)],
        )
        .unwrap()
    }

    #[test]
    fn small_and_large_agree() {
        let bpe = toy();
        let mut text = Vec::new();
        for i in 0..400u32 {
            text.push(if (i * 7 + i / 3) % 5 < 3 { b'a' } else { b'b' });
            if i % 37 == 0 {
                text.push(b'z');
            }
        }
        for len in [0, 1, 2, 3, 5, 17, SMALL, SMALL + 1, 100, 400] {
            let piece = &text[..len];
            let mut small = Vec::new();
            small.extend(piece.iter().map(|&b| bpe.byte_id(b)).filter(|&x| x != NONE));
            if small.len() <= SMALL {
                bpe.merge_small(&mut small, 0);
            } else {
                // Compare with the scan on a large buffer by chunks: use a
                // reference quadratic merge instead.
                small = reference(&bpe, piece);
            }
            let mut large: Vec<u32> = piece
                .iter()
                .map(|&b| bpe.byte_id(b))
                .filter(|&x| x != NONE)
                .collect();
            if large.len() >= 2 {
                bpe.merge_large(&mut large, 0);
            }
            assert_eq!(small, large, "len {len}");
            assert_eq!(small, reference(&bpe, piece), "len {len}");
        }
        let mut out = vec![];
        bpe.encode_piece(b"aaaab", &mut out);
        assert_eq!(out, [259, 256]);
        out.clear();
        bpe.encode_piece(b"abzab", &mut out);
        assert_eq!(out, [257]);
    }

    #[test]
    fn characters_without_tokens_fall_back_after_the_merges() {
        // Tokens: 0 <unk>, 1..=256 the byte tokens, 257 a, 258 b, 259 ab.
        let mut bytes = [NONE; 256];
        for (b, id) in bytes.iter_mut().enumerate() {
            *id = 1 + b as u32;
        }
        let chars = CharSymbols::new([('a', 257), ('b', 258)], Some(bytes), Some(0), true);
        let bpe = Bpe::new([NONE; 256], &[(257, 258, 259)])
            .unwrap()
            .over_chars(chars);
        let mut out = vec![];
        bpe.encode_piece("abéab".as_bytes(), &mut out);
        assert_eq!(out, [259, 1 + 0xC3, 1 + 0xA9, 259]);
        // Without byte tokens: one unknown token per run (fuse_unk).
        let chars = CharSymbols::new([('a', 257), ('b', 258)], None, Some(0), true);
        let bpe = Bpe::new([NONE; 256], &[(257, 258, 259)])
            .unwrap()
            .over_chars(chars);
        out.clear();
        bpe.encode_piece("aéèb".as_bytes(), &mut out);
        assert_eq!(out, [257, 0, 258]);
    }

    fn reference(bpe: &Bpe, piece: &[u8]) -> Vec<u32> {
        let mut s: Vec<u32> = piece
            .iter()
            .map(|&b| bpe.byte_id(b))
            .filter(|&x| x != NONE)
            .collect();
        loop {
            let best = (0..s.len().saturating_sub(1))
                .map(|i| (bpe.lookup(s[i], s[i + 1]), i))
                .min();
            match best {
                Some((r, i)) if r != u64::MAX => {
                    s[i] = r as u32;
                    s.remove(i + 1);
                }
                _ => return s,
            }
        }
    }
}
