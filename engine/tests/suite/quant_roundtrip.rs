//! Quantize → dequantize stays within each format's error bound:
//! Q8_0 within half a step (max|x|/254) per element, Q4_0 and Q5_0 within
//! one step (max|x|/8, max|x|/16), Q4_1 and Q5_1 within half a step
//! ((max-min)/30, (max-min)/62), all plus the f16 rounding of the scales;
//! the K-quants within 1.5 of their sub-block's step and a relative RMS
//! error for each; IQ4_NL and IQ4_XS within half the widest gap of their
//! grid (12 units of the sub-block's scale) and a relative RMS error.

use crate::common;

use common::Rng;
use monologue::quant::{self, iq4_xs, q3_k, q4_k, BlockIQ4NL, BlockIQ4XS};
use monologue::quant::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K};
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
    for dtype in [
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q5_0,
        DType::Q5_1,
    ] {
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
                DType::Q5_0 => amax / 16.0 + amax * f16_eps,
                DType::Q5_1 => 0.5 * (max - min) / 31.0 + (max - min + min.abs()) * f16_eps,
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

/// The step of sub-block `j` of super-block `s` (its weights' unit), and
/// the sub-block length.
fn k_step(dtype: DType, bytes: &[u8], s: usize, j: usize) -> f32 {
    fn block<B: bytemuck::Pod>(bytes: &[u8], s: usize) -> &B {
        &bytemuck::cast_slice(bytes)[s]
    }
    match dtype {
        DType::Q2_K => {
            let b: &BlockQ2K = block(bytes, s);
            b.d.to_f32() * (b.scales[j] & 0x0F) as f32
        }
        DType::Q3_K => {
            let b: &BlockQ3K = block(bytes, s);
            (b.d.to_f32() * (q3_k::scale(&b.scales, j) as f32 - 32.0)).abs()
        }
        DType::Q4_K => {
            let b: &BlockQ4K = block(bytes, s);
            b.d.to_f32() * q4_k::scale_min(&b.scales, j).0 as f32
        }
        DType::Q5_K => {
            let b: &BlockQ5K = block(bytes, s);
            b.d.to_f32() * q4_k::scale_min(&b.scales, j).0 as f32
        }
        DType::Q6_K => {
            let b: &BlockQ6K = block(bytes, s);
            (b.d.to_f32() * b.scales[j] as f32).abs()
        }
        DType::IQ4_NL => {
            let b: &BlockIQ4NL = block(bytes, 8 * s + j);
            b.d.to_f32().abs()
        }
        DType::IQ4_XS => {
            let b: &BlockIQ4XS = block(bytes, s);
            (b.d.to_f32() * iq4_xs::sub_scale(b, j) as f32).abs()
        }
        _ => unreachable!(),
    }
}

#[test]
fn k_quants_stay_within_their_bounds() {
    let x = data(4, 256 * 64);
    // (format, sub-block length, relative RMS bound, worst element in steps).
    // Measured on this data: Q2_K 0.184 / 2.00, Q3_K 0.130 / 2.20,
    // Q4_K 0.094 / 1.39, Q5_K 0.048 / 1.46, Q6_K 0.033 / 1.25,
    // IQ4_NL 0.112 / 10.9, IQ4_XS 0.114 / 12.0 once clipping is set aside.
    // An element can be more than half a step off because the sub-block
    // scales are rounded, so the grid may not reach the extremes; IQ4's
    // steps are units of the scale, its widest gap (89 to 113) is 24 of
    // them, and an element beyond the grid's end (113 or -127 steps) may
    // be clipped by as much as it lies beyond.
    let formats = [
        (DType::Q2_K, 16, 0.19, 2.1),
        (DType::Q3_K, 16, 0.135, 2.3),
        (DType::Q4_K, 32, 0.10, 1.5),
        (DType::Q5_K, 32, 0.05, 1.5),
        (DType::Q6_K, 16, 0.035, 1.5),
        (DType::IQ4_NL, 32, 0.115, 12.5),
        (DType::IQ4_XS, 32, 0.12, 12.5),
    ];
    for (dtype, sub, rms_bound, steps_bound) in formats {
        let (bytes, y) = round_trip(dtype, &x);
        let rms = relative_rms(&x, &y);
        let mut worst_steps = 0f32;
        for (s, (xs, ys)) in x.chunks(256).zip(y.chunks(256)).enumerate() {
            for (j, (xj, yj)) in xs.chunks(sub).zip(ys.chunks(sub)).enumerate() {
                let step = k_step(dtype, &bytes, s, j);
                let iq4 = matches!(dtype, DType::IQ4_NL | DType::IQ4_XS);
                let err = xj.iter().zip(yj).fold(0f32, |m, (a, b)| {
                    let clipped = if iq4 {
                        (a.abs() - 113.0 * step).max(0.0)
                    } else {
                        0.0
                    };
                    m.max((a - b).abs() - clipped)
                });
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
