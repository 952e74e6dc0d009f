// Softmax of each row, in place: exp(x − max) / Σ exp(x − max). The CPU
// twin: engine/src/ops/softmax.rs. One workgroup per row.

struct Params {
    cols: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
    var m = -3.4e38;
    for (var c = lid; c < p.cols; c += WG) {
        m = max(m, x[base + c]);
    }
    partial[lid] = m;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            partial[lid] = max(partial[lid], partial[lid + stride]);
        }
        workgroupBarrier();
    }
    let row_max = partial[0];
    workgroupBarrier();
    var s = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        let e = exp(x[base + c] - row_max);
        x[base + c] = e;
        s += e;
    }
    partial[lid] = s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let inv = 1.0 / partial[0];
    for (var c = lid; c < p.cols; c += WG) {
        x[base + c] *= inv;
    }
}
