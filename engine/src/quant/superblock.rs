//! The K-quant formats (Q2_K … Q6_K) in one common shape, so that the
//! integer kernels that consume them are written once.
//!
//! Every K-quant super-block of 256 weights can be written as
//!
//! ```text
//! value[i] = d · scale[j] · code[i] + m · min[j]      (j = i / 16)
//! ```
//!
//! with unsigned codes of at most six bits, small integer scales and mins
//! per 16 weights, and two floats per super-block (for Q4_K `m = -dmin`;
//! for Q6_K the code offset -32 becomes `min[j] = -32 · scale[j]`, `m = d`).
//! Against a [`BlockQ8K`] of activations `a[i] = da · q[i]`, a super-block's
//! dot product is then two exact integer sums and one float step:
//!
//! ```text
//! Σ value[i] a[i] = da · (d · Σ_j scale[j] Σ_{i∈j} code[i] q[i]  +  m · Σ_j min[j] bsum[j])
//! ```
//!
//! Every kernel (portable, AVX2, VNNI, the prefill GEMM) computes the two
//! integer sums exactly and then [`finish`], so all of them give the same
//! number bit for bit.

use super::{f16_to_f32, q2_k, q3_k, q4_k, q6_k};
use super::{Block, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};

/// One super-block in the common shape.
#[derive(Clone, Copy, Debug)]
pub struct Unpacked {
    /// Unsigned codes, at most 63.
    pub codes: [u8; 256],
    /// Per 16 weights; each fits in an i8.
    pub scales: [i16; 16],
    /// Per 16 weights; at most 4096 in size.
    pub mins: [i16; 16],
    pub d: f32,
    pub m: f32,
}

impl Default for Unpacked {
    fn default() -> Self {
        Unpacked {
            codes: [0; 256],
            scales: [0; 16],
            mins: [0; 16],
            d: 0.0,
            m: 0.0,
        }
    }
}

impl Unpacked {
    /// The weight values (for tests).
    pub fn values(&self) -> [f32; 256] {
        std::array::from_fn(|i| {
            let j = i / 16;
            self.d * (self.scales[j] as i32 * self.codes[i] as i32) as f32
                + self.m * self.mins[j] as f32
        })
    }
}

/// A K-quant block format: its super-blocks in the common shape.
pub trait SuperBlock: Block {
    fn unpack(&self, out: &mut Unpacked);
}

/// The integer sums `(Σ_j scale[j] Σ code·q, Σ_j min[j] bsum[j])` of one
/// super-block against one activation block (exact: at most 2^28 in size).
#[inline(always)]
pub fn integer_sums(u: &Unpacked, a: &BlockQ8K) -> (i32, i32) {
    let mut isum = 0i32;
    for ((codes, q), &scale) in u
        .codes
        .chunks_exact(16)
        .zip(a.qs.chunks_exact(16))
        .zip(&u.scales)
    {
        // Sixteen independent lanes, so that the loop becomes vector code.
        let mut lanes = [0i32; 16];
        for l in 0..16 {
            lanes[l] = codes[l] as i32 * q[l] as i32;
        }
        isum += scale as i32 * lanes.iter().sum::<i32>();
    }
    let msum = u
        .mins
        .iter()
        .zip(&a.bsums)
        .map(|(&m, &b)| m as i32 * b as i32)
        .sum();
    (isum, msum)
}

/// `acc + da · (d · isum + m · msum)`, in exactly these float operations
/// (no fused multiply-add), which every kernel repeats lane for lane.
#[inline(always)]
pub fn finish(acc: f32, da: f32, d: f32, m: f32, isum: i32, msum: i32) -> f32 {
    acc + da * (d * isum as f32 + m * msum as f32)
}

/// Q4_K and Q5_K share their scale packing: each 6-bit scale and min
/// covers 32 weights, that is two of our 16.
fn q4_k_scales(scales: &[u8; 12], out: &mut Unpacked) {
    for j in 0..8 {
        let (sc, mn) = q4_k::scale_min(scales, j);
        out.scales[2 * j..2 * j + 2].fill(sc as i16);
        out.mins[2 * j..2 * j + 2].fill(mn as i16);
    }
}

