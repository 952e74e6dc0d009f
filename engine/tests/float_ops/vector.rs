//! The SIMD primitives, on every path the CPU supports.

use crate::common::*;
use monologue::backend::cpu::vector;

#[test]
fn exp_is_accurate_over_its_range() {
    // 1e-6 relative: a few f32 ulps.
    let mut x = -87.0f32;
    while x < 88.0 {
        let (got, want) = (vector::exp(x) as f64, (x as f64).exp());
        assert!(
            (got - want).abs() <= 1e-6 * want,
            "exp({x}) = {got}, want {want}"
        );
        x += 0.0137;
    }
    assert_eq!(vector::exp(-100.0), 0.0);
    assert_eq!(vector::exp(f32::NEG_INFINITY), 0.0);
    assert_eq!(vector::exp(100.0), f32::INFINITY);
    assert_eq!(vector::exp(0.0), 1.0);
}

#[test]
fn dot_dots_and_weighted_sum_match_f64() {
    let mut rng = Rng::new(1);
    for isa in isas("vector") {
        for n in SIZES {
            let (a, b) = (rng.vec(n, 1.0), rng.vec(n, 1.0));
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let got = vector::dot(isa, &a, &b) as f64;
            // Error bound ~ n ulp of Σ|a·b| (≤ n).
            assert!((got - want).abs() < 1e-6 * n as f64, "{isa:?} dot n={n}");

            // 5 rows of n with a stride of n + 3 (a strided cache).
            let stride = n + 3;
            let rows = rng.vec(stride * 5, 1.0);
            let mut out = [0f32; 5];
            vector::dots(isa, &a, &rows, stride, 0.5, &mut out);
            let want: Vec<f64> = (0..5)
                .map(|j| {
                    0.5 * (0..n)
                        .map(|i| a[i] as f64 * rows[j * stride + i] as f64)
                        .sum::<f64>()
                })
                .collect();
            assert_close(
                &out,
                &want,
                0.0,
                1e-6 * n as f64,
                &format!("{isa:?} dots n={n}"),
            );

            let w = rng.vec(5, 1.0);
            let mut sum = vec![7f32; n]; // overwritten, not accumulated into
            vector::weighted_sum(isa, &w, &rows, stride, &mut sum);
            let want: Vec<f64> = (0..n)
                .map(|i| {
                    (0..5)
                        .map(|j| w[j] as f64 * rows[j * stride + i] as f64)
                        .sum()
                })
                .collect();
            assert_close(
                &sum,
                &want,
                0.0,
                1e-6,
                &format!("{isa:?} weighted_sum n={n}"),
            );
        }
    }
}

#[test]
fn softmax_rows_match_f64_on_every_path() {
    let mut rng = Rng::new(2);
    for isa in isas("vector softmax") {
        for n in SIZES {
            // A wide spread, so some terms underflow to (nearly) zero.
            let mut x = rng.vec(n, 60.0);
            if n > 2 {
                x[1] = f32::NEG_INFINITY; // a masked position
            }
            let max = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let e: Vec<f64> = x.iter().map(|&v| (v as f64 - max).exp()).collect();
            let s: f64 = e.iter().sum();
            let want: Vec<f64> = e.iter().map(|v| v / s).collect();
            vector::softmax(isa, &mut x);
            assert_close(&x, &want, 1e-5, 1e-7, &format!("{isa:?} softmax n={n}"));
        }
        let mut masked = [f32::NEG_INFINITY; 3];
        vector::softmax(isa, &mut masked);
        assert_eq!(masked, [0.0; 3], "an all-masked row becomes zeros");
    }
}
