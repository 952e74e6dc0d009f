// out[t, :] = row tokens[t] of the embedding table, dequantized (the format
// file placed before this one provides `dequant_block`). The CPU twin:
// engine/src/ops/embedding.rs. One thread per block of 32 outputs. A table
// too large for one binding is cut into shards of rows, one dispatch each:
// a dispatch writes the tokens whose ids fall in its shard.

struct Params {
    cols: u32,       // the embedding width, a multiple of 32
    tokens: u32,
    first_row: u32,  // this shard's rows: first_row .. first_row + rows
    rows: u32,
}

@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let blocks = p.cols / 32u;
    let i = gid.x;
    if (i >= blocks * p.tokens) {
        return;
    }
    let t = i / blocks;
    let b = i % blocks;
    let id = tokens[t];
    if (id < p.first_row || id - p.first_row >= p.rows) {
        return;
    }
    let w = dequant_block((id - p.first_row) * blocks + b);
    let at = (t * p.cols + b * 32u) / 4u;
    for (var k = 0u; k < 8u; k++) {
        out[at + k] = w[k];
    }
}
