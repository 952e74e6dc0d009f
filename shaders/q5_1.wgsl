// Q5_1 weights as the GPU holds them (the CPU twin: engine/src/quant/q5_1.rs):
// the file's 24-byte blocks unchanged (they are word-aligned), six words a
// block: f16 d and f16 minimum m, a word of fifth bits (bit j for weight j),
// then 16 bytes of nibbles ordered as in Q4_0. A weight is d · q + m.
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;

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
    let base = block * 6u;
    let dm = unpack2x16float(w_quants[base]);
    let high = w_quants[base + 1u];
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 4u; i++) {
        let w = w_quants[base + 2u + i];
        out[i] = dm.x * (nibbles(w, 0u) + fifth_bits(high, 4u * i)) + dm.y;
        out[i + 4u] = dm.x * (nibbles(w, 4u) + fifth_bits(high, 16u + 4u * i)) + dm.y;
    }
    return out;
}
