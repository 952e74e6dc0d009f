// Q5_K weights as the GPU holds them (the CPU twin: engine/src/quant/q5_k.rs):
// the file's 176-byte super-blocks unchanged (they are word-aligned). A
// super-block covers 256 weights in 8 sub-blocks of 32:
//   word 0        f16 d, f16 dmin
//   words 1–3     12 bytes: the 6-bit scales and mins, packed as in Q4_K
//   words 4–11    32 bytes of fifth bits: bit j of byte l for weight l of
//                 sub-block j
//   words 12–43   128 bytes of 4-bit values, ordered as in Q4_K
// Weight = d · scale · q − dmin · min. `dequant_block` takes a sub-block.
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;

const SUPER_WORDS: u32 = 44u;

fn scale_byte(base: u32, i: u32) -> u32 {
    return (w_quants[base + 1u + i / 4u] >> (8u * (i % 4u))) & 0xffu;
}

// Sub-block j's (scale, min), 6 bits each.
fn scale_min(base: u32, j: u32) -> vec2<f32> {
    if (j < 4u) {
        return vec2<f32>(f32(scale_byte(base, j) & 63u), f32(scale_byte(base, j + 4u) & 63u));
    }
    let sc = (scale_byte(base, j + 4u) & 0xfu) | ((scale_byte(base, j - 4u) >> 6u) << 4u);
    let m = (scale_byte(base, j + 4u) >> 4u) | ((scale_byte(base, j) >> 6u) << 4u);
    return vec2<f32>(f32(sc), f32(m));
}

fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    let base = (block / 8u) * SUPER_WORDS;
    let j = block % 8u;
    let dm = unpack2x16float(w_quants[base]);
    let sm = scale_min(base, j);
    let scale = dm.x * sm.x;
    let offset = dm.y * sm.y;
    let first = base + 12u + (j / 2u) * 8u;
    let shift = (j % 2u) * 4u;
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        let low = (w_quants[first + i] >> shift) & 0x0f0f0f0fu;
        let high = (w_quants[base + 4u + i] >> j) & 0x01010101u;
        let v = low | (high << 4u);
        let q = vec4<f32>(f32(v & 0xffu), f32((v >> 8u) & 0xffu), f32((v >> 16u) & 0xffu), f32(v >> 24u));
        out[i] = scale * q - offset;
    }
    return out;
}
