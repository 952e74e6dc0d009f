//! Causal self-attention with grouped-query heads over a key/value cache.

use super::launch;
use crate::backend::cpu::attention::{self as cpu, Dims, KvRows};
use crate::backend::cpu::simd;
use crate::error::{Error, Result};
use crate::profile::Cost;
use crate::tensor::DType;

use half::f16;

/// One layer's keys and values, `[capacity, n_kv_heads, head_dim]` each.
/// Positions `0..len()` hold data. Stored as f32, or as f16 to halve the
/// cache (as llama.cpp does by default).
#[derive(Debug, Clone)]
pub struct KvCache {
    n_kv_heads: usize,
    head_dim: usize,
    capacity: usize,
    len: usize,
    /// A sliding-window layer's cache keeps only what its queries can still
    /// see: row `r` holds position `base + r`, and positions before `base`
    /// are gone (see [`KvCache::write`]). Without a window `base` is 0.
    window: Option<usize>,
    base: usize,
    store: Store,
}

#[derive(Debug, Clone)]
enum Store {
    F32 { keys: Vec<f32>, values: Vec<f32> },
    F16 { keys: Vec<f16>, values: Vec<f16> },
}

impl KvCache {
    /// An empty cache for `capacity` positions, stored as `dtype` (F32 or F16).
    pub fn new(capacity: usize, n_kv_heads: usize, head_dim: usize, dtype: DType) -> Result<Self> {
        if !matches!(dtype, DType::F32 | DType::F16) {
            return Err(Error::DType {
                op: "KvCache (use F32 or F16)".into(),
                dtype: dtype.to_string(),
            });
        }
        if n_kv_heads == 0 || head_dim == 0 {
            return Err(Error::Invalid(format!(
                "KvCache: needs at least one head of at least one dimension, got {n_kv_heads} × {head_dim}"
            )));
        }
        n_kv_heads
            .checked_mul(head_dim)
            .and_then(|row| row.checked_mul(capacity))
            .and_then(|n| n.checked_mul(2 * dtype.block_bytes()))
            .ok_or_else(|| Error::Invalid(format!("KvCache: capacity {capacity} is too large")))?;
        // Nothing is allocated until positions are written: the capacity
        // is a limit, not a reservation (see `reserve`).
        let store = match dtype {
            DType::F16 => Store::F16 {
                keys: Vec::new(),
                values: Vec::new(),
            },
            _ => Store::F32 {
                keys: Vec::new(),
                values: Vec::new(),
            },
        };
        Ok(KvCache {
            n_kv_heads,
            head_dim,
            capacity,
            len: 0,
            window: None,
            base: 0,
            store,
        })
    }

    pub fn dtype(&self) -> DType {
        match self.store {
            Store::F32 { .. } => DType::F32,
            Store::F16 { .. } => DType::F16,
        }
    }

    /// Bytes the cache has allocated (keys and values). It grows as
    /// positions are written, up to the capacity.
    pub fn bytes(&self) -> usize {
        2 * self.allocated_positions()
            * self.n_kv_heads
            * self.head_dim
            * self.dtype().block_bytes()
    }

    /// The sliding window this cache serves (set by its first attention
    /// call), and the first position it still holds.
    pub fn window(&self) -> Option<usize> {
        self.window
    }
    pub fn first_held(&self) -> usize {
        self.base
    }

    /// Whether the next positions can be fed from `pos` on: the keys the
    /// queries there see are still held.
    pub fn can_resume_at(&self, pos: usize) -> bool {
        pos <= self.len
            && match self.window {
                Some(w) => pos.saturating_sub(w - 1) >= self.base || pos == 0,
                None => true,
            }
    }

    fn set_window(&mut self, window: Option<usize>) -> Result<()> {
        if self.window != window {
            if self.len > 0 {
                return Err(Error::Invalid(format!(
                    "attention: a cache filled for window {:?} used with window {window:?}",
                    self.window
                )));
            }
            self.window = window;
        }
        Ok(())
    }

