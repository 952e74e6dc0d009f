// Y[t, r] = Σ_c W[r, c] · X[t, c] for many tokens at once (prefill): a
// tiled matrix × matrix product through workgroup memory. The weights are
// in any format whose file is placed before this one (`dequant_block`),
// dequantized once per tile; the tile element type `tile_t` (f32 or f16)
// comes from the precision file placed first. The CPU twins:
// engine/src/ops/gemm.rs and quant.rs. Decoding one token uses matvec.wgsl.
//
// A workgroup computes a 64-row × 32-token tile of Y. For each block of 32
// columns, 64 threads dequantize one weight row each into `w_tile`, all 256
// threads load one vec4 of X each into `x_tile`, and after the barrier each
// thread accumulates its 4 rows × 2 tokens from workgroup memory. Every
// weight block is read from memory once per 32 tokens, every x value once
// per 64 rows.

struct Params {
    rows: u32,     // output features (rows of W)
    cols: u32,     // input features, a multiple of 32
    tokens: u32,   // rows of X
    grid_x: u32,   // workgroups along x (row tiles are spread over x and y)
    x_first: u32,  // the first row of X to read
    y_stride: u32, // values per row of y (all of W's rows; more than `rows` when W
                   // is cut into shards that each fill their columns of y)
    y_first: u32,  // the column of y this shard's first row fills
}

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const TILE_ROWS: u32 = 64u;
const TILE_TOKENS: u32 = 32u;
// Each thread's share of the tile.
const ROWS_PER_THREAD: u32 = 4u;
const TOKENS_PER_THREAD: u32 = 2u;

// [row][8 vec4]: one block of 32 columns per row; likewise for tokens.
var<workgroup> w_tile: array<vec4<tile_t>, 512>;
var<workgroup> x_tile: array<vec4<tile_t>, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = (wid.x + wid.y * p.grid_x) * TILE_ROWS;
    let t0 = wid.z * TILE_TOKENS;
    let blocks = p.cols / 32u;
    // This thread's rows (16 groups of 4) and tokens (16 groups of 2).
    let my_row = (lid % 16u) * ROWS_PER_THREAD;
    let my_token = (lid / 16u) * TOKENS_PER_THREAD;
    var acc: array<f32, 8>;

    for (var b = 0u; b < blocks; b++) {
        if (lid < TILE_ROWS) {
            let r = row0 + lid;
            var w: array<vec4<f32>, 8>;
            if (r < p.rows) {
                w = dequant_block(r * blocks + b);
            }
            for (var i = 0u; i < 8u; i++) {
                w_tile[lid * 8u + i] = vec4<tile_t>(w[i]);
            }
        }
        let t = t0 + lid / 8u;
        var xv = vec4<f32>(0.0);
        if (t < p.tokens) {
            xv = x[((p.x_first + t) * p.cols + b * 32u) / 4u + lid % 8u];
        }
        x_tile[lid] = vec4<tile_t>(xv);
        workgroupBarrier();

        for (var k = 0u; k < 8u; k++) {
            for (var i = 0u; i < ROWS_PER_THREAD; i++) {
                let w4 = w_tile[(my_row + i) * 8u + k];
                for (var j = 0u; j < TOKENS_PER_THREAD; j++) {
                    acc[i * TOKENS_PER_THREAD + j] += f32(dot(w4, x_tile[(my_token + j) * 8u + k]));
                }
            }
        }
        // The next block overwrites the tiles only when everyone is done.
        workgroupBarrier();
    }

    for (var i = 0u; i < ROWS_PER_THREAD; i++) {
        let r = row0 + my_row + i;
        for (var j = 0u; j < TOKENS_PER_THREAD; j++) {
            let t = t0 + my_token + j;
            if (r < p.rows && t < p.tokens) {
                y[t * p.y_stride + p.y_first + r] = acc[i * TOKENS_PER_THREAD + j];
            }
        }
    }
}
