//! Quantized matvec / matmul on every SIMD path this CPU has, against a
//! float64 reference on the dequantized weights.
//!
//! Two references, two tolerances:
//! * exact: dequantized weights times the *quantized* activations (what the
//!   integer kernels compute) — only f32 rounding differs, so the result must
//!   agree to 1e-5 of `Σ |w| |x|` plus 1e-6 (float weights: the activations
//!   as they are);
//! * true: dequantized weights times the original activations. Each
//!   activation is within half its block's step `d/2` of its quantized
//!   value, so the error is at most `Σ_k |w_k| d(k)/2` (plus the above).

use crate::common;

use common::Rng;
use monologue::backend::cpu::pool::ThreadPool;
use monologue::backend::cpu::quant_dot::uses_q8k;
use monologue::backend::cpu::simd::Isa;
use monologue::ops::quant::{matmul_with, matvec, matvec_many, matvec_with};
use monologue::quant::{self, BlockQ8A, BlockQ8K};
use monologue::{DType, Storage, Tensor};

fn supported_isas() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|isa| {
            let ok = isa.is_supported();
            if !ok {
                eprintln!("skipped {}: CPU lacks it", isa.name());
            }
            ok
        })
        .collect()
}

fn weights(dtype: DType, n: usize, k: usize, rng: &mut Rng) -> Tensor {
    let values: Vec<f32> = rng.normals(n * k).iter().map(|v| v * 0.1).collect();
    let mut bytes = vec![0u8; dtype.bytes_for(n * k).unwrap()];
    quant::quantize(dtype, &values, &mut bytes).unwrap();
    let storage = Storage::owned(monologue::tensor::AlignedBuf::from_bytes(&bytes));
    Tensor::from_storage(storage, dtype, [n, k]).unwrap()
}

/// Check `y` (`[t, n]`) against both references for `x` (`[t, k]`).
fn check(label: &str, w: &Tensor, x: &[f32], t: usize, y: &[f32]) {
    let (n, k) = (w.dims()[0], w.dims()[1]);
    let wf = w.to_f32_vec().unwrap();
    for ti in 0..t {
        let xt = &x[ti * k..(ti + 1) * k];
        // The activations as the kernels quantize them (a scale per 32, or
        // per 256 for the K-quants), and each element's step.
        let mut xd = xt.to_vec();
        let mut step = vec![0f32; k];
        if uses_q8k(w.dtype()) {
            let mut xq = vec![BlockQ8K::default(); k / 256];
            quant::q8k::quantize_row(xt, &mut xq);
            quant::q8k::dequantize_row(&xq, &mut xd);
            for (i, s) in step.iter_mut().enumerate() {
                *s = xq[i / 256].d;
            }
        } else if w.dtype().is_quantized() {
            let mut xq = vec![BlockQ8A::default(); k / 32];
            quant::q8a::quantize_row(xt, &mut xq);
            quant::q8a::dequantize_row(&xq, &mut xd);
            for (i, s) in step.iter_mut().enumerate() {
                *s = xq[i / 32].d;
            }
        }
        for r in 0..n {
            let row = &wf[r * k..(r + 1) * k];
            let exact: f64 = row
                .iter()
                .zip(&xd)
                .map(|(&w, &x)| w as f64 * x as f64)
                .sum();
            let truth: f64 = row.iter().zip(xt).map(|(&w, &x)| w as f64 * x as f64).sum();
            let magnitude: f64 = row
                .iter()
                .zip(xt)
                .map(|(&w, &x)| (w * x).abs() as f64)
                .sum();
            let act_err: f64 = row
                .iter()
                .zip(&step)
                .map(|(&w, &d)| w.abs() as f64 * d as f64 / 2.0)
                .sum();
            let got = y[ti * n + r] as f64;
            let tol = 1e-5 * magnitude + 1e-6;
            assert!(
                (got - exact).abs() <= tol,
                "{label} t={ti} row {r}: got {got}, exact {exact}, tolerance {tol}"
            );
            assert!(
                (got - truth).abs() <= act_err + tol,
                "{label} t={ti} row {r}: got {got}, true {truth}, bound {}",
                act_err + tol
            );
        }
    }
}

