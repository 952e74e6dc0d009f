//! Q5_0: blocks of 32 weights: an f16 scale, four bytes holding each
//! weight's fifth bit, and 16 bytes of nibbles (22 bytes). Weight `j` has
//! its low four bits in the low nibble of `qs[j]` (j < 16) or the high
//! nibble of `qs[j - 16]`, and bit `j` of `qh` (a little-endian u32) on top;
//! value = `(q - 16) * d`.

use super::f16_to_f32;
use half::f16;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ5_0 {
    pub d: f16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

/// For each byte of fifth bits, eight bytes holding 0x10 where its bit is
/// set (bit `b` in byte `b`): four lookups spread a block's 32 bits.
const SPREAD: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut b = 0;
        while b < 8 {
            if byte >> b & 1 == 1 {
                table[byte] |= 0x10 << (8 * b);
            }
            b += 1;
        }
        byte += 1;
    }
    table
};

/// The 32 five-bit codes (0..32) of a Q5_0 or Q5_1 block, in order
/// (weight `8i + b` has bit `b` of `qh[i]`).
#[inline(always)]
pub fn codes(qh: &[u8; 4], qs: &[u8; 16]) -> [u8; 32] {
    let mut q = [0u8; 32];
    for j in 0..16 {
        q[j] = qs[j] & 0x0F;
        q[j + 16] = qs[j] >> 4;
    }
    for (i, chunk) in q.chunks_exact_mut(8).enumerate() {
        let high = SPREAD[qh[i] as usize].to_le_bytes();
        for (c, h) in chunk.iter_mut().zip(high) {
            *c |= h;
        }
    }
    q
}

/// `(qh, qs)` of 32 five-bit codes: the inverse of [`codes`].
pub fn pack_codes(q: &[u8; 32]) -> ([u8; 4], [u8; 16]) {
    let mut qs = [0u8; 16];
    let mut high = 0u32;
    for j in 0..16 {
        qs[j] = (q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4);
        high |= ((q[j] >> 4) as u32 & 1) << j;
        high |= ((q[j + 16] >> 4) as u32 & 1) << (j + 16);
    }
    (high.to_le_bytes(), qs)
}

/// Quantize whole blocks like llama.cpp's reference: the element of
/// largest magnitude maps to -16 exactly, the others round to nearest by
/// `trunc(x / d + 16.5)`, capped at 31.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ5_0]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(32)) {
        let max = x
            .iter()
            .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        block.d = f16::from_f32(d);
        // `as u8` truncates (and saturates negatives to 0), as numpy's astype does.
        let q: [u8; 32] = std::array::from_fn(|j| ((x[j] * id + 16.5) as u8).min(31));
        (block.qh, block.qs) = pack_codes(&q);
    }
}

pub fn dequantize_row(blocks: &[BlockQ5_0], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        let d = f16_to_f32(block.d);
        for (o, q) in out.iter_mut().zip(codes(&block.qh, &block.qs)) {
            *o = (q as i32 - 16) as f32 * d;
        }
    }
}
