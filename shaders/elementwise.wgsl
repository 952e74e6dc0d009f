// Element-wise kernels. The CPU twin: engine/src/ops/elementwise.rs.
//   add:      x += y
//   add_rows: x[r, :] += bias, for every row r (a linear layer's bias)
//   scale:    x *= factor

struct Params {
    len: u32,     // elements of x
    cols: u32,    // the row length, for add_rows
    factor: f32,  // for scale
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn add(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < p.len) {
        x[gid.x] += y[gid.x];
    }
}

@compute @workgroup_size(64)
fn add_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < p.len) {
        x[gid.x] += y[gid.x % p.cols];
    }
}

@compute @workgroup_size(64)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < p.len) {
        x[gid.x] *= p.factor;
    }
}
