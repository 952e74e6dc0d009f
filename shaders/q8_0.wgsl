// Q8_0 weights as the GPU holds them (the CPU twin: engine/src/quant/q8_0.rs).
// A block is 32 signed bytes packed four to a word (8 words) and one f16
// scale; the scales of two neighbouring blocks share a word. Exactly the
// 34 bytes a block takes in the file, split into two arrays so every read
// is an aligned word.
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;
@group(0) @binding(3) var<storage, read> w_scales: array<u32>;

fn block_scale(block: u32) -> f32 {
    let pair = unpack2x16float(w_scales[block / 2u]);
    return select(pair.x, pair.y, (block & 1u) == 1u);
}

// The four signed bytes of a word, low byte first.
fn bytes_i8(w: u32) -> vec4<f32> {
    return vec4<f32>(
        f32(bitcast<i32>(w << 24u) >> 24u),
        f32(bitcast<i32>(w << 16u) >> 24u),
        f32(bitcast<i32>(w << 8u) >> 24u),
        f32(bitcast<i32>(w) >> 24u),
    );
}

// The 32 weights of a block, in order, four to a vector.
fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    let d = block_scale(block);
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        out[i] = d * bytes_i8(w_quants[block * 8u + i]);
    }
    return out;
}
