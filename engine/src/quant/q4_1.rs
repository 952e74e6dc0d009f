//! Q4_1: blocks of 32 weights, f16 scale `d`, f16 minimum `m` and 16 bytes
//! of nibbles (20 bytes), nibble order as in Q4_0; value = `q * d + m`.

use super::f16_to_f32;
use half::f16;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ4_1 {
    pub d: f16,
    pub m: f16,
    pub qs: [u8; 16],
}

/// Quantize whole blocks like llama.cpp's reference: `m = min`,
/// `d = (max - min) / 15`, `q = trunc((x - min) / d + 0.5)`.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ4_1]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(32)) {
        let min = x.iter().copied().fold(f32::INFINITY, f32::min);
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        block.d = f16::from_f32(d);
        block.m = f16::from_f32(min);
        let q = |v: f32| (((v - min) * id + 0.5) as u8).min(15);
        for j in 0..16 {
            block.qs[j] = q(x[j]) | (q(x[j + 16]) << 4);
        }
    }
}

pub fn dequantize_row(blocks: &[BlockQ4_1], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let (d, m) = (f16_to_f32(block.d), f16_to_f32(block.m));
        for (j, &byte) in block.qs.iter().enumerate() {
            out[j] = (byte & 0x0F) as f32 * d + m;
            out[j + 16] = (byte >> 4) as f32 * d + m;
        }
    }
}
