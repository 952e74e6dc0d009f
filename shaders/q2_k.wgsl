// Q2_K weights as the GPU holds them (the CPU twin: engine/src/quant/q2_k.rs):
// the file's 84-byte super-blocks unchanged (they are word-aligned). A
// super-block covers 256 weights in 16 sub-blocks of 16:
//   words 0–3    16 bytes: each sub-block's 4-bit scale (low nibble) and
//                4-bit min (high nibble)
//   words 4–19   64 bytes of 2-bit values: weight 128h + 32k + l is bits
//                2k…2k+1 of byte 32h + l
//   word 20      f16 d, f16 dmin
// Weight = d · scale · q − dmin · min. `dequant_block` takes 32 weights
// (block b = 4h + k of its super-block, sub-blocks 2b and 2b + 1).
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;

const SUPER_WORDS: u32 = 21u;

fn scale_byte(base: u32, i: u32) -> u32 {
    return (w_quants[base + i / 4u] >> (8u * (i % 4u))) & 0xffu;
}

fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    let base = (block / 8u) * SUPER_WORDS;
    let b = block % 8u;
    let h = b / 4u;
    let k = b % 4u;
    let dm = unpack2x16float(w_quants[base + 20u]);
    var out: array<vec4<f32>, 8>;
    for (var half = 0u; half < 2u; half++) {
        let s = scale_byte(base, 2u * b + half);
        let scale = dm.x * f32(s & 0xfu);
        let offset = dm.y * f32(s >> 4u);
        for (var i = 0u; i < 4u; i++) {
            let v = (w_quants[base + 4u + 8u * h + 4u * half + i] >> (2u * k)) & 0x03030303u;
            let q = vec4<f32>(f32(v & 0xffu), f32((v >> 8u) & 0xffu), f32((v >> 16u) & 0xffu), f32(v >> 24u));
            out[4u * half + i] = scale * q - offset;
        }
    }
    return out;
}
