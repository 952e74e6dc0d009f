// Causal attention over the key/value cache, in three steps (the CPU twin,
// engine/src/ops/attention.rs, fuses them):
//   store_kv: the new keys and values go into the cache at pos0, pos0 + 1, …
//             (position j in row j % rows: a sliding-window layer's cache
//             holds only its window and a chunk, and wraps)
//   scores:   s[t, h, j] = q[t, h] · k[j, h / group] · scale for j ≤ pos0 + t
//             (later keys are masked, and so are keys `window` or more
//             positions back when a sliding window is set) — then
//             softmax.wgsl turns each row
//             into probabilities, which inspection can read back —
//   mix:      out[t, h] = Σ_j p[t, h, j] · v[j, h / group]
// Grouped-query attention: `group` query heads share one key/value head.

struct Params {
    tokens: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    pos0: u32,
    span: u32,     // keys per score row: pos0 + tokens
    scale: f32,    // usually 1/√head_dim
    window: u32,   // a sliding window's keys per query; 0: none
    rows: u32,     // cache rows: position j is in row j % rows
}

@group(0) @binding(0) var<storage, read> q: array<f32>;          // [tokens, heads, head_dim]
@group(0) @binding(1) var<storage, read_write> k_cache: array<f32>; // [rows, kv_heads, head_dim]
@group(0) @binding(2) var<storage, read_write> v_cache: array<f32>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;  // [tokens, heads, span]
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> k_new: array<f32>;       // [tokens, kv_heads, head_dim]
@group(0) @binding(6) var<storage, read> v_new: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;   // [tokens, heads, head_dim]

// The score of a masked key: exp() of it is exactly 0.
const MASKED: f32 = -3.0e38;

// The first key query `t` sees: 0, or the start of its window.
fn first_key(t: u32) -> u32 {
    let end = p.pos0 + t + 1u;
    if (p.window == 0u || end <= p.window) {
        return 0u;
    }
    return end - p.window;
}

@compute @workgroup_size(64)
fn store_kv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let width = p.kv_heads * p.head_dim;
    let i = gid.x;
    if (i >= p.tokens * width) {
        return;
    }
    let at = ((p.pos0 + i / width) % p.rows) * width + i % width;
    k_cache[at] = k_new[i];
    v_cache[at] = v_new[i];
}

// One thread per (key, row): the grid is (keys / 64, tokens × heads).
@compute @workgroup_size(64)
fn score(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let row = gid.y;
    if (j >= p.span) {
        return;
    }
    let t = row / p.heads;
    let h = row % p.heads;
    var s = MASKED;
    if (j <= p.pos0 + t && j >= first_key(t)) {
        let kvh = h / (p.heads / p.kv_heads);
        let qa = row * p.head_dim;
        let ka = ((j % p.rows) * p.kv_heads + kvh) * p.head_dim;
        var d = 0.0;
        for (var i = 0u; i < p.head_dim; i++) {
            d += q[qa + i] * k_cache[ka + i];
        }
        s = d * p.scale;
    }
    scores[row * p.span + j] = s;
}

// One workgroup per row (t, h); threads stride over the head's dimensions
// and each sums over the visible keys, reading values along a row of v.
@compute @workgroup_size(64)
fn mix(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x;
    let t = row / p.heads;
    let h = row % p.heads;
    let kvh = h / (p.heads / p.kv_heads);
    let visible = p.pos0 + t + 1u;
    let first = first_key(t);
    for (var i = lid; i < p.head_dim; i += 64u) {
        var acc = 0.0;
        for (var j = first; j < visible; j++) {
            acc += scores[row * p.span + j] * v_cache[((j % p.rows) * p.kv_heads + kvh) * p.head_dim + i];
        }
        out[row * p.head_dim + i] = acc;
    }
}
