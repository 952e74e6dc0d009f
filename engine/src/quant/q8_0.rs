//! Q8_0: blocks of 32 weights, one f16 scale and 32 signed bytes (34 bytes).
//! Value `i` is `qs[i] * d`.

use super::{f16_to_f32, round_away};
use half::f16;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ8_0 {
    pub d: f16,
    pub qs: [i8; 32],
}

/// Quantize whole blocks, bit-exact with llama.cpp's reference (and the
/// `gguf` package): `d = max|x| / 127`, `q = round(x / d)` half away from 0.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ8_0]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(32)) {
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        block.d = f16::from_f32(d);
        for (q, v) in block.qs.iter_mut().zip(x) {
            *q = round_away(v * id) as i8;
        }
    }
}

pub fn dequantize_row(blocks: &[BlockQ8_0], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let d = f16_to_f32(block.d);
        for (o, q) in out.iter_mut().zip(block.qs) {
            *o = q as f32 * d;
        }
    }
}
