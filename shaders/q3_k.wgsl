// Q3_K weights as the GPU holds them (the CPU twin: engine/src/quant/q3_k.rs).
// A 256-weight super-block is 110 bytes in the file, not word-aligned, so it
// is split on upload:
//   quants: 24 words — hmask (32 bytes: third bits), then qs (64 bytes: low
//           two bits); weight 128h + 32k + l has bits 2k…2k+1 of qs byte
//           32h + l and bit 4h + k of hmask byte l
//   scales:  4 words — the 12 bytes packing sixteen 6-bit scales, then f16 d
//           (and 2 bytes of padding)
// Weight = d · (scale − 32) · (q − 4), q the 3-bit value. `dequant_block`
// takes 32 weights (block b = 4h + k, sub-blocks 2b and 2b + 1).
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;
@group(0) @binding(3) var<storage, read> w_scales: array<u32>;

const QUANT_WORDS: u32 = 24u;
const SCALE_WORDS: u32 = 4u;

fn scale_byte(base: u32, i: u32) -> u32 {
    return (w_scales[base + i / 4u] >> (8u * (i % 4u))) & 0xffu;
}

// Sub-block j's scale minus 32: low four bits from byte j (j < 8, low
// nibble) or j − 8 (high nibble), high two bits from byte 8 + j % 4.
fn sub_scale(base: u32, j: u32) -> f32 {
    var low: u32;
    if (j < 8u) {
        low = scale_byte(base, j) & 0xfu;
    } else {
        low = scale_byte(base, j - 8u) >> 4u;
    }
    let high = (scale_byte(base, 8u + j % 4u) >> (2u * (j / 4u))) & 3u;
    return f32(i32(low | (high << 4u)) - 32);
}

fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    let sb = block / 8u;
    let b = block % 8u;
    let h = b / 4u;
    let k = b % 4u;
    let qbase = sb * QUANT_WORDS;
    let sbase = sb * SCALE_WORDS;
    let d = unpack2x16float(w_scales[sbase + 3u]).x;
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        let low = (w_quants[qbase + 8u + 8u * h + i] >> (2u * k)) & 0x03030303u;
        let high = (w_quants[qbase + i] >> (4u * h + k)) & 0x01010101u;
        let v = low | (high << 2u);
        let q = vec4<f32>(f32(v & 0xffu), f32((v >> 8u) & 0xffu), f32((v >> 16u) & 0xffu), f32(v >> 24u));
        out[i] = d * sub_scale(sbase, 2u * b + i / 4u) * (q - 4.0);
    }
    return out;
}
