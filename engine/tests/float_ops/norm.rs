//! RMSNorm and LayerNorm against f64 (tolerance 1e-5 relative + 1e-6).

use crate::common::*;
use monologue::ops::norm::{layernorm, rmsnorm};

#[test]
fn rmsnorm_matches_f64() {
    let mut rng = Rng::new(10);
    for d in SIZES {
        for rows in [1, 3] {
            let (x, w) = (rng.vec(rows * d, 3.0), rng.vec(d, 1.0));
            let mut out = vec![0f32; rows * d];
            rmsnorm(&x, &w, 1e-5, &mut out).unwrap();
            let mut want = Vec::new();
            for r in x.chunks(d) {
                let ms = r.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / d as f64;
                let inv = 1.0 / (ms + 1e-5).sqrt();
                want.extend(r.iter().zip(&w).map(|(&v, &w)| v as f64 * inv * w as f64));
            }
            assert_close(&out, &want, 1e-5, 1e-6, &format!("rmsnorm [{rows}, {d}]"));
        }
    }
}

#[test]
fn layernorm_matches_f64_with_and_without_bias() {
    let mut rng = Rng::new(11);
    for d in SIZES {
        let rows = 3;
        // An offset mean, where the one-pass variance formula would cancel.
        let x: Vec<f32> = rng.vec(rows * d, 2.0).iter().map(|v| v + 50.0).collect();
        let (w, b) = (rng.vec(d, 1.0), rng.vec(d, 1.0));
        for bias in [Some(&b[..]), None] {
            let mut out = vec![0f32; rows * d];
            layernorm(&x, &w, bias, 1e-5, &mut out).unwrap();
            let mut want = Vec::new();
            for r in x.chunks(d) {
                let mean = r.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
                let var = r.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
                let inv = 1.0 / (var + 1e-5).sqrt();
                for i in 0..d {
                    let bias = bias.map_or(0.0, |b| b[i] as f64);
                    want.push((r[i] as f64 - mean) * inv * w[i] as f64 + bias);
                }
            }
            // Looser: x ~ 50 leaves ~3e-6 absolute error in x - mean.
            assert_close(&out, &want, 1e-4, 1e-4, &format!("layernorm d={d}"));
        }
    }
}

#[test]
fn norms_refuse_wrong_lengths() {
    let mut out = [0f32; 6];
    let err = rmsnorm(&[1.0; 7], &[1.0; 3], 1e-5, &mut out).unwrap_err();
    assert!(err.to_string().contains("not whole rows"), "{err}");
    let err = rmsnorm(&[1.0; 9], &[1.0; 3], 1e-5, &mut out).unwrap_err();
    assert!(err.to_string().contains("rmsnorm output"), "{err}");
    let err = layernorm(&[1.0; 6], &[1.0; 3], Some(&[0.0; 2]), 1e-5, &mut out).unwrap_err();
    assert!(err.to_string().contains("bias"), "{err}");
    assert!(rmsnorm(&[], &[], 1e-5, &mut []).is_err());
}
