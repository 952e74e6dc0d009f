//! Grouped-query causal attention against a naive f64 implementation.

use crate::common::*;
use monologue::backend::cpu::attention::{attend, Dims, KvRows};
use monologue::ops::attention::{attention, KvCache, Scope};
use monologue::tensor::DType;

const H: usize = 6;
const KVH: usize = 2;
const HD: usize = 16;

/// Output `[T, H * HD]` and probabilities `[T, H, total]` for queries at
/// positions `pos0..pos0 + T` over keys/values `[total, KVH, HD]`.
fn naive(q: &[f32], keys: &[f32], values: &[f32], pos0: usize) -> (Vec<f64>, Vec<f64>) {
    naive_scoped(q, keys, values, pos0, 1.0 / (HD as f64).sqrt(), None)
}

/// [`naive`] with a score scale and an optional sliding window: query
/// position p sees keys `p + 1 - window ..= p`.
fn naive_scoped(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    pos0: usize,
    scale: f64,
    window: Option<usize>,
) -> (Vec<f64>, Vec<f64>) {
    let t_new = q.len() / (H * HD);
    let total = pos0 + t_new;
    let mut out = vec![0f64; t_new * H * HD];
    let mut probs = vec![0f64; t_new * H * total];
    for t in 0..t_new {
        for h in 0..H {
            let g = h / (H / KVH);
            let qv = &q[(t * H + h) * HD..][..HD];
            let key = |j: usize| &keys[(j * KVH + g) * HD..][..HD];
            let seen = pos0 + t + 1;
            let first = window.map_or(0, |w| seen.saturating_sub(w));
            let s: Vec<f64> = (first..seen)
                .map(|j| {
                    qv.iter()
                        .zip(key(j))
                        .map(|(a, b)| *a as f64 * *b as f64)
                        .sum::<f64>()
                        * scale
                })
                .collect();
            let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            for j in first..seen {
                let p = e[j - first] / sum;
                probs[(t * H + h) * total + j] = p;
                for d in 0..HD {
                    out[(t * H + h) * HD + d] += p * values[(j * KVH + g) * HD + d] as f64;
                }
            }
        }
    }
    (out, probs)
}

fn check_probs(probs: &[f32], pos0: usize, total: usize, what: &str) {
    for (r, row) in probs.chunks(total).enumerate() {
        let seen = pos0 + r / H + 1;
        let sum: f64 = row.iter().map(|&p| p as f64).sum();
        assert!((sum - 1.0).abs() < 1e-5, "{what}: row {r} sums to {sum}");
        assert!(
            row[seen..].iter().all(|&p| p == 0.0),
            "{what}: row {r} is not causal"
        );
    }
}

#[test]
fn gqa_prefill_then_chunk_matches_naive() {
    let mut rng = Rng::new(60);
    let mut cache = KvCache::new(32, KVH, HD, DType::F32).unwrap();
    let (t1, t2) = (5, 4); // a prefill of 5, then 4 more from pos0 = 5
    let k = rng.vec((t1 + t2) * KVH * HD, 2.0);
    let v = rng.vec((t1 + t2) * KVH * HD, 1.0);
    let q = rng.vec((t1 + t2) * H * HD, 2.0);
    let split = |x: &[f32], w: usize| (x[..t1 * w].to_vec(), x[t1 * w..].to_vec());
    let (k1, k2) = split(&k, KVH * HD);
    let (v1, v2) = split(&v, KVH * HD);
    let (q1, q2) = split(&q, H * HD);

    let mut out1 = vec![0f32; t1 * H * HD];
    attention(
        &q1,
        &k1,
        &v1,
        &mut cache,
        0,
        Scope::causal(HD),
        &mut out1,
        None,
    )
    .unwrap();
    let mut out2 = vec![0f32; t2 * H * HD];
    let mut probs = vec![f32::NAN; t2 * H * (t1 + t2)];
    attention(
        &q2,
        &k2,
        &v2,
        &mut cache,
        t1,
        Scope::causal(HD),
        &mut out2,
        Some(&mut probs),
    )
    .unwrap();
    assert_eq!(cache.len(), t1 + t2);

    let (want1, _) = naive(&q1, &k, &v, 0);
    let (want2, want_p) = naive(&q2, &k, &v, t1);
    assert_close(&out1, &want1, 1e-5, 1e-5, "prefill output");
    assert_close(&out2, &want2, 1e-5, 1e-5, "chunk output");
    assert_close(&probs, &want_p, 1e-5, 1e-6, "chunk probabilities");
    check_probs(&probs, t1, t1 + t2, "chunk");
}

