//! SentencePiece's BPE, as llama.cpp runs it for `tokenizer.ggml.model =
//! "llama"` (Llama 2, TinyLlama, Mistral, Phi-3, Gemma).
//!
//! A piece starts as one symbol per character. Any two adjacent symbols
//! whose concatenation is a token may merge, and the merge whose token has
//! the highest score goes first (the leftmost of equal scores). There is no
//! merge list: the scores are the ranks. A final symbol that is not a token
//! (a character the vocabulary lacks) becomes its UTF-8 bytes as `<0xXX>`
//! byte tokens, or the unknown token where the vocabulary has no byte
//! tokens.
//!
//! Text reaches this already escaped: spaces are `▁`, as the vocabulary
//! writes them.
//!
//! For speed, [`Spm::as_bpe`] writes the same merging as BPE over token
//! ids: every way to write a token as two symbols is a merge, ranked by the
//! token's score (equal scores share a rank, and the leftmost goes first,
//! as here). A symbol is a token or a lone character the vocabulary lacks
//! (it can still merge into a token here, so the BPE form names it by a
//! placeholder id).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::bpe::{placeholder, Bpe, CharSymbols, NONE};
use super::vocab::Vocab;
use crate::{Error, Result};

/// Pieces with more characters than this take the heap path.
const SMALL: usize = 48;

/// Scores and fallbacks of a SentencePiece vocabulary.
#[derive(Clone, Debug)]
pub struct Spm {
    /// Merge priority of each token, by id (higher merges first).
    scores: Vec<f32>,
    /// The `<0xXX>` token of each byte (`NONE` where the vocabulary has
    /// none).
    byte_ids: [u32; 256],
    /// Stands for a character with no token whose bytes have none either
    /// (only where a vocabulary's byte tokens are not all there, which
    /// [`Spm::new`] refuses: kept for the BPE form's fallback).
    unk: Option<u32>,
}

impl Spm {
    /// `scores[id]` is token `id`'s score; every token needs one, and none
    /// may be NaN. Characters outside the vocabulary need all 256 byte
    /// tokens (`<0x41>`, or for ASCII the character itself, as llama.cpp
    /// falls back to): a vocabulary without them is refused.
    pub fn new(vocab: &Vocab, scores: Vec<f32>, unk: Option<u32>) -> Result<Self> {
        if scores.len() != vocab.len() {
            return Err(Error::Invalid(format!(
                "SentencePiece vocabulary has {} tokens but {} scores (tokenizer.ggml.scores)",
                vocab.len(),
                scores.len()
            )));
        }
        if let Some(id) = scores.iter().position(|s| s.is_nan()) {
            return Err(Error::Invalid(format!(
                "token {id} ({:?}) has a score that is not a number",
                vocab.text(id as u32).unwrap_or_default()
            )));
        }
        let byte_ids = super::byte_tokens(vocab);
        let missing = byte_ids.iter().filter(|&&id| id == NONE).count();
        if missing > 0 {
            let first = byte_ids.iter().position(|&id| id == NONE).unwrap_or(0);
            return Err(Error::Invalid(format!(
                "SentencePiece vocabulary lacks {missing} of the 256 byte tokens (<0x00>..<0xFF>; \
                 the first missing is <0x{first:02X}>), so text outside it could not be encoded"
            )));
        }
        Ok(Self {
            scores,
            byte_ids,
            unk,
        })
    }

    pub fn scores(&self) -> &[f32] {
        &self.scores
    }

    /// The same merging as rank-based BPE over characters (see the
    /// module's notes); `None` only if the merges do not fit its table.
    pub fn as_bpe(&self, vocab: &Vocab) -> Option<Bpe> {
        // Dense ranks of the distinct scores, highest first.
        let mut distinct = self.scores.clone();
        distinct.sort_unstable_by(|a, b| b.total_cmp(a));
        distinct.dedup_by(|a, b| a.total_cmp(b).is_eq());
        let rank = |s: f32| distinct.binary_search_by(|d| s.total_cmp(d)).unwrap_or(0) as u32;
        // The symbol `x` is: its token, or the placeholder of a lone
        // character without one; anything else is never a symbol.
        let symbol = |x: &str| {
            vocab.id(x).or_else(|| {
                let mut it = x.chars();
                let c = it.next()?;
                it.next().is_none().then(|| placeholder(c))
            })
        };
        let mut merges = Vec::new();
        for t in vocab.texts() {
            let Some(merged) = vocab.id(t) else { continue };
            let r = rank(self.scores[merged as usize]);
            for (cut, _) in t.char_indices().skip(1) {
                if let (Some(a), Some(b)) = (symbol(&t[..cut]), symbol(&t[cut..])) {
                    merges.push((a, b, merged, r));
                }
            }
        }
        let chars = CharSymbols::new(
            vocab.texts().iter().filter_map(|t| {
                let mut it = t.chars();
                let c = it.next()?;
                it.next().is_none().then_some(c).zip(vocab.id(t))
            }),
            Some(self.byte_ids),
            self.unk,
            false,
        );
        Some(
            Bpe::with_ranks([NONE; 256], &merges)
                .ok()?
                .over_chars(chars),
        )
    }

