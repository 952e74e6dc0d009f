// f16 weights, two to a word, read in blocks of 32 (16 words). Converted
// with unpack2x16float, so no adapter feature is needed.
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;

fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        let lo = unpack2x16float(w_quants[block * 16u + 2u * i]);
        let hi = unpack2x16float(w_quants[block * 16u + 2u * i + 1u]);
        out[i] = vec4<f32>(lo, hi);
    }
    return out;
}
