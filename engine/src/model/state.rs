//! What a model remembers between calls: one key/value cache per layer and
//! the number of positions already seen. A chat session keeps its `State`
//! across turns, so each turn only prefills its new tokens.

use crate::error::{Error, Result};
use crate::ops::attention::KvCache;
use crate::tensor::DType;

#[derive(Debug, Clone)]
pub struct State {
    pub(crate) caches: Vec<KvCache>,
    capacity: usize,
}

impl State {
    pub(crate) fn new(
        n_layers: usize,
        capacity: usize,
        n_kv_heads: usize,
        head_dim: usize,
        kv_dtype: DType,
    ) -> Result<Self> {
        let caches = (0..n_layers)
            .map(|_| KvCache::new(capacity, n_kv_heads, head_dim, kv_dtype))
            .collect::<Result<_>>()?;
        Ok(State { caches, capacity })
    }

    /// Positions processed so far (the next token's position).
    pub fn position(&self) -> usize {
        self.caches.first().map_or(0, |c| c.len())
    }

    /// The element type of the key/value cache.
    pub fn kv_dtype(&self) -> DType {
        self.caches.first().map_or(DType::F32, |c| c.dtype())
    }

    /// Bytes of the key/value cache, all layers.
    pub fn kv_bytes(&self) -> usize {
        self.caches.iter().map(|c| c.bytes()).sum()
    }

    /// The most positions this state can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forget everything from position `pos` on (to regenerate, or to drop
    /// a turn from a conversation).
    pub fn truncate(&mut self, pos: usize) {
        for cache in &mut self.caches {
            cache.truncate(pos);
        }
    }

    /// Run a forward pass of `tokens` at the next positions through `run`
    /// (which gets the state and the first new position), refusing a batch
    /// that would not fit and, on error, forgetting what earlier layers
    /// already cached. No tokens: no work, no logits.
    pub(crate) fn run_guarded(
        &mut self,
        tokens: &[u32],
        run: impl FnOnce(&mut State, usize) -> Result<Vec<f32>>,
    ) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        self.check_room(tokens.len())?;
        let pos0 = self.position();
        let result = run(self, pos0);
        if result.is_err() {
            self.truncate(pos0);
        }
        result
    }

    /// Refuse, before any work, a batch that would not fit.
    pub(crate) fn check_room(&self, new_tokens: usize) -> Result<()> {
        let end = self.position() + new_tokens;
        if end > self.capacity {
            return Err(Error::Invalid(format!(
                "context full: {} positions held + {new_tokens} new exceed the context of {}",
                self.position(),
                self.capacity
            )));
        }
        Ok(())
    }
}
