//! IQ4_XS: super-blocks of 256 weights on IQ4_NL's grid (136 bytes): an f16
//! `d`, and for each of the eight 32-weight sub-blocks a 6-bit scale `ls`
//! (low four bits in `scales_l`, two per byte, low nibble first; high two
//! bits in `scales_h`, a little-endian u16, two bits per sub-block), then
//! 16 bytes of nibbles per sub-block ordered as in IQ4_NL;
//! value = `d * (ls - 32) * GRID[q]`.

use super::f16_to_f32;
use super::iq4_nl::{codes_for, fit_scale, pack_nibbles, GRID};
use half::f16;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockIQ4XS {
    pub d: f16,
    pub scales_h: [u8; 2],
    pub scales_l: [u8; 4],
    pub qs: [u8; 128],
}

/// Sub-block `j`'s signed scale `ls - 32`, in units of `d`.
#[inline(always)]
pub fn sub_scale(block: &BlockIQ4XS, j: usize) -> i32 {
    let low = (block.scales_l[j / 2] >> (4 * (j % 2))) & 0x0F;
    let high = (u16::from_le_bytes(block.scales_h) >> (2 * j)) & 3;
    (low as i32 | (high as i32) << 4) - 32
}

/// Each sub-block's scale fit alone, then rounded to -32..=31 in units of
/// `d = max|scale| / 31`, and the weights re-coded on the final scales.
pub fn quantize_row(x: &[f32], out: &mut [BlockIQ4XS]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(256)) {
        let s: [f32; 8] = std::array::from_fn(|j| fit_scale(&x[32 * j..][..32]));
        let d = f16::from_f32(s.iter().fold(0f32, |a, v| a.max(v.abs())) / 31.0);
        let df = f16_to_f32(d);
        block.d = d;
        block.scales_l = [0; 4];
        let mut high = 0u16;
        for j in 0..8 {
            let sub = &x[32 * j..][..32];
            let code = best_code(sub, s[j], df);
            let ls = (code + 32) as u8;
            block.scales_l[j / 2] |= (ls & 0x0F) << (4 * (j % 2));
            high |= ((ls >> 4) as u16) << (2 * j);
            let codes = codes_for(sub, df * code as f32);
            block.qs[16 * j..][..16].copy_from_slice(&pack_nibbles(&codes));
        }
        block.scales_h = high.to_le_bytes();
    }
}

/// The scale code nearest `s / d`, or a neighbour that fits `x` better.
fn best_code(x: &[f32], s: f32, d: f32) -> i32 {
    if d <= 0.0 {
        return 0;
    }
    let error = |code: i32| -> f32 {
        let step = d * code as f32;
        let codes = codes_for(x, step);
        codes
            .iter()
            .zip(x)
            .map(|(&c, &v)| (step * GRID[c as usize] as f32 - v).powi(2))
            .sum()
    };
    let nearest = ((s / d).round() as i32).clamp(-32, 31);
    [nearest - 1, nearest + 1]
        .into_iter()
        .filter(|c| (-32..=31).contains(c))
        .fold((nearest, error(nearest)), |best, c| {
            let e = error(c);
            if e < best.1 {
                (c, e)
            } else {
                best
            }
        })
        .0
}

pub fn dequantize_row(blocks: &[BlockIQ4XS], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(256)) {
        let d = f16_to_f32(block.d);
        for (j, out) in out.chunks_exact_mut(32).enumerate() {
            let dl = d * sub_scale(block, j) as f32;
            for (l, &byte) in block.qs[16 * j..][..16].iter().enumerate() {
                out[l] = dl * GRID[(byte & 0x0F) as usize] as f32;
                out[l + 16] = dl * GRID[(byte >> 4) as usize] as f32;
            }
        }
    }
}
