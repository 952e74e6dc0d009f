//! Q5_1: blocks of 32 weights: f16 scale `d`, f16 minimum `m`, the fifth
//! bits and the nibbles laid out as in Q5_0 (24 bytes); value = `q * d + m`.

use super::f16_to_f32;
use super::q5_0::{codes, pack_codes};
use half::f16;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ5_1 {
    pub d: f16,
    pub m: f16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

/// Quantize whole blocks like llama.cpp's reference: `m = min`,
/// `d = (max - min) / 31`, `q = trunc((x - min) / d + 0.5)`.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ5_1]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(32)) {
        let min = x.iter().copied().fold(f32::INFINITY, f32::min);
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        block.d = f16::from_f32(d);
        block.m = f16::from_f32(min);
        let q: [u8; 32] = std::array::from_fn(|j| (((x[j] - min) * id + 0.5) as u8).min(31));
        (block.qh, block.qs) = pack_codes(&q);
    }
}

pub fn dequantize_row(blocks: &[BlockQ5_1], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let (d, m) = (f16_to_f32(block.d), f16_to_f32(block.m));
        for (o, q) in out.iter_mut().zip(codes(&block.qh, &block.qs)) {
            *o = q as f32 * d + m;
        }
    }
}
