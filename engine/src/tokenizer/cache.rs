//! A per-thread cache of recently encoded pieces: most words recur, and a
//! hash lookup is cheaper than merging again. Per thread, so encoding takes
//! no lock; keyed by tokenizer so two tokenizers never share entries.

use std::cell::RefCell;

use super::hash::FastMap;

/// Entries kept before the cache starts over.
const CAPACITY: usize = 1 << 16;
/// Longer pieces are not worth keeping (SentencePiece's pieces run from
/// space to space, punctuation included, so they are longer than BPE's).
const MAX_PIECE: usize = 64;

#[derive(Default)]
pub struct WordCache {
    owner: u64,
    map: FastMap<Box<[u8]>, (u32, u32)>,
    ids: Vec<u32>,
}

impl WordCache {
    #[inline]
    pub fn get(&self, piece: &[u8]) -> Option<&[u32]> {
        let &(at, len) = self.map.get(piece)?;
        Some(&self.ids[at as usize..(at + len) as usize])
    }

    #[inline]
    pub fn insert(&mut self, piece: &[u8], ids: &[u32]) {
        if piece.len() > MAX_PIECE {
            return;
        }
        if self.map.len() >= CAPACITY {
            self.map.clear();
            self.ids.clear();
        }
        let at = self.ids.len() as u32;
        self.ids.extend_from_slice(ids);
        self.map.insert(piece.into(), (at, ids.len() as u32));
    }
}

thread_local! {
    static CACHE: RefCell<WordCache> = RefCell::new(WordCache::default());
}

/// Runs `f` with this thread's cache for tokenizer `owner`.
pub fn with<R>(owner: u64, f: impl FnOnce(&mut WordCache) -> R) -> R {
    CACHE.with(|c| match c.try_borrow_mut() {
        Ok(mut c) => {
            if c.owner != owner {
                c.owner = owner;
                c.map.clear();
                c.ids.clear();
            }
            f(&mut c)
        }
        // Re-entered (cannot happen today): work without a cache.
        Err(_) => f(&mut WordCache::default()),
    })
}
