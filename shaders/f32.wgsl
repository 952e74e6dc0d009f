// Plain f32 weights, read in blocks of 32 like the quantized formats so the
// same kernels serve them.
@group(0) @binding(0) var<storage, read> w_quants: array<vec4<f32>>;

fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        out[i] = w_quants[block * 8u + i];
    }
    return out;
}
