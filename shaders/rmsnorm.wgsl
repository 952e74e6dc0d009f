// out = x / sqrt(mean(x²) + eps) · weight, row by row. The CPU twin:
// engine/src/ops/norm.rs. One workgroup per row.

struct Params {
    cols: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
    var s = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        let v = x[base + c];
        s += v * v;
    }
    partial[lid] = s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let inv = 1.0 / sqrt(partial[0] / f32(p.cols) + p.eps);
    for (var c = lid; c < p.cols; c += WG) {
        out[base + c] = x[base + c] * inv * weight[c];
    }
}
