// Rotary position embedding, in place, on x = [tokens, heads, head_dim] at
// positions pos0, pos0 + 1, …, with the same cos/sin table as the CPU twin
// (engine/src/ops/rope.rs). Pairs are (2i, 2i + 1) in the interleaved
// layout (Llama in GGUF) and (i, i + half) in the NeoX layout (Qwen2,
// GPT-NeoX). One thread per pair.

struct Params {
    tokens: u32,
    heads: u32,
    head_dim: u32,
    half: u32,     // rotated pairs per head (rotary dimension / 2)
    neox: u32,     // 1: NeoX layout, 0: interleaved
    pos0: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> cos_table: array<f32>;
@group(0) @binding(2) var<storage, read> sin_table: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.tokens * p.heads * p.half) {
        return;
    }
    let pair = i % p.half;
    let head = i / p.half; // counts over (token, head)
    let t = head / p.heads;
    let base = head * p.head_dim;
    var a = base + 2u * pair;
    var b = a + 1u;
    if (p.neox == 1u) {
        a = base + pair;
        b = a + p.half;
    }
    let at = (p.pos0 + t) * p.half + pair;
    let c = cos_table[at];
    let s = sin_table[at];
    let x0 = x[a];
    let x1 = x[b];
    x[a] = x0 * c - x1 * s;
    x[b] = x0 * s + x1 * c;
}
