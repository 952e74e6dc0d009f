//! The GRPO objective per token, from its log-probability under the policy
//! being trained (`logp`), under the policy that sampled it (`old`), and
//! under the frozen reference (`reference`):
//!
//! ```text
//! ratio = e^(logp − old)
//! gain  = min(ratio · A, clip(ratio, 1 − ε, 1 + ε) · A)      A: the sequence's advantage
//! kl    = e^(reference − logp) − (reference − logp) − 1      (the k3 estimator, ≥ 0)
//! loss  = − mean over sequences of mean over their tokens of (gain − β · kl)
//! ```
//!
//! Tokens outside the completion (prompt, padding) have `sequence = None`.

use super::super::real::Real;

/// The settings of the objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Objective {
    /// ε of the clipped ratio.
    pub clip: f64,
    /// β of the KL penalty (0: none).
    pub beta: f64,
}

/// Per-token inputs besides `logp`.
pub struct Tokens<'a, T> {
    pub old: &'a [T],
    pub reference: &'a [T],
    /// The advantage of each token's sequence.
    pub advantage: &'a [T],
    /// Which sequence each token belongs to, or None.
    pub sequence: &'a [Option<usize>],
    /// Tokens in each sequence (the normaliser of its mean).
    pub lengths: &'a [usize],
}

/// What the objective measured besides the loss.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Share of scored tokens whose ratio was clipped.
    pub clip_ratio: f64,
    /// Mean k3 KL over scored tokens.
    pub kl: f64,
}

fn weight<T: Real>(t: &Tokens<T>, i: usize) -> Option<T> {
    let s = t.sequence[i]?;
    let sequences = t.lengths.iter().filter(|&&n| n > 0).count().max(1);
    Some(T::of(1.0 / (t.lengths[s].max(1) * sequences) as f64))
}

pub fn forward<T: Real>(logp: &[T], t: &Tokens<T>, o: Objective) -> (T, Stats) {
    let (mut loss, mut clipped, mut kl_sum, mut scored) = (T::default(), 0usize, 0f64, 0usize);
    for (i, &lp) in logp.iter().enumerate() {
        let Some(w) = weight(t, i) else { continue };
        let a = t.advantage[i];
        let ratio = (lp - t.old[i]).exp();
        let lo = T::of(1.0 - o.clip);
        let hi = T::of(1.0 + o.clip);
        let bounded = if ratio < lo {
            lo
        } else if ratio > hi {
            hi
        } else {
            ratio
        };
        let (u, c) = (ratio * a, bounded * a);
        let gain = if u <= c { u } else { c };
        if c < u {
            clipped += 1;
        }
        let d = t.reference[i] - lp;
        let kl = d.exp() - d - T::of(1.0);
        loss -= w * (gain - T::of(o.beta) * kl);
        kl_sum += kl.to_f64();
        scored += 1;
    }
    let n = scored.max(1) as f64;
    (
        loss,
        Stats {
            clip_ratio: clipped as f64 / n,
            kl: kl_sum / n,
        },
    )
}

/// `dlogp += dloss · d loss / d logp`.
pub fn backward<T: Real>(dloss: T, logp: &[T], t: &Tokens<T>, o: Objective, dlogp: &mut [T]) {
    for i in 0..logp.len() {
        let Some(w) = weight(t, i) else { continue };
        let a = t.advantage[i];
        let ratio = (logp[i] - t.old[i]).exp();
        let bounded = ratio.max(T::of(1.0 - o.clip));
        let bounded = if bounded > T::of(1.0 + o.clip) {
            T::of(1.0 + o.clip)
        } else {
            bounded
        };
        // The min takes the unclipped term (whose derivative is ratio · A)
        // unless the clipped one is smaller, which is constant in logp.
        let dgain = if ratio * a <= bounded * a {
            ratio * a
        } else {
            T::default()
        };
        let d = t.reference[i] - logp[i];
        let dkl = T::of(1.0) - d.exp();
        dlogp[i] += dloss * -w * (dgain - T::of(o.beta) * dkl);
    }
}

/// Group-normalised advantages: (r − mean) / (std + 1e-4) within each
/// group of `group` rewards. A group whose rewards all tie gets zeros.
pub fn advantages(rewards: &[f64], group: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(rewards.len());
    for g in rewards.chunks(group.max(1)) {
        let n = g.len() as f64;
        let mean = g.iter().sum::<f64>() / n;
        let std = (g.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        out.extend(g.iter().map(|r| (r - mean) / (std + 1e-4)));
    }
    out
}