    /// Appends the tokens of `piece` to `out`.
    pub fn encode_piece(&self, vocab: &Vocab, piece: &str, out: &mut Vec<u32>) {
        // Symbol i is piece[starts[i]..starts[i + 1]].
        let mut starts: Vec<u32> = piece.char_indices().map(|(i, _)| i as u32).collect();
        starts.push(piece.len() as u32);
        let n = starts.len() - 1;
        if n == 0 {
            return;
        }
        let ends = if n <= SMALL {
            self.merge_small(vocab, piece, &starts)
        } else {
            self.merge_large(vocab, piece, &starts)
        };
        for (a, b) in ends {
            self.emit(vocab, &piece[a as usize..b as usize], out);
        }
    }

    /// The token `text` is, or its fallback.
    fn emit(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        if let Some(id) = vocab.id(text) {
            out.push(id);
            return;
        }
        // Only a single character can miss: every merge makes a token.
        if text.bytes().all(|b| self.byte_ids[b as usize] != NONE) {
            out.extend(text.bytes().map(|b| self.byte_ids[b as usize]));
        } else {
            out.extend(self.unk);
        }
    }

    /// The score and token of merging the symbols spanning `a..b`.
    #[inline]
    fn candidate(&self, vocab: &Vocab, piece: &str, a: u32, b: u32) -> Option<f32> {
        vocab
            .id(&piece[a as usize..b as usize])
            .map(|id| self.scores[id as usize])
    }

    /// Scan for the best pair each round. Returns the symbols' spans.
    fn merge_small(&self, vocab: &Vocab, piece: &str, starts: &[u32]) -> Vec<(u32, u32)> {
        let mut bounds: Vec<u32> = starts.to_vec();
        // best[i]: the score of merging symbols i and i + 1.
        let mut best: Vec<Option<f32>> = (0..bounds.len().saturating_sub(2))
            .map(|i| self.candidate(vocab, piece, bounds[i], bounds[i + 2]))
            .collect();
        loop {
            let mut at = usize::MAX;
            let mut top = f32::NEG_INFINITY;
            for (i, s) in best.iter().enumerate() {
                if let Some(s) = *s {
                    // `>` keeps the leftmost of equal scores.
                    if at == usize::MAX || s > top {
                        top = s;
                        at = i;
                    }
                }
            }
            if at == usize::MAX {
                break;
            }
            // Merge symbols `at` and `at + 1`: drop the boundary between.
            bounds.remove(at + 1);
            best.remove(at);
            if at > 0 {
                best[at - 1] = self.candidate(vocab, piece, bounds[at - 1], bounds[at + 1]);
            }
            if at + 2 < bounds.len() {
                best[at] = self.candidate(vocab, piece, bounds[at], bounds[at + 2]);
            }
        }
        bounds.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// A heap of candidate merges over a linked list of symbols: a long
    /// piece costs `O(n log n)`.
    fn merge_large(&self, vocab: &Vocab, piece: &str, starts: &[u32]) -> Vec<(u32, u32)> {
        let n = starts.len() - 1;
        // Symbol i spans start[i]..end[i]; a merged-away symbol has start
        // == end.
        let start: Vec<u32> = starts[..n].to_vec();
        let mut end: Vec<u32> = starts[1..].to_vec();
        let mut next: Vec<u32> = (1..=n as u32).collect();
        next[n - 1] = NONE;
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        let mut heap = BinaryHeap::with_capacity(n);
        let push = |heap: &mut BinaryHeap<Candidate>, l: u32, r: u32, end: &[u32]| {
            if l == NONE || r == NONE {
                return;
            }
            let (a, b) = (start[l as usize], end[r as usize]);
            if let Some(score) = self.candidate(vocab, piece, a, b) {
                heap.push(Candidate {
                    score,
                    left: l,
                    right: r,
                    len: b - a,
                });
            }
        };
        for i in 0..n as u32 - 1 {
            push(&mut heap, i, i + 1, &end);
        }
        while let Some(c) = heap.pop() {
            let (l, r) = (c.left as usize, c.right as usize);
            // Stale: one side was merged since (sizes only ever grow, so an
            // unchanged total means both sides are as they were).
            let l_len = end[l] - start[l];
            let r_len = end[r] - start[r];
            if l_len == 0 || r_len == 0 || l_len + r_len != c.len {
                continue;
            }
            end[l] = end[r];
            end[r] = start[r];
            next[l] = next[r];
            if next[l] != NONE {
                prev[next[l] as usize] = c.left;
            }
            push(&mut heap, prev[l], c.left, &end);
            push(&mut heap, c.left, next[l], &end);
        }
        let mut spans = Vec::new();
        let mut i = 0u32;
        while i != NONE {
            spans.push((start[i as usize], end[i as usize]));
            i = next[i as usize];
        }
        spans
    }
}

/// A possible merge of two adjacent symbols.
struct Candidate {
    score: f32,
    left: u32,
    right: u32,
    /// Bytes the two symbols spanned when this was pushed.
    len: u32,
}

impl Ord for Candidate {
    /// The heap's top is the highest score, then the leftmost.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.left.cmp(&self.left))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::vocab::{byte_token_text, Spelling, TokenKind};

