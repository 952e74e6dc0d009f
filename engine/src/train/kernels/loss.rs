//! Cross-entropy and per-token log-probabilities from logits.
//!
//! Targets equal to [`IGNORE`] take no part (padding, prompt tokens that
//! are not scored).

use super::super::real::Real;

/// A target that is not scored.
pub const IGNORE: u32 = u32::MAX;

/// log Σ exp(row), computed stably.
fn logsumexp<T: Real>(row: &[T]) -> T {
    let max = row.iter().copied().fold(row[0], T::max);
    max + row.iter().map(|&v| (v - max).exp()).sum::<T>().ln()
}

/// `logp[n] = logits[n, targets[n]] − logsumexp(logits[n])` (0 where the
/// target is IGNORE).
pub fn logprob_forward<T: Real>(logits: &[T], targets: &[u32], vocab: usize, logp: &mut [T]) {
    for ((row, &t), out) in logits.chunks_exact(vocab).zip(targets).zip(logp) {
        *out = if t == IGNORE {
            T::default()
        } else {
            row[t as usize] - logsumexp(row)
        };
    }
}

/// `dlogits[n] += dlogp[n] · (onehot(target) − softmax(logits[n]))`.
pub fn logprob_backward<T: Real>(
    dlogp: &[T],
    logits: &[T],
    targets: &[u32],
    vocab: usize,
    dlogits: &mut [T],
) {
    for (((row, &t), &g), d) in logits
        .chunks_exact(vocab)
        .zip(targets)
        .zip(dlogp)
        .zip(dlogits.chunks_exact_mut(vocab))
    {
        if t == IGNORE {
            continue;
        }
        let lse = logsumexp(row);
        for (d, &v) in d.iter_mut().zip(row) {
            *d -= g * (v - lse).exp();
        }
        d[t as usize] += g;
    }
}

/// The mean of `−logp` over scored rows, and how many rows were scored.
pub fn cross_entropy_forward<T: Real>(logits: &[T], targets: &[u32], vocab: usize) -> (T, usize) {
    let mut total = T::default();
    let mut scored = 0;
    for (row, &t) in logits.chunks_exact(vocab).zip(targets) {
        if t != IGNORE {
            total += logsumexp(row) - row[t as usize];
            scored += 1;
        }
    }
    (total / T::of(scored.max(1) as f64), scored)
}

/// `dlogits += dloss / scored · (softmax − onehot)` for scored rows.
pub fn cross_entropy_backward<T: Real>(
    dloss: T,
    logits: &[T],
    targets: &[u32],
    vocab: usize,
    scored: usize,
    dlogits: &mut [T],
) {
    let g = -dloss / T::of(scored.max(1) as f64);
    let dlogp = vec![g; targets.len()];
    logprob_backward(&dlogp, logits, targets, vocab, dlogits);
}
