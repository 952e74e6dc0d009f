//! Q8A: the activation format the integer dot products consume.
//!
//! Activations are quantized once per matrix product (per token), so their
//! format is ours to choose. Blocks of 32 match the 32-element blocks of
//! Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/IQ4_NL, and IQ4_XS reads eight per 256-element
//! super-block (the K-quants take `q8k` instead). Next to the scale `d`
//! each block carries `s = d Σ qs`, the block's sum as a float, so that a
//! kernel folds a weight offset (Q4_0's -8, Q4_1's min) into one multiply
//! instead of subtracting it from every weight; `d` and `s` sit side by side so one 8-byte load fetches both.
//! Both are f32 because activations, unlike weights, are not stored.

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ8A {
    /// Value `i` is `qs[i] * d`.
    pub d: f32,
    /// `d * Σ qs`: the block's values summed (exactly, up to f32 rounding).
    pub s: f32,
    /// In -127..=127: never -128, so a kernel may negate them.
    pub qs: [i8; 32],
    /// `Σ qs`, exactly: what a kernel that offsets signed weights by 128
    /// into u8 takes back off (`128 · Σ qs`).
    pub sum: i32,
}

/// Quantize `x` (a multiple of 32 long) into `out` (`x.len() / 32` blocks):
/// `d = max|x| / 127`, `q = round(x / d)` half away from zero. Every value
/// is then within `d / 2` of `q * d`.
pub fn quantize_row(x: &[f32], out: &mut [BlockQ8A]) {
    for (block, x) in out.iter_mut().zip(x.chunks_exact(32)) {
        // Eight running maxima, which vectorise; one would be a serial chain.
        let mut lanes = [0f32; 8];
        for c in x.chunks_exact(8) {
            for (m, v) in lanes.iter_mut().zip(c) {
                *m = m.max(v.abs());
            }
        }
        let amax = lanes.iter().fold(0f32, |m, &v| m.max(v));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        block.d = d;
        for (q, v) in block.qs.iter_mut().zip(x) {
            *q = round_small(v * id);
        }
        block.sum = block.qs.iter().map(|&q| q as i32).sum();
        block.s = d * block.sum as f32;
    }
}

/// `round(v)` half away from zero, clamped to -127..=127 (the same, as
/// rounding is monotonic, as clamping first). Built from a truncating
/// conversion rather than `f32::round`, which neither SSE2 nor wasm has as
/// an instruction, so that the loop above vectorises.
#[inline(always)]
pub(crate) fn round_small(v: f32) -> i8 {
    let v = v.clamp(-127.0, 127.0);
    let t = v as i32;
    let away = ((v - t as f32).abs() >= 0.5) as i32;
    (t + if v < 0.0 { -away } else { away }) as i8
}

/// The values a block stands for (for tests and references).
pub fn dequantize_row(blocks: &[BlockQ8A], out: &mut [f32]) {
    for (block, out) in blocks.iter().zip(out.chunks_exact_mut(32)) {
        for (o, &q) in out.iter_mut().zip(&block.qs) {
            *o = q as f32 * block.d;
        }
    }
}
