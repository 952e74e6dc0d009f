// y[t, r] = Σ_c W[r, c] · x[t, c]: a weight matrix (in any format whose
// file is placed before this one, providing `dequant_block`) times the rows
// of x. The CPU twin: engine/src/ops/quant.rs (and gemm.rs for f32).
//
// Each thread computes one output row for up to TOKENS rows of x: a weight
// block is dequantized once and used for all of them, so prefill reads the
// weights once per TOKENS tokens and decode (one token) is a plain matrix ×
// vector. No shared memory and no barriers: the threads of a workgroup
// read the same x, which stays in cache.

struct Params {
    rows: u32,     // output features (rows of W)
    cols: u32,     // input features, a multiple of 32
    tokens: u32,   // rows of x
    grid_x: u32,   // workgroups along x (rows are spread over x and y)
    x_first: u32,  // the first row of x to read (the head reads only the last)
    y_stride: u32, // values per row of y (all of W's rows; more than `rows` when W
                   // is cut into shards that each fill their columns of y)
    y_first: u32,  // the column of y this shard's first row fills
}

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 64u;
const TOKENS: u32 = 8u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = (wid.x + wid.y * p.grid_x) * WG + lid;
    if (row >= p.rows) {
        return;
    }
    let t0 = wid.z * TOKENS;
    let n_t = min(TOKENS, p.tokens - t0);
    let blocks = p.cols / 32u;
    var acc: array<f32, 8>;
    for (var b = 0u; b < blocks; b++) {
        let w = dequant_block(row * blocks + b);
        for (var t = 0u; t < n_t; t++) {
            let at = ((p.x_first + t0 + t) * p.cols + b * 32u) / 4u;
            var s = 0.0;
            for (var i = 0u; i < 8u; i++) {
                s += dot(w[i], x[at + i]);
            }
            acc[t] += s;
        }
    }
    for (var t = 0u; t < n_t; t++) {
        y[(t0 + t) * p.y_stride + p.y_first + row] = acc[t];
    }
}