#[test]
fn matvec_and_matmul_agree_with_reference_on_every_path() {
    let pools = [ThreadPool::new(1), ThreadPool::new(3)];
    let mut rng = Rng::new(5);
    for dtype in DType::ALL {
        let block = dtype.block_len().max(32);
        for (n, k) in [(7, block), (33, 3 * block), (1, 2 * block), (64, 4 * block)] {
            let w = weights(dtype, n, k, &mut rng);
            for t in [1, 3, 17] {
                let x = rng.normals(t * k);
                for isa in supported_isas() {
                    for pool in &pools {
                        let label = format!(
                            "{dtype} [{n}, {k}] T={t} {} x{}",
                            isa.name(),
                            pool.threads()
                        );
                        let mut y = vec![f32::NAN; t * n];
                        if t == 1 {
                            matvec_with(isa, pool, &w, &x, &mut y).unwrap();
                            check(&label, &w, &x, t, &y);
                        }
                        y.fill(f32::NAN);
                        matmul_with(isa, pool, &w, &x, t, &mut y).unwrap();
                        check(&label, &w, &x, t, &y);
                    }
                }
            }
        }
    }
}

/// Prefill (several activation rows: the packed GEMM, eight rows by four
/// tokens, where the path has it) gives each row exactly what decode (one
/// row) gives.
#[test]
fn matmul_rows_equal_matvec_bit_for_bit() {
    let pool = ThreadPool::new(2);
    let mut rng = Rng::new(6);
    for dtype in DType::ALL {
        let k = 4 * dtype.block_len().max(32);
        let n = 37;
        let w = weights(dtype, n, k, &mut rng);
        let t = 9; // two groups of four and one left over
        let x = rng.normals(t * k);
        for isa in supported_isas() {
            let mut all = vec![f32::NAN; t * n];
            matmul_with(isa, &pool, &w, &x, t, &mut all).unwrap();
            for ti in 0..t {
                let mut one = vec![f32::NAN; n];
                matvec_with(isa, &pool, &w, &x[ti * k..(ti + 1) * k], &mut one).unwrap();
                assert_eq!(
                    &all[ti * n..(ti + 1) * n],
                    &one[..],
                    "{dtype} {} row {ti}",
                    isa.name()
                );
            }
        }
    }
}

/// `w` times the `t` tokens of `x` on the portable path, after asserting
/// that every SIMD path gives the same bits.
fn same_prefill_on_every_path(pool: &ThreadPool, w: &Tensor, x: &[f32], t: usize) -> Vec<f32> {
    let n = w.dims()[0];
    let mut want = vec![f32::NAN; t * n];
    matmul_with(Isa::Portable, pool, w, x, t, &mut want).unwrap();
    for isa in supported_isas() {
        let mut got = vec![f32::NAN; t * n];
        matmul_with(isa, pool, w, x, t, &mut got).unwrap();
        assert_eq!(got, want, "{} {} prefill", w.dtype(), isa.name());
    }
    want
}

/// The quantized kernels compute exact integer sums per block (two per
/// K-quant super-block) and then the portable code's float step in its
/// order, so every SIMD path gives the same numbers bit for bit, decode and
/// prefill. (Odd row counts leave a partial group of eight.)
#[test]
fn quantized_kernels_give_the_same_bits_on_every_path() {
    let pool = ThreadPool::new(2);
    let mut rng = Rng::new(8);
    for dtype in DType::ALL.into_iter().filter(|d| d.is_quantized()) {
        let (n, k, t) = (21, 3 * 256, 11);
        let w = weights(dtype, n, k, &mut rng);
        let x: Vec<f32> = rng.normals(t * k).iter().map(|v| v * 4.0).collect();
        let want = same_prefill_on_every_path(&pool, &w, &x, t);
        for isa in supported_isas() {
            let mut one = vec![f32::NAN; n];
            matvec_with(isa, &pool, &w, &x[..k], &mut one).unwrap();
            assert_eq!(one, want[..n], "{dtype} {} decode", isa.name());
        }
    }
}

