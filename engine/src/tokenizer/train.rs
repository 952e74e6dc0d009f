//! Training a byte-level BPE tokenizer.
//!
//! Words (pre-tokenizer pieces) are counted once; each round merges the
//! most frequent adjacent pair (ties: lowest token ids), updating pair
//! counts only around the merged occurrences, with a lazily checked
//! max-heap of candidate pairs. The result saves as a Hugging Face
//! `tokenizer.json` ([`Tokenizer::to_json`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::bytes::BYTE_TO_CHAR;
use super::hash::FastMap;
use super::vocab::{TokenKind, Vocab};
use super::{PreTokenizer, SpecialIds, Tokenizer};
use crate::{Error, Result};

/// What to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Total tokens wanted: special tokens + 256 bytes + merges.
    pub vocab_size: usize,
    /// Stop when the best pair occurs fewer times than this.
    pub min_frequency: u64,
    /// Special tokens, given the first ids in this order.
    pub special_tokens: Vec<String>,
    pub pre: PreTokenizer,
}

fn key(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

/// Trains on `texts`.
pub fn train<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    opts: &TrainOptions,
) -> Result<Tokenizer> {
    let base = opts.special_tokens.len() + 256;
    if opts.vocab_size < base {
        return Err(Error::Invalid(format!(
            "vocab_size {} is smaller than the {} special tokens plus 256 bytes",
            opts.vocab_size,
            opts.special_tokens.len()
        )));
    }
    // Count words.
    let mut counts: FastMap<&'a [u8], u64> = FastMap::default();
    for t in texts {
        opts.pre.split(t, |p| *counts.entry(p).or_insert(0) += 1);
    }
    let mut texts: Vec<String> = opts.special_tokens.clone();
    let mut kinds = vec![TokenKind::Special; texts.len()];
    let first_byte = texts.len() as u32;
    for c in BYTE_TO_CHAR {
        texts.push(c.to_string());
        kinds.push(TokenKind::Normal);
    }
    let mut index: FastMap<String, u32> = FastMap::default();
    for (i, t) in texts.iter().enumerate() {
        if index.insert(t.clone(), i as u32).is_some() {
            return Err(Error::Invalid(format!(
                "special token {t:?} is listed twice or is a byte token"
            )));
        }
    }
    let mut words: Vec<(Vec<u32>, u64)> = counts
        .iter()
        .map(|(w, &n)| (w.iter().map(|&b| first_byte + b as u32).collect(), n))
        .collect();
    words.sort(); // deterministic
                  // Pair counts and where they occur.
    let mut pairs: FastMap<u64, i64> = FastMap::default();
    let mut places: FastMap<u64, Vec<u32>> = FastMap::default();
    for (w, (syms, n)) in words.iter().enumerate() {
        for p in syms.windows(2) {
            let k = key(p[0], p[1]);
            *pairs.entry(k).or_insert(0) += *n as i64;
            places.entry(k).or_default().push(w as u32);
        }
    }
    let mut heap: BinaryHeap<(i64, Reverse<u64>)> =
        pairs.iter().map(|(&k, &c)| (c, Reverse(k))).collect();
    let mut merges: Vec<(u32, u32)> = Vec::new();
    let min = opts.min_frequency.max(1) as i64;
    let mut touched: Vec<u64> = Vec::new();
    while texts.len() < opts.vocab_size {
        let Some((c, Reverse(k))) = heap.pop() else {
            break;
        };
        let now = pairs.get(&k).copied().unwrap_or(0);
        if now != c {
            if now > 0 {
                heap.push((now, Reverse(k)));
            }
            continue;
        }
        if c < min {
            break;
        }
        let (a, b) = ((k >> 32) as u32, k as u32);
        let joined = format!("{}{}", texts[a as usize], texts[b as usize]);
        let new = match index.get(&joined) {
            Some(&id) => id,
            None => {
                let id = texts.len() as u32;
                index.insert(joined.clone(), id);
                texts.push(joined);
                kinds.push(TokenKind::Normal);
                id
            }
        };
        merges.push((a, b));
        let mut ws = places.remove(&k).unwrap_or_default();
        ws.sort_unstable();
        ws.dedup();
        touched.clear();
        for &w in &ws {
            let (syms, n) = &mut words[w as usize];
            let n = *n as i64;
            let mut i = 0;
            while i + 1 < syms.len() {
                if syms[i] != a || syms[i + 1] != b {
                    i += 1;
                    continue;
                }
                let mut add = |k: u64, d: i64| {
                    *pairs.entry(k).or_insert(0) += d;
                    if d > 0 {
                        places.entry(k).or_default().push(w);
                        touched.push(k);
                    }
                };
                if i > 0 {
                    add(key(syms[i - 1], a), -n);
                    add(key(syms[i - 1], new), n);
                }
                if i + 2 < syms.len() {
                    add(key(b, syms[i + 2]), -n);
                    add(key(new, syms[i + 2]), n);
                }
                add(k, -n);
                syms[i] = new;
                syms.remove(i + 1);
                i += 1;
            }
        }
        pairs.remove(&k);
        touched.sort_unstable();
        touched.dedup();
        for &t in &touched {
            if let Some(&c) = pairs.get(&t) {
                if c > 0 {
                    heap.push((c, Reverse(t)));
                }
            }
        }
    }
    let merge_texts: Vec<(String, String)> = merges
        .iter()
        .map(|&(a, b)| (texts[a as usize].clone(), texts[b as usize].clone()))
        .collect();
    let merge_refs: Vec<(&str, &str)> = merge_texts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let vocab = Vocab::new(texts, kinds)?;
    Tokenizer::build(
        vocab,
        &merge_refs,
        opts.pre.clone(),
        SpecialIds::default(),
        false,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trains_and_round_trips() {
        let text = "the cat sat on the mat. the cat ate the rat! 12345 ";
        let opts = TrainOptions {
            vocab_size: 300,
            min_frequency: 2,
            special_tokens: vec!["<|end|>".into()],
            pre: PreTokenizer::Gpt2,
        };
        let tok = train([text; 10], &opts).unwrap();
        assert!(tok.vocab_size() > 257 && tok.vocab_size() <= 300);
        let ids = tok.encode(text, true, false);
        assert!(ids.len() < 20, "{ids:?}");
        assert_eq!(tok.decode(&ids).unwrap(), text);
        assert_eq!(tok.token_to_id("<|end|>"), Some(0));
        let again = Tokenizer::from_json(&tok.to_json().unwrap()).unwrap();
        assert_eq!(again.encode(text, true, false), ids);
    }
}
