//! Causal grouped-query attention over an f32 or f16 key/value cache,
//! split across the pool by (query position, head) pairs.

use super::pool;
use super::simd::Isa;
use super::vector;
use half::f16;
use std::sync::Mutex;

/// The cache's keys and values, `[positions, n_kv_heads, head_dim]` each,
/// row 0 holding position `first` (a sliding-window cache drops what no
/// query sees any more).
#[derive(Clone, Copy)]
pub enum KvRows<'a> {
    F32 {
        keys: &'a [f32],
        values: &'a [f32],
        first: usize,
    },
    F16 {
        keys: &'a [f16],
        values: &'a [f16],
        first: usize,
    },
}

impl KvRows<'_> {
    fn first(&self) -> usize {
        match self {
            KvRows::F32 { first, .. } | KvRows::F16 { first, .. } => *first,
        }
    }
}

/// Rows `0..n` of one kv head (`head_dim` wide, `stride` apart) as f32,
/// packed `head_dim` apart into `buf`.
fn widen(src: &[f16], n: usize, stride: usize, head_dim: usize, buf: &mut Vec<f32>) {
    buf.clear();
    for j in 0..n {
        buf.extend(
            src[j * stride..j * stride + head_dim]
                .iter()
                .map(|x| x.to_f32()),
        );
    }
}

/// Sizes of one attention call. Keys and values for positions
/// `0..pos0 + t_new` must already be in the cache.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub t_new: usize,
    pub pos0: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// The factor on every score (usually 1/√head_dim).
    pub scale: f32,
    /// A sliding window: each query sees only its last `window` keys
    /// (itself included).
    pub window: Option<usize>,
}

impl Dims {
    /// The keys query `t` sees: causal, and within the window if any.
    pub fn keys_seen(&self, t: usize) -> std::ops::Range<usize> {
        let end = self.pos0 + t + 1;
        let start = self.window.map_or(0, |w| end.saturating_sub(w));
        start..end
    }
}

/// Split items `0..n` into `parts` contiguous ranges of about equal total
/// `cost` (a causal prefill's last queries see many more keys than its
/// first: equal item counts would leave one thread with most of the work).
fn balanced_ranges(
    n: usize,
    parts: usize,
    cost: impl Fn(usize) -> usize,
) -> Vec<std::ops::Range<usize>> {
    let total: usize = (0..n).map(&cost).sum();
    let mut ranges = Vec::with_capacity(parts);
    let (mut start, mut done, mut item) = (0, 0, 0);
    for p in 1..=parts {
        let target = total * p / parts;
        while item < n && done < target {
            done += cost(item);
            item += 1;
        }
        if p == parts {
            item = n;
        }
        ranges.push(start..item);
        start = item;
    }
    ranges
}

/// `q` is `[t_new, n_heads, head_dim]`; `kv` is the cache; `out` is
/// `[t_new, n_heads * head_dim]`;
/// `probs`, if given, is `[t_new, n_heads, pos0 + t_new]` and receives each
/// softmax row, zero past the causal limit. Lengths are the caller's to check.
/// Attention work is cut into this many shares per thread, so that a
/// thread the OS runs late leaves its shares to the others.
const SHARES_PER_THREAD: usize = 1;