    fn allocated_positions(&self) -> usize {
        let elements = match &self.store {
            Store::F32 { keys, .. } => keys.len(),
            Store::F16 { keys, .. } => keys.len(),
        };
        elements / (self.n_kv_heads * self.head_dim)
    }

    /// Make room for the first `positions` positions (at most the
    /// capacity), doubling what is allocated so appending one position at
    /// a time stays cheap. A failed allocation is an error, not an abort.
    fn reserve(&mut self, positions: usize) -> Result<()> {
        let have = self.allocated_positions();
        if positions <= have {
            return Ok(());
        }
        let grown = positions.max(2 * have).min(self.capacity);
        let len = grown * self.n_kv_heads * self.head_dim;
        let failed = |_| {
            Error::Invalid(format!(
                "KvCache: out of memory growing the key/value cache to {grown} positions"
            ))
        };
        match &mut self.store {
            Store::F32 { keys, values } => {
                grow_zeroed(keys, len).map_err(failed)?;
                grow_zeroed(values, len).map_err(failed)?;
            }
            Store::F16 { keys, values } => {
                grow_zeroed(keys, len).map_err(failed)?;
                grow_zeroed(values, len).map_err(failed)?;
            }
        }
        Ok(())
    }

    fn rows(&self) -> KvRows<'_> {
        match &self.store {
            Store::F32 { keys, values } => KvRows::F32 {
                keys,
                values,
                first: self.base,
            },
            Store::F16 { keys, values } => KvRows::F16 {
                keys,
                values,
                first: self.base,
            },
        }
    }

    /// A windowed cache drops the positions no query from `pos0` on can
    /// see, less a window's margin kept so that going back a few tokens (to
    /// regenerate) needs no recomputation, once they fill a window's worth
    /// of rows: the rows still kept (fewer than two windows) move to the
    /// front, so each position is moved at most about twice.
    fn forget_unseen(&mut self, pos0: usize) {
        let Some(w) = self.window else {
            return;
        };
        let keep_from = pos0.saturating_sub(w.saturating_mul(2) - 1).min(self.len);
        if keep_from < self.base.saturating_add(w) {
            return;
        }
        let row = self.n_kv_heads * self.head_dim;
        let (from, to) = ((keep_from - self.base) * row, (self.len - self.base) * row);
        // After a long prompt, give back what the window no longer needs.
        let shrink = self.allocated_positions() > w.saturating_mul(8);
        match &mut self.store {
            Store::F32 { keys, values } => {
                move_to_front(keys, from..to, shrink);
                move_to_front(values, from..to, shrink);
            }
            Store::F16 { keys, values } => {
                move_to_front(keys, from..to, shrink);
                move_to_front(values, from..to, shrink);
            }
        }
        self.base = keep_from;
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Positions written so far.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn n_kv_heads(&self) -> usize {
        self.n_kv_heads
    }
    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// Forget positions from `len` on (to regenerate from an earlier point).
    /// A windowed cache that no longer holds what position `len` needs
    /// (see [`KvCache::can_resume_at`]) forgets everything.
    pub fn truncate(&mut self, len: usize) {
        if self.can_resume_at(len.min(self.len)) {
            self.len = self.len.min(len);
        } else {
            self.len = 0;
            self.base = 0;
        }
    }

    /// Mix the cached values with a (possibly edited) attention pattern
    /// `[n_heads, T, len()]` into `z` `[T, n_heads, head_dim]`: what
    /// attention outputs for that pattern. For inspection, not speed.
    pub fn mix_values(
        &self,
        pattern: &[f32],
        n_heads: usize,
        t: usize,
        z: &mut [f32],
    ) -> Result<()> {
        let (keys, hd, kvh) = (self.len, self.head_dim, self.n_kv_heads);
        if !n_heads.is_multiple_of(kvh)
            || pattern.len() != n_heads * t * keys
            || z.len() != t * n_heads * hd
        {
            return Err(Error::Invalid(format!(
                "attention pattern: expected [{n_heads}, {t}, {keys}] probabilities for [{t}, {n_heads}, {hd}] outputs, got {} and {}",
                pattern.len(),
                z.len()
            )));
        }
        let group = n_heads / kvh;
        // A windowed cache no longer holds positions before `base`.
        if self.base > 0 {
            for (i, w) in pattern.iter().enumerate() {
                if i % keys < self.base && *w != 0.0 {
                    return Err(Error::Invalid(format!(
                        "attention pattern: weight on position {} which this sliding-window layer no longer holds (it keeps {}..{})",
                        i % keys,
                        self.base,
                        self.len
                    )));
                }
            }
        }
        let value = |k: usize, kv: usize, i: usize| -> f32 {
            if k < self.base {
                return 0.0;
            }
            let at = ((k - self.base) * kvh + kv) * hd + i;
            match &self.store {
                Store::F32 { values, .. } => values[at],
                Store::F16 { values, .. } => values[at].to_f32(),
            }
        };
        for q in 0..t {
            for h in 0..n_heads {
                let weights = &pattern[(h * t + q) * keys..][..keys];
                let out = &mut z[(q * n_heads + h) * hd..][..hd];
                for (i, o) in out.iter_mut().enumerate() {
                    *o = weights
                        .iter()
                        .enumerate()
                        .map(|(k, &w)| w * value(k, h / group, i))
                        .sum();
                }
            }
        }
        Ok(())
    }

    /// Store keys and values `[T, n_kv_heads, head_dim]` for positions
    /// `pos0..pos0 + T`, forgetting anything after them. `pos0` may not
    /// leave a gap after the positions already held.
    pub fn write(&mut self, pos0: usize, k: &[f32], v: &[f32]) -> Result<usize> {
        let row = self.n_kv_heads * self.head_dim;
        if !k.len().is_multiple_of(row) || v.len() != k.len() {
            return Err(Error::Invalid(format!(
                "KvCache::write: keys ({}) and values ({}) must be equal whole rows of {} × {}",
                k.len(),
                v.len(),
                self.n_kv_heads,
                self.head_dim
            )));
        }
        let t = k.len() / row;
        if pos0 > self.len {
            return Err(Error::Invalid(format!(
                "KvCache::write: position {pos0} would leave a gap; the cache holds {} positions",
                self.len
            )));
        }
        if pos0 + t > self.capacity {
            return Err(Error::Invalid(format!(
                "KvCache: positions {pos0}..{} exceed the cache capacity of {}",
                pos0 + t,
                self.capacity
            )));
        }
        if !self.can_resume_at(pos0) {
            return Err(Error::Invalid(format!(
                "KvCache::write: position {pos0} needs keys from before {}, which this sliding-window cache no longer holds",
                self.base
            )));
        }
        self.len = pos0;
        if pos0 == 0 {
            self.base = 0;
        }
        self.forget_unseen(pos0);
        self.reserve(pos0 + t - self.base)?;
        let range = (pos0 - self.base) * row..(pos0 + t - self.base) * row;
        match &mut self.store {
            Store::F32 { keys, values } => {
                keys[range.clone()].copy_from_slice(k);
                values[range].copy_from_slice(v);
            }
            Store::F16 { keys, values } => {
                for (dst, &src) in keys[range.clone()].iter_mut().zip(k) {
                    *dst = f16::from_f32(src);
                }
                for (dst, &src) in values[range].iter_mut().zip(v) {
                    *dst = f16::from_f32(src);
                }
            }
        }
        self.len = pos0 + t;
        Ok(t)
    }
}