impl SuperBlock for BlockQ4K {
    fn unpack(&self, out: &mut Unpacked) {
        for (c, qs) in self.qs.chunks_exact(32).enumerate() {
            for (l, &byte) in qs.iter().enumerate() {
                out.codes[64 * c + l] = byte & 0x0F;
                out.codes[64 * c + 32 + l] = byte >> 4;
            }
        }
        q4_k_scales(&self.scales, out);
        out.d = f16_to_f32(self.d);
        out.m = -f16_to_f32(self.dmin);
    }
}

impl SuperBlock for BlockQ5K {
    fn unpack(&self, out: &mut Unpacked) {
        for j in 0..8 {
            let (c, shift) = (j / 2, 4 * (j % 2));
            for l in 0..32 {
                let low = (self.qs[32 * c + l] >> shift) & 0x0F;
                let high = (self.qh[l] >> j) & 1;
                out.codes[32 * j + l] = low | (high << 4);
            }
        }
        q4_k_scales(&self.scales, out);
        out.d = f16_to_f32(self.d);
        out.m = -f16_to_f32(self.dmin);
    }
}

impl SuperBlock for BlockQ6K {
    fn unpack(&self, out: &mut Unpacked) {
        for h in 0..2 {
            for l in 0..32 {
                let (lo0, lo1) = (self.ql[64 * h + l], self.ql[64 * h + 32 + l]);
                let qh = self.qh[32 * h + l];
                let codes = &mut out.codes[128 * h..];
                codes[l] = (lo0 & 0x0F) | ((qh & 3) << 4);
                codes[32 + l] = (lo1 & 0x0F) | (((qh >> 2) & 3) << 4);
                codes[64 + l] = (lo0 >> 4) | (((qh >> 4) & 3) << 4);
                codes[96 + l] = (lo1 >> 4) | (((qh >> 6) & 3) << 4);
            }
        }
        debug_assert!(
            (0..256).all(|e| out.codes[e] == q6_k::code(self, e / 128, e % 128 / 32, e % 32))
        );
        for j in 0..16 {
            out.scales[j] = self.scales[j] as i16;
            out.mins[j] = -32 * self.scales[j] as i16;
        }
        out.d = f16_to_f32(self.d);
        out.m = out.d;
    }
}

impl SuperBlock for BlockQ3K {
    fn unpack(&self, out: &mut Unpacked) {
        for h in 0..2 {
            for k in 0..4 {
                for l in 0..32 {
                    let low = (self.qs[32 * h + l] >> (2 * k)) & 3;
                    let high = (self.hmask[l] >> (4 * h + k)) & 1;
                    out.codes[128 * h + 32 * k + l] = low | (high << 2);
                }
            }
        }
        for j in 0..16 {
            let scale = q3_k::scale(&self.scales, j) as i16 - 32;
            out.scales[j] = scale;
            out.mins[j] = -4 * scale;
        }
        out.d = f16_to_f32(self.d);
        out.m = out.d;
    }
}

impl SuperBlock for BlockQ2K {
    fn unpack(&self, out: &mut Unpacked) {
        for h in 0..2 {
            for k in 0..4 {
                for l in 0..32 {
                    out.codes[128 * h + 32 * k + l] = (self.qs[32 * h + l] >> (2 * k)) & 3;
                }
            }
        }
        debug_assert!((0..256).all(|e| out.codes[e] == q2_k::code(self, e)));
        for j in 0..16 {
            out.scales[j] = (self.scales[j] & 0x0F) as i16;
            out.mins[j] = (self.scales[j] >> 4) as i16;
        }
        out.d = f16_to_f32(self.d);
        out.m = -f16_to_f32(self.dmin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<B: SuperBlock>() {
        let x: Vec<f32> = (0..1024)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let mut blocks = vec![<B as bytemuck::Zeroable>::zeroed(); 4];
        B::quantize_row(&x, &mut blocks);
        let mut want = vec![0f32; 1024];
        B::dequantize_row(&blocks, &mut want);
        let mut u = Unpacked::default();
        for (b, want) in blocks.iter().zip(want.chunks_exact(256)) {
            b.unpack(&mut u);
            for (got, want) in u.values().iter().zip(want) {
                assert!(
                    (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "{}: {got} vs {want}",
                    B::DTYPE
                );
            }
        }
    }

    #[test]
    fn every_k_quant_unpacks_to_its_values() {
        check::<BlockQ2K>();
        check::<BlockQ3K>();
        check::<BlockQ4K>();
        check::<BlockQ5K>();
        check::<BlockQ6K>();
    }
}
