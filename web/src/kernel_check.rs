//! A check of the quantized dot products the browser runs (SIMD128 in the
//! wasm build) against the scalar reference, on random rows. The page's
//! tests call it through `kernelCheck()` inside the real wasm module, since
//! native tests never execute wasm SIMD.

use monologue::backend::cpu::quant_dot::{self, portable};
use monologue::backend::cpu::simd::Isa;
use monologue::quant::{q4_0, q4_1, q8_0, q8a};
use monologue::quant::{BlockQ4_0, BlockQ4_1, BlockQ8A, BlockQ8_0};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct KernelCheck {
    /// Whether this build's portable level runs SIMD128.
    pub simd128: bool,
    /// Per format: the largest |kernel − reference| / Σ|w·a| over the rows.
    pub errors: Vec<(String, f64)>,
    pub rows: usize,
}

/// Compares `rows_*` (what the model runs) with the scalar `dot_*` for Q8_0,
/// Q4_0 and Q4_1 rows of awkward lengths, single rows and four at a time.
pub fn run(seed: u64) -> KernelCheck {
    let mut rng = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut normal = move || {
        // Sum of uniforms: roughly normal, enough for test data.
        (0..4)
            .map(|_| {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (rng >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .sum::<f32>()
    };
    let mut errors = Vec::new();
    let mut rows = 0;
    for blocks in [1usize, 3, 18, 49] {
        let n = 32 * blocks;
        let w: Vec<f32> = (0..4 * n).map(|_| normal()).collect();
        let x: Vec<f32> = (0..4 * n).map(|_| normal() * 3.0).collect();
        let mut xq = vec![BlockQ8A::default(); 4 * blocks];
        q8a::quantize_row(&x, &mut xq);
        // Σ|w·a| over one row: the scale errors are measured against.
        let scale = |r: usize, j: usize| -> f64 {
            (0..n)
                .map(|i| (w[r * n + i] as f64 * x[j * n + i] as f64).abs())
                .sum::<f64>()
                .max(1e-30)
        };
        macro_rules! check {
            ($name:literal, $block:ty, $quantize:path, $rows:ident, $rows4:ident, $dot:ident) => {{
                let mut wq = vec![<$block as bytemuck::Zeroable>::zeroed(); 4 * blocks];
                $quantize(&w, &mut wq);
                let mut worst = 0f64;
                for r in 0..4 {
                    let row = &wq[r * blocks..][..blocks];
                    let mut one = [0f32];
                    quant_dot::$rows(Isa::Portable, row, &xq[..blocks], &mut one);
                    let want = portable::$dot(row, &xq[..blocks]);
                    worst = worst.max((one[0] - want).abs() as f64 / scale(r, 0));
                    let mut four = [0f32; 4];
                    quant_dot::$rows4(Isa::Portable, row, &xq, &mut four);
                    for j in 0..4 {
                        let want = portable::$dot(row, &xq[j * blocks..][..blocks]);
                        worst = worst.max((four[j] - want).abs() as f64 / scale(r, j));
                    }
                    rows += 1;
                }
                match errors
                    .iter_mut()
                    .find(|(name, _): &&mut (String, f64)| name == $name)
                {
                    Some((_, e)) => *e = f64::max(*e, worst),
                    None => errors.push(($name.to_string(), worst)),
                }
            }};
        }
        check!(
            "q8_0",
            BlockQ8_0,
            q8_0::quantize_row,
            rows_q8_0,
            rows4_q8_0,
            dot_q8_0
        );
        check!(
            "q4_0",
            BlockQ4_0,
            q4_0::quantize_row,
            rows_q4_0,
            rows4_q4_0,
            dot_q4_0
        );
        check!(
            "q4_1",
            BlockQ4_1,
            q4_1::quantize_row,
            rows_q4_1,
            rows4_q4_1,
            dot_q4_1
        );
    }
    KernelCheck {
        simd128: cfg!(all(target_arch = "wasm32", target_feature = "simd128")),
        errors,
        rows,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_native_portable_level_matches_itself_exactly() {
        let check = super::run(7);
        assert_eq!(check.errors.len(), 3);
        for (name, error) in &check.errors {
            assert_eq!(*error, 0.0, "{name}");
        }
    }
}
