//! SiLU, GELU (tanh) and SwiGLU against f64 (1e-5 relative + 1e-6).

use crate::common::*;
use monologue::ops::activation::{gelu, silu, swiglu, swiglu_inplace};

fn silu64(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

fn gelu64(x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
}

#[test]
fn silu_and_gelu_match_f64() {
    let mut rng = Rng::new(30);
    for n in SIZES {
        // Mostly moderate values, plus far tails on both sides.
        let mut x = rng.vec(n, 8.0);
        x[0] = if n % 2 == 0 { -120.0 } else { 95.0 };
        let want: Vec<f64> = x.iter().map(|&v| silu64(v as f64)).collect();
        let mut got = x.clone();
        silu(&mut got);
        assert_close(&got, &want, 1e-5, 1e-6, &format!("silu n={n}"));

        let want: Vec<f64> = x.iter().map(|&v| gelu64(v as f64)).collect();
        let mut got = x.clone();
        gelu(&mut got);
        assert_close(&got, &want, 1e-5, 1e-6, &format!("gelu n={n}"));
    }
}

#[test]
fn swiglu_both_forms_match_f64() {
    let mut rng = Rng::new(31);
    for n in SIZES {
        let (g, u) = (rng.vec(n, 6.0), rng.vec(n, 2.0));
        let want: Vec<f64> = g
            .iter()
            .zip(&u)
            .map(|(&g, &u)| silu64(g as f64) * u as f64)
            .collect();
        let mut out = vec![0f32; n];
        swiglu(&g, &u, &mut out).unwrap();
        assert_close(&out, &want, 1e-5, 1e-6, &format!("swiglu n={n}"));
        let mut inplace = g.clone();
        swiglu_inplace(&mut inplace, &u).unwrap();
        assert_eq!(inplace, out);
    }
    assert!(swiglu(&[1.0; 3], &[1.0; 2], &mut [0.0; 3]).is_err());
    assert!(swiglu_inplace(&mut [1.0; 3], &[1.0; 4]).is_err());
}
