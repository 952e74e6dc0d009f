//! Dense matmul against f64, for f32 / f16 / bf16 B in both layouts.

use crate::common::*;
use crate::embedding::tensor;
use monologue::backend::cpu::gemm::{self as cpu, Elems};
use monologue::ops::gemm::{linear, matmul, matmul_f32, BLayout};
use monologue::tensor::DType;

/// (m, k, n): odd sizes, one row (the decode path), some large enough to
/// be split across threads, and k large enough that B goes in several
/// tiles per thread.
const SHAPES: [(usize, usize, usize); 9] = [
    (1, 17, 33),
    (2, 129, 3),
    (3, 67, 129),
    (17, 33, 1),
    (67, 1, 17),
    (129, 67, 33),
    (33, 129, 257),
    (1, 1100, 257),
    (9, 1100, 257),
];

/// C = A · B in f64; `b` holds B as `layout` says (values already rounded).
fn reference(a: &[f32], b: &[f32], (m, k, n): (usize, usize, usize), layout: BLayout) -> Vec<f64> {
    let at = |p: usize, j: usize| match layout {
        BLayout::KN => b[p * n + j],
        BLayout::NK => b[j * k + p],
    } as f64;
    let mut c = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * at(p, j)).sum();
        }
    }
    c
}

#[test]
fn matmul_matches_f64_for_every_dtype_and_layout() {
    let mut rng = Rng::new(70);
    for (m, k, n) in SHAPES {
        for layout in [BLayout::KN, BLayout::NK] {
            for dtype in [DType::F32, DType::F16, DType::BF16] {
                let a = rng.vec(m * k, 1.0);
                let (rows, cols) = match layout {
                    BLayout::KN => (k, n),
                    BLayout::NK => (n, k),
                };
                let b = tensor(&rng.vec(k * n, 1.0), dtype, rows, cols);
                let want = reference(&a, &b.to_f32_vec().unwrap(), (m, k, n), layout);
                let mut out = vec![f32::NAN; m * n];
                matmul(&a, &b, layout, &mut out).unwrap();
                // f32 accumulation of k terms of magnitude ≤ 1.
                let what = format!("{dtype} {layout:?} m={m} k={k} n={n}");
                assert_close(&out, &want, 0.0, 2e-6 * k as f64, &what);
                if layout == BLayout::NK {
                    let mut y = vec![0f32; m * n];
                    linear(&a, &b, &mut y).unwrap();
                    assert_eq!(y, out, "linear is matmul with [out, in] weights");
                }
            }
        }
    }
}

#[test]
fn slices_and_every_simd_path_of_the_few_rows_path() {
    let mut rng = Rng::new(71);
    for isa in isas("gemm") {
        for (m, k, n) in [(1, 129, 67), (2, 33, 300)] {
            let a = rng.vec(m * k, 1.0);
            let b = rng.vec(k * n, 1.0);
            let want = reference(&a, &b, (m, k, n), BLayout::NK);
            let mut out = vec![0f32; m * n];
            cpu::matmul(isa, &a, Elems::F32(&b), BLayout::NK, (m, k, n), &mut out);
            assert_close(&out, &want, 0.0, 2e-6 * k as f64, &format!("{isa:?} m={m}"));
            let mut viaslice = vec![0f32; m * n];
            matmul_f32(&a, &b, (k, n), BLayout::NK, &mut viaslice).unwrap();
            assert_close(&viaslice, &want, 0.0, 2e-6 * k as f64, "matmul_f32");
        }
    }
}

#[test]
fn matmul_refuses_bad_shapes_and_types() {
    let b = tensor(&[0.0; 6], DType::F32, 2, 3);
    let err = matmul(&[0.0; 3], &b, BLayout::KN, &mut [0.0; 3]).unwrap_err();
    assert!(err.to_string().contains("[m, 2]"), "{err}");
    assert!(matmul(&[0.0; 4], &b, BLayout::KN, &mut [0.0; 5]).is_err());
    assert!(matmul_f32(&[0.0; 2], &[0.0; 5], (2, 3), BLayout::KN, &mut [0.0; 3]).is_err());
    let q = monologue::Tensor::from_storage(
        monologue::Storage::from_f32(&[0.0; 9]),
        DType::Q4_0,
        [2, 32],
    )
    .unwrap();
    assert!(matches!(
        matmul(&[0.0; 32], &q, BLayout::NK, &mut [0.0; 2]),
        Err(monologue::Error::DType { .. })
    ));
    // k = 0: an empty sum.
    let mut out = [1f32; 6];
    matmul_f32(&[], &[], (0, 3), BLayout::KN, &mut out).unwrap();
    assert_eq!(out, [0.0; 6]);
}