/// Q, K and V (or gate and up) in one launch give what three launches give.
#[test]
fn fused_matvecs_equal_separate_ones() {
    let mut rng = Rng::new(7);
    for dtype in DType::ALL.into_iter().filter(|d| d.is_quantized()) {
        let k = 2 * dtype.block_len().max(32);
        let shapes = [70, 23, 5];
        let ws: Vec<Tensor> = shapes
            .iter()
            .map(|&n| weights(dtype, n, k, &mut rng))
            .collect();
        let x = rng.normals(k);
        let mut fused: Vec<Vec<f32>> = shapes.iter().map(|&n| vec![f32::NAN; n]).collect();
        {
            let mut outs: Vec<&mut [f32]> = fused.iter_mut().map(|v| v.as_mut_slice()).collect();
            let refs: Vec<&Tensor> = ws.iter().collect();
            matvec_many(&refs, &x, &mut outs).unwrap();
        }
        for (w, got) in ws.iter().zip(&fused) {
            let mut one = vec![f32::NAN; got.len()];
            matvec(w, &x, &mut one).unwrap();
            assert_eq!(got, &one, "{dtype}");
        }
    }
    // Mixed types or a wrong output length are errors.
    let a = weights(DType::Q8_0, 4, 32, &mut rng);
    let b = weights(DType::Q4_0, 4, 32, &mut rng);
    let x = rng.normals(32);
    let (mut ya, mut yb) = (vec![0.0; 4], vec![0.0; 4]);
    assert!(matvec_many(&[&a, &b], &x, &mut [&mut ya, &mut yb]).is_err());
    let mut short = vec![0.0; 3];
    assert!(matvec_many(&[&a, &a], &x, &mut [&mut ya, &mut short]).is_err());
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let pool = ThreadPool::new(2);
    let mut rng = Rng::new(6);
    let w = weights(DType::Q4_1, 4, 64, &mut rng);
    let isa = Isa::Portable;
    let mut y = vec![0f32; 4];
    assert!(matvec_with(isa, &pool, &w, &[0.0; 63], &mut y).is_err());
    assert!(matvec_with(isa, &pool, &w, &[0.0; 64], &mut y[..3]).is_err());
    assert!(matmul_with(isa, &pool, &w, &[0.0; 128], 3, &mut [0.0; 12]).is_err());
    assert!(matmul_with(isa, &pool, &w, &[0.0; 192], 3, &mut [0.0; 11]).is_err());
    let flat = Tensor::from_f32(&[0.0; 8], [8]).unwrap();
    let err = matvec_with(isa, &pool, &flat, &[0.0; 8], &mut [0.0]).unwrap_err();
    assert!(err.to_string().contains("shape mismatch"), "{err}");
    // Empty products are fine.
    matmul_with(isa, &pool, &w, &[], 0, &mut []).unwrap();
}

#[test]
fn matvec_records_a_named_launch() {
    let mut rng = Rng::new(7);
    let w = weights(DType::Q8_0, 8, 64, &mut rng);
    let mut y = vec![0f32; 8];
    monologue::profile::start();
    monologue::ops::quant::matvec(&w, &rng.normals(64), &mut y).unwrap();
    let profile = monologue::profile::stop();
    let table = profile.table();
    assert!(table.contains("matvec_q8_0"), "{table}");
}