pub fn attend(
    isa: Isa,
    dims: Dims,
    q: &[f32],
    cache: KvRows<'_>,
    out: &mut [f32],
    probs: Option<&mut [f32]>,
) {
    let Dims {
        t_new,
        pos0,
        n_heads,
        n_kv_heads,
        head_dim: hd,
        scale,
        window: _,
    } = dims;
    let total = pos0 + t_new;
    let group = n_heads / n_kv_heads;
    let kv_stride = n_kv_heads * hd;
    let items = t_new * n_heads; // item i = (t, h) with i = t * n_heads + h

    // Work is handed out as contiguous item ranges, so each share of `out`
    // and `probs` is one contiguous slice; a Mutex per share makes that safe
    // to pass into the shared closure (each is locked once). There are a
    // few shares per thread, claimed as threads get free (see `pool`).
    let pool = pool::global();
    let parts = (SHARES_PER_THREAD * pool.threads()).min(items.max(1));
    let ranges = balanced_ranges(items, parts, |item| dims.keys_seen(item / n_heads).len());
    let mut out_parts = Vec::with_capacity(parts);
    let mut rest = out;
    for r in &ranges {
        let (mine, tail) = rest.split_at_mut(r.len() * hd);
        out_parts.push(Mutex::new(mine));
        rest = tail;
    }
    let mut prob_parts: Vec<Mutex<Option<&mut [f32]>>> = Vec::with_capacity(parts);
    let mut rest = probs;
    for r in &ranges {
        let (mine, tail) = match rest {
            Some(p) => {
                let (a, b) = p.split_at_mut(r.len() * total);
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        prob_parts.push(Mutex::new(mine));
        rest = tail;
    }

    pool.for_each(ranges.len(), &|part| {
        let range = &ranges[part];
        let mut out = out_parts[part].lock().unwrap_or_else(|e| e.into_inner());
        let mut probs = prob_parts[part].lock().unwrap_or_else(|e| e.into_inner());
        let mut scratch = Vec::new();
        if probs.is_none() {
            scratch.resize(group.min(range.len()) * total, 0.0);
        }
        // f16 rows widened to f32 for the f32 kernels.
        let (mut wide_k, mut wide_v) = (Vec::new(), Vec::new());
        let mut k = 0;
        while k < range.len() {
            let item = range.start + k;
            let (t, h) = (item / n_heads, item % n_heads);
            // This query and the next ones of the same position and kv head
            // (their heads are adjacent): they read the same keys and values.
            let kv_head = h / group;
            let run = (1..group.min(range.len() - k))
                .take_while(|m| {
                    let next = item + m;
                    next / n_heads == t && next % n_heads / group == kv_head
                })
                .count()
                + 1;
            let seen = dims.keys_seen(t);
            // The first visible key's row of this kv head.
            let kv = (seen.start - cache.first()) * kv_stride + kv_head * hd;
            let rows: &mut [f32] = match probs.as_deref_mut() {
                Some(p) => &mut p[k * total..(k + run) * total],
                None => &mut scratch[..run * total],
            };
            let mut rows: Vec<&mut [f32]> = rows.chunks_exact_mut(total).collect();
            let qs: Vec<&[f32]> = q[item * hd..(item + run) * hd].chunks_exact(hd).collect();
            let mut outs: Vec<&mut [f32]> =
                out[k * hd..(k + run) * hd].chunks_exact_mut(hd).collect();
            {
                let mut scores: Vec<&mut [f32]> =
                    rows.iter_mut().map(|r| &mut r[seen.clone()]).collect();
                match cache {
                    KvRows::F32 { keys, .. } => {
                        vector::dots_many(isa, &qs, &keys[kv..], kv_stride, scale, &mut scores);
                    }
                    KvRows::F16 { keys, .. } => {
                        widen(&keys[kv..], seen.len(), kv_stride, hd, &mut wide_k);
                        vector::dots_many(isa, &qs, &wide_k, hd, scale, &mut scores);
                    }
                }
                for s in scores.iter_mut() {
                    vector::softmax(isa, s);
                }
                let weights: Vec<&[f32]> = scores.iter().map(|s| &**s).collect();
                match cache {
                    KvRows::F32 { values, .. } => {
                        vector::weighted_sums(isa, &weights, &values[kv..], kv_stride, &mut outs);
                    }
                    KvRows::F16 { values, .. } => {
                        widen(&values[kv..], seen.len(), kv_stride, hd, &mut wide_v);
                        vector::weighted_sums(isa, &weights, &wide_v, hd, &mut outs);
                    }
                }
            }
            for row in rows.iter_mut() {
                row[..seen.start].fill(0.0);
                row[seen.end..].fill(0.0);
            }
            k += run;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::balanced_ranges;

    #[test]
    fn ranges_cover_every_item_once_with_about_equal_cost() {
        for (n, parts) in [(0, 2), (1, 2), (7, 3), (512 * 9, 2), (100, 7)] {
            let cost = |i: usize| i / 9 + 1; // a causal prefill of 9 heads
            let ranges = balanced_ranges(n, parts, cost);
            assert_eq!(ranges.len(), parts);
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges[parts - 1].end, n);
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
            let total: usize = (0..n).map(cost).sum();
            for r in &ranges {
                let share: usize = r.clone().map(cost).sum();
                assert!(
                    share.abs_diff(total / parts) <= cost(n.max(1) - 1),
                    "{n} items in {parts}: {ranges:?}"
                );
            }
        }
    }
}