#[test]
fn a_sliding_window_hides_keys_behind_it_on_every_path() {
    let mut rng = Rng::new(62);
    let (pos0, t_new, window) = (9, 6, 4);
    let total = pos0 + t_new;
    let keys = rng.vec(total * KVH * HD, 2.0);
    let values = rng.vec(total * KVH * HD, 1.0);
    let q = rng.vec(t_new * H * HD, 2.0);
    let scale = 0.3;
    let (want, want_p) = naive_scoped(&q, &keys, &values, pos0, scale as f64, Some(window));
    let dims = Dims {
        t_new,
        pos0,
        n_heads: H,
        n_kv_heads: KVH,
        head_dim: HD,
        scale,
        window: Some(window),
    };
    let half =
        |x: &[f32]| -> Vec<half::f16> { x.iter().map(|&a| half::f16::from_f32(a)).collect() };
    let (keys16, values16) = (half(&keys), half(&values));
    for isa in isas("attention") {
        for rows in [
            KvRows::F32 {
                keys: &keys,
                values: &values,
                first: 0,
            },
            KvRows::F16 {
                keys: &keys16,
                values: &values16,
                first: 0,
            },
        ] {
            let f16 = matches!(rows, KvRows::F16 { .. });
            let tol = if f16 { 2e-2 } else { 1e-5 };
            let mut out = vec![0f32; t_new * H * HD];
            let mut probs = vec![f32::NAN; t_new * H * total];
            attend(isa, dims, &q, rows, &mut out, Some(&mut probs));
            let what = format!("{isa:?} f16 cache {f16}");
            assert_close(&out, &want, tol, tol, &format!("{what} output"));
            assert_close(&probs, &want_p, tol, tol, &format!("{what} probabilities"));
            for (r, row) in probs.chunks(total).enumerate() {
                let end = pos0 + r / H + 1;
                assert!(
                    row[..end - window].iter().all(|&p| p == 0.0),
                    "{what}: row {r} sees behind its window"
                );
                assert!(
                    row[end..].iter().all(|&p| p == 0.0),
                    "{what}: row {r} sees the future"
                );
            }
        }
    }
    // Through the cache, with its checks: a window of 0 is refused by name.
    let mut cache = KvCache::new(total, KVH, HD, DType::F32).unwrap();
    let mut out = vec![0f32; total * H * HD];
    let all_q = rng.vec(total * H * HD, 2.0);
    let zero = Scope {
        scale,
        window: Some(0),
    };
    let e = attention(&all_q, &keys, &values, &mut cache, 0, zero, &mut out, None).unwrap_err();
    assert!(e.to_string().contains("window of 0"), "{e}");
}

