//! Quantize → dequantize stays within each format's error bound:
//! Q8_0 within half a step (max|x|/254) per element, Q4_0 within one step
//! (max|x|/8), Q4_1 within half a step ((max-min)/30), all plus the f16
//! rounding of the scales; Q4_K within 1.5 of its sub-block's step and 10%
//! relative RMS error, Q6_K within 1.5 steps and 3.5% relative RMS error.

use crate::common;

use common::Rng;
use monologue::quant::{self, q4_k, BlockQ4K, BlockQ6K};
use monologue::DType;

fn round_trip(dtype: DType, x: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let mut bytes = vec![0u8; dtype.bytes_for(x.len()).unwrap()];
    quant::quantize(dtype, x, &mut bytes).unwrap();
    let mut y = vec![0f32; x.len()];
    quant::dequantize(dtype, &bytes, &mut y).unwrap();
    (bytes, y)
}

/// Test data: normal values with a few outliers and an all-zero stretch.
fn data(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut x: Vec<f32> = rng.normals(n).iter().map(|v| v * 0.02).collect();
    for i in (0..n).step_by(97) {
        x[i] *= 25.0;
    }
    x[256..512].fill(0.0);
    x
}

fn relative_rms(x: &[f32], y: &[f32]) -> f32 {
    let err: f32 = x.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum();
    let sig: f32 = x.iter().map(|a| a * a).sum();
    (err / sig).sqrt()
}

/// Legacy 32-blocks: a per-element bound from the block's own statistics.
/// The f16 rounding of the scales adds at most 2^-11 relative to them.
#[test]
fn legacy_formats_stay_within_half_a_step() {
    let x = data(3, 32 * 300);
    for dtype in [DType::Q8_0, DType::Q4_0, DType::Q4_1] {
        let (_, y) = round_trip(dtype, &x);
        for (b, (xb, yb)) in x.chunks(32).zip(y.chunks(32)).enumerate() {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let min = xb.iter().copied().fold(f32::INFINITY, f32::min);
            let max = xb.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let f16_eps = 1.0 / 2048.0;
            let bound = match dtype {
                // Half a step of amax/127, plus the scale's rounding × 127.
                DType::Q8_0 => 0.5 * amax / 127.0 + amax * f16_eps,
                // The extreme maps to -8 exactly; the other side reaches only
                // +7 steps, so elements there may be off by a whole step.
                DType::Q4_0 => amax / 8.0 + amax * f16_eps,
                // Half a step of (max-min)/15, plus the rounding of d and m.
                DType::Q4_1 => 0.5 * (max - min) / 15.0 + (max - min + min.abs()) * f16_eps,
                _ => unreachable!(),
            } * 1.0001;
            for (i, (a, b2)) in xb.iter().zip(yb).enumerate() {
                assert!(
                    (a - b2).abs() <= bound,
                    "{dtype} block {b} element {i}: {a} became {b2}, bound {bound}"
                );
            }
        }
        println!("{dtype}: relative RMS error {:.4}", relative_rms(&x, &y));
    }
}

#[test]
fn k_quants_stay_within_their_bounds() {
    let x = data(4, 256 * 64);
    for dtype in [DType::Q4_K, DType::Q6_K] {
        let (bytes, y) = round_trip(dtype, &x);
        let rms = relative_rms(&x, &y);
        // Per element, in units of its sub-block's final step `d*sc`.
        let mut worst_steps = 0f32;
        for (s, (xs, ys)) in x.chunks(256).zip(y.chunks(256)).enumerate() {
            let sub = if dtype == DType::Q4_K { 32 } else { 16 };
            for (j, (xj, yj)) in xs.chunks(sub).zip(ys.chunks(sub)).enumerate() {
                let step = match dtype {
                    DType::Q4_K => {
                        let b: &BlockQ4K = &bytemuck::cast_slice(&bytes)[s];
                        b.d.to_f32() * q4_k::scale_min(&b.scales, j).0 as f32
                    }
                    _ => {
                        let b: &BlockQ6K = &bytemuck::cast_slice(&bytes)[s];
                        (b.d.to_f32() * b.scales[j] as f32).abs()
                    }
                };
                let err = xj
                    .iter()
                    .zip(yj)
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                if step > 0.0 {
                    worst_steps = worst_steps.max(err / step);
                } else {
                    assert!(
                        err <= 1e-6,
                        "{dtype} sub-block {j} of {s}: zero step, error {err}"
                    );
                }
            }
        }
        println!("{dtype}: relative RMS error {rms:.4}, worst element {worst_steps:.3} steps");
        // Measured 0.094 / 1.39 steps (Q4_K) and 0.033 / 1.25 steps (Q6_K)
        // on this data; the bounds leave a little room. An element can be more
        // than half a step off because the 6-bit (Q4_K) or 8-bit (Q6_K)
        // sub-block scales are rounded, so the grid may not reach the extremes.
        let (rms_bound, steps_bound) = if dtype == DType::Q4_K {
            (0.10, 1.5)
        } else {
            (0.035, 1.5)
        };
        assert!(
            rms <= rms_bound,
            "{dtype}: relative RMS error {rms} > {rms_bound}"
        );
        assert!(
            worst_steps <= steps_bound,
            "{dtype}: an element is {worst_steps} steps off (bound {steps_bound})"
        );
    }
}
