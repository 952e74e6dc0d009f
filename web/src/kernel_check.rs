//! A check of the quantized dot products the browser runs (SIMD128 in the
//! wasm build) against the scalar reference, on random rows. The page's
//! tests call it through `kernelCheck()` inside the real wasm module, since
//! native tests never execute wasm SIMD.

use monologue::backend::cpu::quant_dot::{portable, Kernels, RowKernels};
use monologue::backend::cpu::simd::Isa;
use monologue::quant::*;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct KernelCheck {
    /// Whether this build's portable level runs SIMD128.
    pub simd128: bool,
    /// Per format: the largest |kernel − reference| / Σ|w·a| over the rows.
    pub errors: Vec<(String, f64)>,
    pub rows: usize,
}

/// Compares the row kernels (what the model runs) with the scalar `dot_*`
/// for every block format, on rows of awkward lengths. Every kernel sums
/// exact integers per block and then takes the scalar code's float steps
/// in its order, so the errors must be exactly zero: the browser computes
/// the native build's bits.
pub fn run(seed: u64) -> KernelCheck {
    let mut check = Check {
        rng: seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407),
        errors: Vec::new(),
        rows: 0,
    };
    check.format::<BlockQ8_0>("q8_0", portable::dot_q8_0);
    check.format::<BlockQ4_0>("q4_0", portable::dot_q4_0);
    check.format::<BlockQ4_1>("q4_1", portable::dot_q4_1);
    check.format::<BlockQ5_0>("q5_0", portable::dot_q5_0);
    check.format::<BlockQ5_1>("q5_1", portable::dot_q5_1);
    check.format::<BlockIQ4NL>("iq4_nl", portable::dot_iq4_nl);
    check.format_k::<BlockQ2K>("q2_k");
    check.format_k::<BlockQ3K>("q3_k");
    check.format_k::<BlockQ4K>("q4_k");
    check.format_k::<BlockQ5K>("q5_k");
    check.format_k::<BlockQ6K>("q6_k");
    check.format::<BlockIQ4XS>("iq4_xs", portable::dot_iq4_xs);
    KernelCheck {
        simd128: cfg!(all(target_arch = "wasm32", target_feature = "simd128")),
        errors: check.errors,
        rows: check.rows,
    }
}

struct Check {
    rng: u64,
    errors: Vec<(String, f64)>,
    rows: usize,
}

impl Check {
    /// Roughly normal test data (a sum of uniforms).
    fn normal(&mut self) -> f32 {
        (0..4)
            .map(|_| {
                self.rng = self
                    .rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (self.rng >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .sum::<f32>()
    }

    /// The worst relative error of K-quant format `B`'s row kernel against
    /// the scalar `dot_k` (both take Q8K activations).
    fn format_k<B: RowKernels + SuperBlock>(&mut self, name: &str) {
        let Kernels::Q8k { rows, .. } = B::KERNELS else {
            panic!("{name} is not a K-quant");
        };
        let mut worst = 0f64;
        for blocks in [1usize, 2, 3, 7] {
            let n = 256 * blocks;
            let w: Vec<f32> = (0..4 * n).map(|_| self.normal()).collect();
            let x: Vec<f32> = (0..n).map(|_| self.normal() * 3.0).collect();
            let mut xq = vec![BlockQ8K::default(); blocks];
            q8k::quantize_row(&x, &mut xq);
            let mut wq = vec![<B as bytemuck::Zeroable>::zeroed(); 4 * blocks];
            B::quantize_row(&w, &mut wq);
            let mut y = [0f32; 4];
            rows(Isa::Portable, &wq, &xq, &mut y);
            for (r, got) in y.iter().enumerate() {
                let want = portable::dot_k(&wq[r * blocks..][..blocks], &xq);
                let scale: f64 = (0..n)
                    .map(|i| (w[r * n + i] as f64 * x[i] as f64).abs())
                    .sum::<f64>()
                    .max(1e-30);
                worst = worst.max((got - want).abs() as f64 / scale);
                self.rows += 1;
            }
        }
        self.errors.push((name.to_string(), worst));
    }

    /// The worst relative error of format `B`'s row kernel against `dot`.
    fn format<B: RowKernels>(&mut self, name: &str, dot: fn(&[B], &[BlockQ8A]) -> f32) {
        let Kernels::Q8a { rows, .. } = B::KERNELS else {
            panic!("{name} takes Q8A activations");
        };
        let per_block = B::DTYPE.block_len() / 32;
        let mut worst = 0f64;
        for super_blocks in [1usize, 3, 18, 49] {
            // Rows of that many 32-weight blocks, or of 256-weight ones.
            let blocks = super_blocks.div_ceil(per_block);
            let n = B::DTYPE.block_len() * blocks;
            let w: Vec<f32> = (0..4 * n).map(|_| self.normal()).collect();
            let x: Vec<f32> = (0..n).map(|_| self.normal() * 3.0).collect();
            let mut xq = vec![BlockQ8A::default(); n / 32];
            q8a::quantize_row(&x, &mut xq);
            let mut wq = vec![<B as bytemuck::Zeroable>::zeroed(); 4 * blocks];
            B::quantize_row(&w, &mut wq);
            let mut y = [0f32; 4];
            rows(Isa::Portable, &wq, &xq, &mut y);
            for (r, got) in y.iter().enumerate() {
                let want = dot(&wq[r * blocks..][..blocks], &xq);
                let scale: f64 = (0..n)
                    .map(|i| (w[r * n + i] as f64 * x[i] as f64).abs())
                    .sum::<f64>()
                    .max(1e-30);
                worst = worst.max((got - want).abs() as f64 / scale);
                self.rows += 1;
            }
        }
        self.errors.push((name.to_string(), worst));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_native_portable_level_matches_itself_exactly() {
        let check = super::run(7);
        assert_eq!(check.errors.len(), 12);
        for (name, error) in &check.errors {
            assert_eq!(*error, 0.0, "{name}");
        }
    }
}
