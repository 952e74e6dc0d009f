// Q6_K weights as the GPU holds them (the CPU twin: engine/src/quant/q6_k.rs).
// A 256-weight super-block is 210 bytes in the file, not word-aligned, so it
// is split on upload:
//   quants: 48 words — ql (128 bytes: low 4 bits) then qh (64 bytes: high 2 bits)
//   scales:  5 words — the 16 signed 8-bit sub-scales, then f16 d (and 2 bytes of padding)
// Weight 128h + 32k + l (h < 2, k < 4, l < 32) has the low nibble (k < 2)
// or high nibble (k ≥ 2) of ql[64h + l + 32·(k % 2)], bits 2k…2k+1 of
// qh[32h + l] on top, minus 32, times d · scales[8h + 2k + l / 16].
@group(0) @binding(0) var<storage, read> w_quants: array<u32>;
@group(0) @binding(3) var<storage, read> w_scales: array<u32>;

const QUANT_WORDS: u32 = 48u;
const SCALE_WORDS: u32 = 5u;

fn quant_byte(base: u32, i: u32) -> u32 {
    return (w_quants[base + i / 4u] >> (8u * (i % 4u))) & 0xffu;
}

fn sub_scale(base: u32, i: u32) -> f32 {
    let b = (w_scales[base + i / 4u] >> (8u * (i % 4u))) & 0xffu;
    return f32(bitcast<i32>(b << 24u) >> 24u);
}

fn dequant_block(block: u32) -> array<vec4<f32>, 8> {
    let sb = block / 8u;
    let s = block % 8u;
    let h = s / 4u;
    let k = s % 4u;
    let qbase = sb * QUANT_WORDS;
    let sbase = sb * SCALE_WORDS;
    let d = unpack2x16float(w_scales[sbase + 4u]).x;
    let lo_scale = d * sub_scale(sbase, 8u * h + 2u * k);
    let hi_scale = d * sub_scale(sbase, 8u * h + 2u * k + 1u);
    let ql_first = 64u * h + 32u * (k % 2u);
    let ql_shift = 4u * (k / 2u);
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        var v: vec4<f32>;
        for (var c = 0u; c < 4u; c++) {
            let l = 4u * i + c;
            let low = (quant_byte(qbase, ql_first + l) >> ql_shift) & 0xfu;
            let high = (quant_byte(qbase, 128u + 32u * h + l) >> (2u * k)) & 3u;
            v[c] = f32(i32(low | (high << 4u)) - 32);
        }
        out[i] = v * select(lo_scale, hi_scale, i >= 4u);
    }
    return out;
}
