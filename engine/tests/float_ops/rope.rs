//! RoPE against the direct formula (in f64), and the two layouts against
//! each other.

use crate::common::*;
use monologue::ops::rope::{rope, RopeCache, RopeLayout};

/// Rotate pairs (i, j(i)) of one head in f64 straight from the definition.
fn reference(x: &[f32], pos: usize, base: f64, rot: usize, layout: RopeLayout) -> Vec<f64> {
    let mut y: Vec<f64> = to_f64(x);
    for i in 0..rot / 2 {
        let angle = pos as f64 * base.powf(-2.0 * i as f64 / rot as f64);
        let (a, b) = match layout {
            RopeLayout::Interleaved => (2 * i, 2 * i + 1),
            RopeLayout::NeoX => (i, i + rot / 2),
        };
        let (x0, x1) = (x[a] as f64, x[b] as f64);
        y[a] = x0 * angle.cos() - x1 * angle.sin();
        y[b] = x0 * angle.sin() + x1 * angle.cos();
    }
    y
}

#[test]
fn both_layouts_match_the_formula_including_partial_rotary() {
    let mut rng = Rng::new(20);
    // (head_dim, rot_dim): full, partial, and odd head sizes.
    for (hd, rot) in [(16, 16), (10, 6), (17, 8), (2, 2), (130, 128)] {
        for layout in [RopeLayout::Interleaved, RopeLayout::NeoX] {
            let cache = RopeCache::new(10_000.0, rot, 2048).unwrap();
            let (t, heads) = (3, 3);
            let positions = [0, 1999, 7];
            let mut x = rng.vec(t * heads * hd, 1.0);
            let orig = x.clone();
            rope(&mut x, &positions, heads, hd, layout, &cache).unwrap();
            for (r, head) in orig.chunks(hd).enumerate() {
                let want = reference(head, positions[r / heads], 10_000.0, rot, layout);
                // Table entries are rounded to f32: ~1e-7 per term.
                let what = format!("{layout:?} hd={hd} rot={rot} row {r}");
                assert_close(&x[r * hd..(r + 1) * hd], &want, 0.0, 1e-6, &what);
            }
        }
    }
}

#[test]
fn interleaved_is_neox_on_a_permuted_vector() {
    // Moving element 2i to i and 2i+1 to i + rot/2 turns interleaved pairs
    // into half-split ones, so the two layouts must agree exactly.
    let mut rng = Rng::new(21);
    let (hd, rot, heads) = (12, 8, 2);
    let cache = RopeCache::new(500_000.0, rot, 64).unwrap();
    let positions = [3, 63, 0, 31];
    let x = rng.vec(positions.len() * heads * hd, 2.0);
    let permute = |v: &[f32]| -> Vec<f32> {
        let mut p = v.to_vec();
        for (src, dst) in v.chunks(hd).zip(p.chunks_mut(hd)) {
            for i in 0..rot / 2 {
                dst[i] = src[2 * i];
                dst[i + rot / 2] = src[2 * i + 1];
            }
        }
        p
    };
    let mut inter = x.clone();
    rope(
        &mut inter,
        &positions,
        heads,
        hd,
        RopeLayout::Interleaved,
        &cache,
    )
    .unwrap();
    let mut neox = permute(&x);
    rope(&mut neox, &positions, heads, hd, RopeLayout::NeoX, &cache).unwrap();
    assert_eq!(permute(&inter), neox);
}

#[test]
fn rope_refuses_bad_input() {
    let cache = RopeCache::new(10_000.0, 8, 16).unwrap();
    let mut x = vec![0f32; 2 * 8];
    let err = rope(&mut x, &[0, 16], 1, 8, RopeLayout::NeoX, &cache).unwrap_err();
    assert!(err.to_string().contains("position 16"), "{err}");
    let err = rope(&mut x, &[0], 1, 8, RopeLayout::NeoX, &cache).unwrap_err();
    assert!(err.to_string().contains("shape mismatch"), "{err}");
    let err = rope(&mut x, &[0, 1, 2, 3], 1, 4, RopeLayout::NeoX, &cache).unwrap_err();
    assert!(
        err.to_string().contains("exceeds the head dimension"),
        "{err}"
    );
    assert!(RopeCache::new(10_000.0, 7, 16).is_err());
    assert!(RopeCache::new(0.0, 8, 16).is_err());
}
