//! Add and multiply, equal lengths and a repeated row (exact results).

use crate::common::*;
use monologue::ops::elementwise::{add, add_inplace, mul, mul_inplace};

#[test]
fn add_and_mul_in_and_out_of_place() {
    let mut rng = Rng::new(40);
    for n in SIZES {
        for rows in [1, 3] {
            let a = rng.vec(rows * n, 1.0);
            // Same length, and one row repeated over `rows` rows.
            for b in [rng.vec(rows * n, 1.0), rng.vec(n, 1.0)] {
                let bi = |i: usize| b[i % b.len()];
                let mut out = vec![0f32; a.len()];
                add(&a, &b, &mut out).unwrap();
                assert!(out.iter().enumerate().all(|(i, &o)| o == a[i] + bi(i)));
                let mut acc = a.clone();
                add_inplace(&mut acc, &b).unwrap();
                assert_eq!(acc, out);

                mul(&a, &b, &mut out).unwrap();
                assert!(out.iter().enumerate().all(|(i, &o)| o == a[i] * bi(i)));
                let mut acc = a.clone();
                mul_inplace(&mut acc, &b).unwrap();
                assert_eq!(acc, out);
            }
        }
    }
}

#[test]
fn elementwise_refuses_mismatched_lengths() {
    let err = add(&[1.0; 6], &[1.0; 4], &mut [0.0; 6]).unwrap_err();
    assert!(err.to_string().contains("neither as long"), "{err}");
    assert!(mul(&[1.0; 6], &[1.0; 3], &mut [0.0; 5]).is_err());
    assert!(add_inplace(&mut [1.0; 3], &[]).is_err());
    add(&[], &[], &mut []).unwrap();
}