#[test]
fn activation_quantization_is_identical_on_every_path() {
    let mut rng = Rng::new(8);
    let mut x = rng.normals(32 * 64);
    // Exact halves (127 at the maximum makes the scale 1), zeros and a
    // block of one sign, where rounding and the sums are easiest to get wrong.
    for (i, v) in x[..32].iter_mut().enumerate() {
        *v = if i == 0 { 127.0 } else { i as f32 - 15.5 };
    }
    x[32..64].fill(0.0);
    x[64..96].iter_mut().for_each(|v| *v = -v.abs());
    let mut want = vec![BlockQ8A::default(); 64];
    quant::q8a::quantize_row(&x, &mut want);
    for isa in supported_isas() {
        let mut got = vec![BlockQ8A::default(); 64];
        monologue::backend::cpu::quant_dot::quantize_q8a(isa, &x, &mut got);
        for (b, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.qs, w.qs, "{} block {b}", isa.name());
            assert_eq!(g.d.to_bits(), w.d.to_bits(), "{} block {b}", isa.name());
            assert_eq!(g.s.to_bits(), w.s.to_bits(), "{} block {b}", isa.name());
        }
    }
}

/// Blocks of random bytes (every scale, min and code a format can hold,
/// -128 included, finite `d`s) and of all bits set (the largest codes and
/// scales), against activations at ±127, give the portable code's bits on
/// every path, decode and prefill: the SIMD kernels' shortcuts (Q2_K's
/// scaled codes summed in i16, IQ4_XS's scales taken out for eight rows at
/// once, signed weights offset into u8 for VNNI) hold at the extremes, not
/// only on quantized data.
#[test]
fn kernels_agree_on_raw_and_extreme_super_blocks() {
    use half::f16;
    use monologue::backend::cpu::quant_dot::{rows, Activations};
    use monologue::quant::{BlockIQ4NL, BlockIQ4XS, BlockQ8_0};
    use monologue::quant::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K};

    /// `blocks` rows of `per_row` blocks: random bytes, then one row with
    /// every bit set, each block's f16 fields set by `fix`.
    fn raw<B: bytemuck::Pod>(
        rng: &mut Rng,
        rows: usize,
        per_row: usize,
        fix: fn(&mut B, f16),
    ) -> Vec<u8> {
        let mut blocks: Vec<B> = bytemuck::zeroed_vec(rows * per_row);
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut blocks);
        let random = rng.bytes(bytes.len());
        bytes.copy_from_slice(&random);
        let last = bytes.len() - per_row * std::mem::size_of::<B>();
        bytes[last..].fill(0xFF);
        for block in &mut blocks {
            let d = f16::from_f32((rng.next_u64() % 1000) as f32 / 1e5 + 1e-4);
            fix(block, d);
        }
        bytemuck::cast_slice(&blocks).to_vec()
    }

    let mut rng = Rng::new(21);
    let (n, per_row) = (9, 3);
    let k = 256 * per_row;
    let cases: [(DType, Vec<u8>); 8] = [
        (
            DType::Q2_K,
            raw::<BlockQ2K>(&mut rng, n, per_row, |b, d| (b.d, b.dmin) = (d, d)),
        ),
        (
            DType::Q3_K,
            raw::<BlockQ3K>(&mut rng, n, per_row, |b, d| b.d = d),
        ),
        (
            DType::Q4_K,
            raw::<BlockQ4K>(&mut rng, n, per_row, |b, d| (b.d, b.dmin) = (d, d)),
        ),
        (
            DType::Q5_K,
            raw::<BlockQ5K>(&mut rng, n, per_row, |b, d| (b.d, b.dmin) = (d, d)),
        ),
        (
            DType::Q6_K,
            raw::<BlockQ6K>(&mut rng, n, per_row, |b, d| b.d = d),
        ),
        (
            DType::IQ4_XS,
            raw::<BlockIQ4XS>(&mut rng, n, per_row, |b, d| b.d = d),
        ),
        (
            DType::Q8_0,
            raw::<BlockQ8_0>(&mut rng, n, per_row * 8, |b, d| b.d = d),
        ),
        (
            DType::IQ4_NL,
            raw::<BlockIQ4NL>(&mut rng, n, per_row * 8, |b, d| b.d = d),
        ),
    ];
    // All +1 (every q = 127), all -1, and random signs.
    let signs = |rng: &mut Rng| -> Vec<f32> {
        (0..k)
            .map(|_| {
                if rng.next_u64().is_multiple_of(2) {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect()
    };
    let inputs = [vec![1.0; k], vec![-1.0; k], signs(&mut rng)];
    let pool = ThreadPool::new(2);
    for (dtype, bytes) in &cases {
        // Decode, one input at a time.
        for x in &inputs {
            let xq = Activations::quantize(Isa::Portable, *dtype, x);
            let mut want = vec![0f32; n];
            rows(Isa::Portable, *dtype, bytes, &xq, &mut want).unwrap();
            assert!(want.iter().all(|v| v.is_finite()), "{dtype}: {want:?}");
            for isa in supported_isas() {
                let mut got = vec![0f32; n];
                rows(isa, *dtype, bytes, &xq, &mut got).unwrap();
                assert_eq!(got, want, "{dtype} {}", isa.name());
            }
        }
        // Prefill: the GEMM, eight tokens (every input, repeated).
        let storage = Storage::owned(monologue::tensor::AlignedBuf::from_bytes(bytes));
        let w = Tensor::from_storage(storage, *dtype, [n, k]).unwrap();
        let t = 8;
        let x: Vec<f32> = inputs.iter().cycle().take(t).flatten().copied().collect();
        same_prefill_on_every_path(&pool, &w, &x, t);
    }
}

/// The VNNI path's Q3_K decode has two bodies: with GFNI (taken where the
/// CPU has it) and without (Cascade and Cooper Lake). The suite's other
/// tests reach only the one this CPU takes, so this one runs both on the
/// same rows, random, every bit set and real, against the portable code.
#[test]
#[cfg(target_arch = "x86_64")]
fn q3_k_decode_gives_the_same_bits_with_and_without_gfni() {
    use monologue::backend::cpu::quant_dot::{avx512, rows, Activations};
    if !Isa::Avx512Vnni.is_supported() || !avx512::has_gfni() {
        eprintln!("skipped: this CPU lacks AVX-512 VNNI or GFNI (or MONOLOGUE_SIMD excludes them)");
        return;
    }
    let mut rng = Rng::new(33);
    let (n, per_row) = (12, 4);
    let k = 256 * per_row;
    let mut bytes = vec![0u8; DType::Q3_K.bytes_for(n * k).unwrap()];
    quant::quantize(DType::Q3_K, &rng.normals(n * k), &mut bytes).unwrap();
    // Rows 0..4 random bytes (any scale and code), row 4 every bit set;
    // each block's f16 `d` kept finite.
    let row_bytes = bytes.len() / n;
    let random = rng.bytes(4 * row_bytes);
    bytes[..4 * row_bytes].copy_from_slice(&random);
    bytes[4 * row_bytes..5 * row_bytes].fill(0xFF);
    let blocks: &mut [quant::BlockQ3K] = bytemuck::cast_slice_mut(&mut bytes);
    for b in blocks.iter_mut() {
        if !b.d.is_finite() {
            b.d = half::f16::from_f32(0.01);
        }
    }
    let blocks: &[quant::BlockQ3K] = bytemuck::cast_slice(&bytes);
    for x in [rng.normals(k), vec![1.0; k], vec![-1.0; k]] {
        let activations = Activations::quantize(Isa::Portable, DType::Q3_K, &x);
        let Activations::Q8k(xq) = &activations else {
            panic!("Q3_K takes Q8K activations");
        };
        let mut want = vec![0f32; n];
        rows(Isa::Portable, DType::Q3_K, &bytes, &activations, &mut want).unwrap();
        let (mut plain, mut gfni) = (vec![0f32; n], vec![0f32; n]);
        // SAFETY: checked above that the CPU has AVX-512 VNNI and GFNI.
        unsafe {
            avx512::vnni::rows_q3_k(blocks, xq, &mut plain);
            avx512::vnni_gfni::rows_q3_k(blocks, xq, &mut gfni);
        }
        assert_eq!(plain, want, "VNNI without GFNI");
        assert_eq!(gfni, want, "VNNI with GFNI");
    }
}
