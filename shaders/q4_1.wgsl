// Q4_1 weights as the GPU holds them (the CPU twin: engine/src/quant/q4_1.rs).
// A block is 16 bytes of 4-bit values (4 words) and a word holding its f16
// scale d and f16 minimum m. Byte j holds weight j in its low nibble and
// weight j + 16 in its high nibble; a weight is d · q + m.
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;
@group(0) @binding(3) var<storage, read> w_scales: array<u32>;

fn nibbles(w: u32, shift: u32) -> vec4<f32> {
    let v = (w >> shift) & 0x0f0f0f0fu;
    return vec4<f32>(f32(v & 0xffu), f32((v >> 8u) & 0xffu), f32((v >> 16u) & 0xffu), f32(v >> 24u));
}

fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    let dm = unpack2x16float(w_scales[block]);
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 4u; i++) {
        let w = w_quants[block * 4u + i];
        out[i] = dm.x * nibbles(w, 0u) + dm.y;
        out[i + 4u] = dm.x * nibbles(w, 4u) + dm.y;
    }
    return out;
}
