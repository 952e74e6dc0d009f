//! Q4_0: blocks of 32 weights, one f16 scale and 16 bytes of nibbles
//! (18 bytes). Byte `j` holds element `j` in its low nibble and element
//! `j + 16` in its high nibble; value = `(q - 8) * d`.

use super::f16_to_f32;
use half::f16;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ4_0 {
    pub d: f16,
    pub qs: [u8; 16],
}

/// Quantize whole blocks like llama.cpp's reference: the element of largest
/// magnitude maps to -8 exactly (so the sign of `d` follows it), the others
/// round to nearest by `trunc(x / d + 8.5)`.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ4_0]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(32)) {
        // The first element of largest magnitude, with its sign.
        let max = x
            .iter()
            .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        block.d = f16::from_f32(d);
        // `as u8` truncates (and saturates negatives to 0), as numpy's astype does.
        let q = |v: f32| ((v * id + 8.5) as u8).min(15);
        for j in 0..16 {
            block.qs[j] = q(x[j]) | (q(x[j + 16]) << 4);
        }
    }
}

pub fn dequantize_row(blocks: &[BlockQ4_0], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let d = f16_to_f32(block.d);
        for (j, &byte) in block.qs.iter().enumerate() {
            out[j] = ((byte & 0x0F) as i32 - 8) as f32 * d;
            out[j + 16] = ((byte >> 4) as i32 - 8) as f32 * d;
        }
    }
}
