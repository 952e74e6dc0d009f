//! The BPE merge loop over token ids.
//!
//! A piece starts as one token per byte and repeatedly merges the adjacent
//! pair with the lowest merge rank, leftmost first. Short pieces use a plain
//! scan; long ones a heap over a linked list, so a megabyte with no spaces
//! costs `O(n log n)`, not `O(n²)`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::hash::FastMap;
use crate::{Error, Result};

/// No token, or no merge.
pub const NONE: u32 = u32::MAX;
/// Pieces with more bytes than this take the heap path.
const SMALL: usize = 48;

/// Merge table and byte tokens of a byte-level BPE model.
#[derive(Clone, Debug)]
pub struct Bpe {
    /// `(left << 32) | right` → `(rank << 32) | merged`.
    merges: FastMap<u64, u64>,
    /// Token of each single byte; `NONE` where the vocabulary has none (such
    /// bytes are dropped, as the reference implementations do).
    byte_ids: [u32; 256],
    n_merges: usize,
}

#[inline(always)]
fn key(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

impl Bpe {
    /// `merges[i]` is the pair of token ids merged with rank `i` and the
    /// token they become. A pair listed twice keeps its first (lowest) rank.
    pub fn new(byte_ids: [u32; 256], merges: &[(u32, u32, u32)]) -> Result<Self> {
        let mut map = FastMap::default();
        map.reserve(merges.len());
        for (rank, &(a, b, m)) in merges.iter().enumerate() {
            if a == NONE || b == NONE || m == NONE {
                return Err(Error::Invalid(format!(
                    "merge {rank} uses an invalid token id"
                )));
            }
            map.entry(key(a, b))
                .or_insert(((rank as u64) << 32) | m as u64);
        }
        Ok(Self {
            merges: map,
            byte_ids,
            n_merges: merges.len(),
        })
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

    /// Appends the tokens of one piece to `out`.
    #[inline]
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
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
        if out.len() - start <= SMALL {
            self.merge_small(out, start);
        } else {
            self.merge_large(out, start);
        }
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
                // Ranks are unique, so `<` keeps the leftmost of equal pairs.
                if r < best {
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