/// A sliding-window layer's cache keeps about three windows of positions
/// however long the sequence, and gives exactly what a cache holding every
/// position gives: fed in chunks of every size, token by token included.
#[test]
fn a_windowed_cache_holds_about_three_windows_and_changes_nothing() {
    let mut rng = Rng::new(63);
    let (window, total) = (5, 40);
    let scope = Scope {
        scale: 0.4,
        window: Some(window),
    };
    let keys = rng.vec(total * KVH * HD, 2.0);
    let values = rng.vec(total * KVH * HD, 1.0);
    let q = rng.vec(total * H * HD, 2.0);
    for dtype in [DType::F32, DType::F16] {
        // Reference: everything in one call, when the cache holds every
        // position while the queries attend.
        let mut want = vec![0f32; total * H * HD];
        let mut cache = KvCache::new(total, KVH, HD, dtype).unwrap();
        attention(&q, &keys, &values, &mut cache, 0, scope, &mut want, None).unwrap();
        for chunk in [1, 3, 7, total] {
            let mut windowed = KvCache::new(total, KVH, HD, dtype).unwrap();
            let mut got = vec![0f32; total * H * HD];
            let mut most_rows = 0;
            for pos0 in (0..total).step_by(chunk) {
                let t = chunk.min(total - pos0);
                let kr = pos0 * KVH * HD..(pos0 + t) * KVH * HD;
                let qr = pos0 * H * HD..(pos0 + t) * H * HD;
                let (k, v) = (&keys[kr.clone()], &values[kr]);
                attention(
                    &q[qr.clone()],
                    k,
                    v,
                    &mut windowed,
                    pos0,
                    scope,
                    &mut got[qr],
                    None,
                )
                .unwrap();
                most_rows = most_rows.max(windowed.bytes() / (2 * KVH * HD * dtype.block_bytes()));
            }
            assert_eq!(got, want, "{dtype:?} in chunks of {chunk}");
            assert!(
                most_rows <= 2 * (3 * window + chunk),
                "{dtype:?} chunks of {chunk}: held up to {most_rows} positions for a window of {window}"
            );
            if chunk < total {
                assert!(
                    windowed.first_held() > 0,
                    "{dtype:?} chunks of {chunk}: nothing was forgotten"
                );
            }
        }
    }
    // Going back within the window resumes there; further back starts over.
    let mut cache = KvCache::new(total, KVH, HD, DType::F32).unwrap();
    let mut out = vec![0f32; total * H * HD];
    let (last_k, last_q) = ((total - 1) * KVH * HD, (total - 1) * H * HD);
    attention(
        &q[..last_q],
        &keys[..last_k],
        &values[..last_k],
        &mut cache,
        0,
        scope,
        &mut out[..last_q],
        None,
    )
    .unwrap();
    // The last token alone: what only earlier queries saw is dropped.
    let (k, v) = (&keys[last_k..], &values[last_k..]);
    attention(
        &q[last_q..],
        k,
        v,
        &mut cache,
        total - 1,
        scope,
        &mut out[last_q..],
        None,
    )
    .unwrap();
    let first = cache.first_held();
    assert_eq!(first, total - 2 * window);
    assert!(cache.can_resume_at(total) && cache.can_resume_at(first + window - 1));
    assert!(!cache.can_resume_at(first + window - 2));
    cache.truncate(first + window - 1);
    assert_eq!(cache.len(), first + window - 1);
    // Writing where the dropped keys would be needed is an error.
    let e = cache
        .write(first + 1, &keys[..KVH * HD], &values[..KVH * HD])
        .unwrap_err();
    assert!(e.to_string().contains("no longer holds"), "{e}");
    cache.truncate(3);
    assert_eq!(cache.len(), 0);
}

#[test]
fn every_simd_path_matches_naive() {
    let mut rng = Rng::new(61);
    let (pos0, t_new) = (7, 3);
    let total = pos0 + t_new;
    let keys = rng.vec(total * KVH * HD, 2.0);
    let values = rng.vec(total * KVH * HD, 1.0);
    let q = rng.vec(t_new * H * HD, 2.0);
    let (want, want_p) = naive(&q, &keys, &values, pos0);
    let dims = Dims {
        t_new,
        pos0,
        n_heads: H,
        n_kv_heads: KVH,
        head_dim: HD,
        scale: 1.0 / (HD as f32).sqrt(),
        window: None,
    };
    for isa in isas("attention") {
        let mut out = vec![0f32; t_new * H * HD];
        let mut probs = vec![f32::NAN; t_new * H * total];
        let rows = KvRows::F32 {
            keys: &keys,
            values: &values,
            first: 0,
        };
        attend(isa, dims, &q, rows, &mut out, Some(&mut probs));
        assert_close(&out, &want, 1e-5, 1e-5, &format!("{isa:?} output"));
        assert_close(
            &probs,
            &want_p,
            1e-5,
            1e-6,
            &format!("{isa:?} probabilities"),
        );
        check_probs(&probs, pos0, total, &format!("{isa:?}"));
        let mut again = vec![0f32; out.len()];
        attend(isa, dims, &q, rows, &mut again, None);
        assert_eq!(
            again, out,
            "{isa:?}: the result does not depend on observing probs"
        );
    }
}

