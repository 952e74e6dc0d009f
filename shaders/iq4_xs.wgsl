// IQ4_XS weights as the GPU holds them (the CPU twin: engine/src/quant/iq4_xs.rs):
// the file's 136-byte super-blocks unchanged (they are word-aligned). A
// super-block covers 256 weights in 8 sub-blocks of 32:
//   word 0       f16 d (low half), the high two bits of each sub-block's
//                scale (high half, two bits per sub-block)
//   word 1       the low four bits of each sub-block's scale (a nibble each)
//   words 2–33   16 bytes of IQ4_NL indices per sub-block
// Weight = d · (scale − 32) · GRID[q]. `dequant_block` takes a sub-block.
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;

const SUPER_WORDS: u32 = 34u;

var<private> GRID: array<f32, 16> = array<f32, 16>(
    -127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
    1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0,
);

fn levels(w: u32, shift: u32) -> vec4<f32> {
    let v = (w >> shift) & 0x0f0f0f0fu;
    return vec4<f32>(GRID[v & 0xffu], GRID[(v >> 8u) & 0xffu], GRID[(v >> 16u) & 0xffu], GRID[v >> 24u]);
}

fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    let base = (block / 8u) * SUPER_WORDS;
    let j = block % 8u;
    let head = w_quants[base];
    let d = unpack2x16float(head).x;
    let low = (w_quants[base + 1u] >> (4u * j)) & 0xfu;
    let high = (head >> (16u + 2u * j)) & 3u;
    let scale = d * f32(i32(low | (high << 4u)) - 32);
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 4u; i++) {
        let w = w_quants[base + 2u + 4u * j + i];
        out[i] = scale * levels(w, 0u);
        out[i + 4u] = scale * levels(w, 4u);
    }
    return out;
}
