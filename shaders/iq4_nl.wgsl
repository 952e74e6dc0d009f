// IQ4_NL weights as the GPU holds them (the CPU twin: engine/src/quant/iq4_nl.rs).
// A block is 16 bytes of 4-bit indices (4 words), ordered as in Q4_0, and
// one f16 scale, two blocks' scales to a word. An index picks one of
// sixteen levels, closer together near zero; a weight is d · GRID[q].
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;
@group(0) @binding(3) var<storage, read> w_scales: array<u32>;

var<private> GRID: array<f32, 16> = array<f32, 16>(
    -127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
    1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0,
);

fn block_scale(block: u32) -> f32 {
    let pair = unpack2x16float(w_scales[block / 2u]);
    return select(pair.x, pair.y, (block & 1u) == 1u);
}

// The levels of the low (shift 0) or high (shift 4) nibbles of a word.
fn levels(w: u32, shift: u32) -> vec4<f32> {
    let v = (w >> shift) & 0x0f0f0f0fu;
    return vec4<f32>(GRID[v & 0xffu], GRID[(v >> 8u) & 0xffu], GRID[(v >> 16u) & 0xffu], GRID[v >> 24u]);
}

fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    let d = block_scale(block);
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 4u; i++) {
        let w = w_quants[block * 4u + i];
        out[i] = d * levels(w, 0u);
        out[i + 4u] = d * levels(w, 4u);
    }
    return out;
}