#[test]
fn cache_overflow_and_bad_shapes_are_errors() {
    let mut cache = KvCache::new(4, KVH, HD, DType::F32).unwrap();
    let kv = vec![0f32; 3 * KVH * HD];
    let q = vec![0f32; 3 * H * HD];
    let mut out = vec![0f32; q.len()];
    attention(
        &q,
        &kv,
        &kv,
        &mut cache,
        0,
        Scope::causal(HD),
        &mut out,
        None,
    )
    .unwrap();
    let err = attention(
        &q,
        &kv,
        &kv,
        &mut cache,
        3,
        Scope::causal(HD),
        &mut out,
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("exceed the cache capacity of 4"),
        "{err}"
    );
    assert_eq!(cache.len(), 3, "a refused write leaves the cache as it was");
    let err = attention(
        &q[..H * HD],
        &kv[..KVH * HD],
        &kv[..KVH * HD],
        &mut cache,
        5,
        Scope::causal(HD),
        &mut out[..H * HD],
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("gap"), "{err}");
    let err = attention(
        &q,
        &kv,
        &kv,
        &mut cache,
        0,
        Scope::causal(HD),
        &mut out[1..],
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("attention output"), "{err}");
    let err = attention(
        &q,
        &kv,
        &kv,
        &mut cache,
        0,
        Scope::causal(HD),
        &mut out,
        Some(&mut [0.0; 5]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("probabilities"), "{err}");
    let five_heads = vec![0f32; 3 * 5 * HD];
    assert!(attention(
        &five_heads,
        &kv,
        &kv,
        &mut cache,
        0,
        Scope::causal(HD),
        &mut out[..five_heads.len()],
        None
    )
    .is_err());
    let err = KvCache::new(4, KVH, HD, DType::Q8_0).unwrap_err();
    assert!(err.to_string().contains("F32 or F16"), "{err}");
}

#[test]
fn an_f16_cache_matches_naive_on_f16_rounded_keys_and_values() {
    let mut rng = Rng::new(62);
    let mut cache = KvCache::new(16, KVH, HD, DType::F16).unwrap();
    assert_eq!(cache.dtype(), DType::F16);
    // The cache allocates as positions are written, never past capacity.
    assert_eq!(cache.bytes(), 0);
    let (t1, t2) = (6, 3);
    let k = rng.vec((t1 + t2) * KVH * HD, 2.0);
    let v = rng.vec((t1 + t2) * KVH * HD, 1.0);
    let q = rng.vec((t1 + t2) * H * HD, 2.0);
    let mut out = vec![0f32; (t1 + t2) * H * HD];
    let (o1, o2) = out.split_at_mut(t1 * H * HD);
    let kv_split = t1 * KVH * HD;
    attention(
        &q[..t1 * H * HD],
        &k[..kv_split],
        &v[..kv_split],
        &mut cache,
        0,
        Scope::causal(HD),
        o1,
        None,
    )
    .unwrap();
    assert_eq!(cache.bytes(), 2 * t1 * KVH * HD * 2);
    let mut probs = vec![f32::NAN; t2 * H * (t1 + t2)];
    attention(
        &q[t1 * H * HD..],
        &k[kv_split..],
        &v[kv_split..],
        &mut cache,
        t1,
        Scope::causal(HD),
        o2,
        Some(&mut probs),
    )
    .unwrap();
    // Growing doubles what is held (6 → 12 positions) to stay cheap.
    assert_eq!(cache.bytes(), 2 * 2 * t1 * KVH * HD * 2);
    // What an f16 cache holds is the keys and values rounded to f16.
    let round =
        |x: &[f32]| -> Vec<f32> { x.iter().map(|&a| half::f16::from_f32(a).to_f32()).collect() };
    let (want, _) = naive(&q[..t1 * H * HD], &round(&k), &round(&v), 0);
    assert_close(&out[..t1 * H * HD], &want, 1e-5, 1e-5, "f16 prefill");
    let (want, want_p) = naive(&q[t1 * H * HD..], &round(&k), &round(&v), t1);
    assert_close(&out[t1 * H * HD..], &want, 1e-5, 1e-5, "f16 chunk");
    assert_close(&probs, &want_p, 1e-5, 1e-6, "f16 probabilities");
    check_probs(&probs, t1, t1 + t2, "f16");
}