/// Move `v[kept]` to the front of `v`; with `shrink`, also drop the rest and
/// give its memory back.
fn move_to_front<T: Copy>(v: &mut Vec<T>, kept: std::ops::Range<usize>, shrink: bool) {
    let len = kept.len();
    v.copy_within(kept, 0);
    if shrink {
        v.truncate(len);
        v.shrink_to_fit();
    }
}

/// Lengthen `v` to `len` zeros-filled elements, reporting a failed
/// allocation instead of aborting.
fn grow_zeroed<T: Copy + Default>(
    v: &mut Vec<T>,
    len: usize,
) -> std::result::Result<(), std::collections::TryReserveError> {
    v.try_reserve_exact(len.saturating_sub(v.len()))?;
    v.resize(len, T::default());
    Ok(())
}

/// Which keys each query sees, and the factor on its scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scope {
    pub scale: f32,
    /// A sliding window (Gemma 3's local layers, Mistral): a query sees
    /// only its last `window` keys, itself included.
    pub window: Option<usize>,
}

impl Scope {
    /// Every earlier key, scores scaled by 1/√head_dim.
    pub fn causal(head_dim: usize) -> Self {
        Scope {
            scale: 1.0 / (head_dim as f32).sqrt(),
            window: None,
        }
    }
}