    /// A toy vocabulary: the bytes, then `words` with scores.
    fn toy(words: &[(&str, f32)]) -> (Vocab, Spm) {
        let mut texts: Vec<String> = vec!["<unk>".into()];
        let mut kinds = vec![TokenKind::Other];
        let mut scores = vec![0.0];
        for b in 0..=255u8 {
            texts.push(byte_token_text(b));
            kinds.push(TokenKind::Byte);
            scores.push(0.0);
        }
        for &(w, s) in words {
            texts.push(w.into());
            kinds.push(TokenKind::Normal);
            scores.push(s);
        }
        let vocab = Vocab::with_spelling(texts, kinds, Spelling::Metaspace).unwrap();
        let spm = Spm::new(&vocab, scores, Some(0)).unwrap();
        (vocab, spm)
    }

    fn texts(vocab: &Vocab, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&id| vocab.text(id).unwrap().to_string())
            .collect()
    }

    #[test]
    fn highest_score_merges_first() {
        let (v, spm) = toy(&[
            ("a", -1.0),
            ("b", -1.0),
            ("c", -1.0),
            ("ab", -5.0),
            ("bc", -2.0),
            ("abc", -9.0),
        ]);
        let mut out = vec![];
        spm.encode_piece(&v, "abc", &mut out);
        // bc (-2) beats ab (-5); then a + bc = abc.
        assert_eq!(texts(&v, &out), ["abc"]);
        out.clear();
        spm.encode_piece(&v, "abab", &mut out);
        assert_eq!(texts(&v, &out), ["ab", "ab"]);
        // A character outside the vocabulary: its bytes.
        out.clear();
        spm.encode_piece(&v, "aé", &mut out);
        assert_eq!(texts(&v, &out), ["a", "<0xC3>", "<0xA9>"]);
    }

    #[test]
    fn small_and_large_agree() {
        let (v, spm) = toy(&[
            ("a", -1.0),
            ("b", -1.5),
            ("aa", -2.0),
            ("ab", -2.0),
            ("ba", -3.0),
            ("aab", -4.0),
            ("abab", -4.0),
            ("bb", -2.5),
        ]);
        let mut text = String::new();
        for i in 0..300u32 {
            text.push(if (i * 7 + i / 3) % 5 < 3 { 'a' } else { 'b' });
            if i % 41 == 0 {
                text.push('z');
            }
        }
        for len in [1, 2, 3, 10, SMALL, SMALL + 1, 100, 300] {
            let piece: String = text.chars().take(len).collect();
            let mut starts: Vec<u32> = piece.char_indices().map(|(i, _)| i as u32).collect();
            starts.push(piece.len() as u32);
            assert_eq!(
                spm.merge_small(&v, &piece, &starts),
                spm.merge_large(&v, &piece, &starts),
                "len {len}"
            );
        }
    }

    #[test]
    fn the_bpe_form_merges_alike() {
        // Equal scores (ab, ba: -2) go leftmost, as in the score merging.
        let (v, spm) = toy(&[
            ("a", -1.0),
            ("b", -1.5),
            ("aa", -2.0),
            ("ab", -2.0),
            ("ba", -2.0),
            ("aab", -4.0),
            ("abab", -4.0),
            ("bb", -2.5),
        ]);
        let bpe = spm.as_bpe(&v).unwrap();
        for text in ["abab", "baab", "aabba", "ababababbbab", "aéba", "bbbbbbb"] {
            let mut slow = vec![];
            spm.encode_piece(&v, text, &mut slow);
            let mut fast = vec![];
            bpe.encode_piece(text.as_bytes(), &mut fast);
            assert_eq!(fast, slow, "{text}");
        }
        // A token that ends in a character with no token of its own.
        let (v, spm) = toy(&[("a", -1.0), ("aé", -1.0)]);
        let bpe = spm.as_bpe(&v).unwrap();
        for text in ["aé", "éa", "aéé", "éaé"] {
            let mut slow = vec![];
            spm.encode_piece(&v, text, &mut slow);
            let mut fast = vec![];
            bpe.encode_piece(text.as_bytes(), &mut fast);
            assert_eq!(fast, slow, "{text}");
        }
    }

    #[test]
    fn bad_vocabularies_are_errors() {
        let v = Vocab::with_spelling(
            vec!["a".into(), "b".into()],
            vec![TokenKind::Normal; 2],
            Spelling::Metaspace,
        )
        .unwrap();
        let e = Spm::new(&v, vec![0.0], None).unwrap_err().to_string();
        assert!(e.contains("2 tokens but 1 scores"), "{e}");
        let e = Spm::new(&v, vec![0.0, f32::NAN], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("token 1") && e.contains("not a number"), "{e}");
        let e = Spm::new(&v, vec![0.0, 0.0], Some(1))
            .unwrap_err()
            .to_string();
        // (ASCII bytes may fall back to their own character's token.)
        assert!(e.contains("lacks 254 of the 256 byte tokens"), "{e}");
        assert!(e.contains("the first missing is <0x00>"), "{e}");
    }
}
