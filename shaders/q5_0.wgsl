// Q5_0 weights as the GPU holds them (the CPU twin: engine/src/quant/q5_0.rs).
// A block's 22 bytes are split on upload: its f16 scale d goes to the
// scales (two blocks' to a word), the other 20 bytes to the quants, five
// words a block: a word of fifth bits (bit j for weight j), then 16 bytes of
// nibbles ordered as in Q4_0. A weight is d · (q − 16).
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;
@group(0) @binding(3) var<storage, read> w_scales: array<u32>;

fn block_scale(block: u32) -> f32 {
    let pair = unpack2x16float(w_scales[block / 2u]);
    return select(pair.x, pair.y, (block & 1u) == 1u);
}

fn nibbles(w: u32, shift: u32) -> vec4<f32> {
    let v = (w >> shift) & 0x0f0f0f0fu;
    return vec4<f32>(f32(v & 0xffu), f32((v >> 8u) & 0xffu), f32((v >> 16u) & 0xffu), f32(v >> 24u));
}

// Bits first…first+3 of `high` as 0 or 16 each.
fn fifth_bits(high: u32, first: u32) -> vec4<f32> {
    let b = (high >> first) & 0xfu;
    return 16.0 * vec4<f32>(f32(b & 1u), f32((b >> 1u) & 1u), f32((b >> 2u) & 1u), f32(b >> 3u));
}

fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    let d = block_scale(block);
    let base = block * 5u;
    let high = w_quants[base];
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 4u; i++) {
        let w = w_quants[base + 1u + i];
        out[i] = d * (nibbles(w, 0u) + fifth_bits(high, 4u * i) - 16.0);
        out[i + 4u] = d * (nibbles(w, 4u) + fifth_bits(high, 16u + 4u * i) - 16.0);
    }
    return out;
}