/// Attention for `T` new positions `pos0..pos0 + T`:
/// - `q`: `[T, n_heads, head_dim]` (n_heads a multiple of the cache's kv heads),
/// - `k`, `v`: `[T, n_kv_heads, head_dim]`, written into `cache` first,
/// - `out`: `[T, n_heads * head_dim]`,
/// - `probs`: if given, `[T, n_heads, pos0 + T]`, each row the softmax
///   over keys (zero past the causal limit) — for inspection.
///
/// Query t sees keys `0..=pos0 + t` (the last `window` of them if `scope`
/// sets one); scores are scaled by `scope.scale`.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    cache: &mut KvCache,
    pos0: usize,
    scope: Scope,
    out: &mut [f32],
    probs: Option<&mut [f32]>,
) -> Result<()> {
    let (kvh, hd) = (cache.n_kv_heads, cache.head_dim);
    let t_new = k.len() / (kvh * hd);
    let n_heads = if t_new == 0 {
        0
    } else {
        q.len() / (t_new * hd)
    };
    if t_new == 0 || q.len() != t_new * n_heads * hd || n_heads % kvh != 0 || n_heads == 0 {
        return Err(Error::Invalid(format!(
            "attention: q ({} elements) must be [T, n_heads, {hd}] with n_heads a multiple of {kvh}, \
             and k ({} elements) [T, {kvh}, {hd}] with T > 0",
            q.len(),
            k.len()
        )));
    }
    if out.len() != q.len() {
        return Err(Error::shape("attention output", q.len(), out.len()));
    }
    if scope.window == Some(0) {
        return Err(Error::Invalid(
            "attention: a sliding window of 0 keys leaves nothing to attend to".into(),
        ));
    }
    let total = pos0 + t_new;
    if let Some(p) = &probs {
        let want = t_new * n_heads * total;
        if p.len() != want {
            return Err(Error::shape(
                format!("attention probabilities [{t_new}, {n_heads}, {total}]"),
                want,
                p.len(),
            ));
        }
    }
    cache.set_window(scope.window)?;
    cache.write(pos0, k, v)?;

    let dims = Dims {
        t_new,
        pos0,
        n_heads,
        n_kv_heads: kvh,
        head_dim: hd,
        scale: scope.scale,
        window: scope.window,
    };
    // Each (query, head) pair scores and sums over the keys it sees.
    let seen: usize = (0..t_new).map(|t| dims.keys_seen(t).len()).sum();
    let pairs = (n_heads * seen) as u64;
    let kv_width = cache.dtype().block_bytes() as u64;
    let cost = Cost {
        bytes: 4 * 2 * q.len() as u64 + kv_width * 2 * (total * kvh * hd) as u64,
        flops: pairs * (4 * hd as u64 + 5),
    };
    let kv_type = if cache.dtype() == DType::F16 {
        "f16"
    } else {
        "f32"
    };
    let shapes = || format!("q f32[{t_new}, {n_heads}, {hd}] kv {kv_type}[{total}, {kvh}, {hd}]");
    let isa = simd::active();
    let rows = cache.rows();
    launch("attention", cost, shapes, || {
        cpu::attend(isa, dims, q, rows, out, probs)
    });
    Ok(())
}
