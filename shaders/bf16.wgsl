// bf16 weights, two to a word, read in blocks of 32 (16 words). A bf16 is
// the top half of an f32, so each becomes one with a shift or a mask: no
// adapter feature is needed, and the values are exact.
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;

fn bf16_pair(word: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        let lo = bf16_pair(w_quants[block * 16u + 2u * i]);
        let hi = bf16_pair(w_quants[block * 16u + 2u * i + 1u]);
        out[i] = vec4<f32>(lo, hi);
    }
    return out;
}
