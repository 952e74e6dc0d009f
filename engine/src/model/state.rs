//! What a model remembers between calls: one key/value cache per layer and
//! the number of positions already seen. A chat session keeps its `State`
//! across turns, so each turn only prefills its new tokens.

use crate::error::{Error, Result};
use crate::ops::attention::KvCache;
use crate::tensor::DType;

#[derive(Debug)]
pub struct State {
    pub(crate) caches: Vec<KvCache>,
    capacity: usize,
    /// The cache of a model that runs on another device (the GPU): then
    /// `caches` is empty and this holds the positions.
    pub(crate) device: Option<Box<dyn DeviceCache>>,
}

/// A key/value cache kept on another device, as its model sees it.
pub trait DeviceCache: std::fmt::Debug + Send + Sync {
    /// Positions held.
    fn positions(&self) -> usize;
    fn truncate(&mut self, pos: usize);
    /// Whether feeding can resume at `pos` (a sliding-window layer may have
    /// dropped what it needs).
    fn can_resume_at(&self, pos: usize) -> bool;
    fn bytes(&self) -> usize;
    /// The model downcasts to its own cache type.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
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
        Ok(State {
            caches,
            capacity,
            device: None,
        })
    }

    /// The host caches of a model with `layers` layers, or an error when
    /// this state was made by another model (or for another device).
    pub(crate) fn host_caches(&mut self, layers: usize) -> Result<&mut [KvCache]> {
        if self.device.is_some() || self.caches.len() != layers {
            return Err(Error::Invalid(format!(
                "this state does not belong to the model: it holds {} host layer caches{}, the model has {layers} layers",
                self.caches.len(),
                if self.device.is_some() { " and a GPU cache" } else { "" }
            )));
        }
        Ok(&mut self.caches)
    }

    /// A state whose cache lives on another device.
    pub(crate) fn on_device(capacity: usize, cache: Box<dyn DeviceCache>) -> Self {
        State {
            caches: Vec::new(),
            capacity,
            device: Some(cache),
        }
    }

    /// Positions processed so far (the next token's position).
    pub fn position(&self) -> usize {
        match &self.device {
            Some(d) => d.positions(),
            None => self.caches.first().map_or(0, |c| c.len()),
        }
    }

    /// The element type of the key/value cache.
    pub fn kv_dtype(&self) -> DType {
        self.caches.first().map_or(DType::F32, |c| c.dtype())
    }

    /// Bytes of the key/value cache, all layers.
    pub fn kv_bytes(&self) -> usize {
        self.caches.iter().map(|c| c.bytes()).sum::<usize>()
            + self.device.as_ref().map_or(0, |d| d.bytes())
    }

    /// The most positions this state can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forget everything from position `pos` on (to regenerate, or to drop
    /// a turn from a conversation). A sliding-window layer keeps only its
    /// last window of keys, so going back further than that forgets
    /// everything: check [`State::position`] afterwards for where feeding
    /// resumes.
    pub fn truncate(&mut self, pos: usize) {
        let pos = match self
            .caches
            .iter()
            .all(|c| c.can_resume_at(pos.min(c.len())))
            && self
                .device
                .as_ref()
                .is_none_or(|d| d.can_resume_at(pos.min(d.positions())))
        {
            true => pos,
            false => 0,
        };
        for cache in &mut self.caches {
            cache.truncate(pos);
        }
        if let Some(d) = &mut self.device {
            d.truncate(pos);
        }
    }

    /// Run a forward pass of `tokens` at the next positions through `run`
    /// (which gets the state and the first new position), refusing a batch
    /// that would not fit and, on error, forgetting what earlier layers
    /// already cached. No tokens: no work, no logits.
    pub(crate) fn run_guarded<T: Default>(
        &mut self,
        tokens: &[u32],
        run: impl FnOnce(&mut State, usize) -> Result<T>,
    ) -> Result<T> {
        if tokens.is_empty() {
            return Ok(T::default());
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
