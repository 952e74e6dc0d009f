// Normalisations, row by row. The CPU twins: engine/src/ops/norm.rs.
//   rmsnorm:   out = x / sqrt(mean(x²) + eps) · weight              (Llama)
//   rmsnorm_in_place: the same, with x = out                 (q/k norms)
//   layernorm: out = (x − mean) / sqrt(var + eps) · weight + bias    (GPT-2)
// One workgroup per row; the row's sums are reduced in workgroup memory.

struct Params {
    cols: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, 64>;

// The sum of every thread's `v` (each thread gets the total).
fn workgroup_sum(lid: u32, v: f32) -> f32 {
    partial[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    // Everyone reads the total before the next call overwrites it.
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(64)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
    var s = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        let v = x[base + c];
        s += v * v;
    }
    let inv = 1.0 / sqrt(workgroup_sum(lid, s) / f32(p.cols) + p.eps);
    for (var c = lid; c < p.cols; c += WG) {
        out[base + c] = x[base + c] * inv * weight[c];
    }
}

// RMSNorm of the rows of `out` in place (per-head q/k norms): each thread
// reads and then writes only its own elements.
@compute @workgroup_size(64)
fn rmsnorm_in_place(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
    var s = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        let v = out[base + c];
        s += v * v;
    }
    let inv = 1.0 / sqrt(workgroup_sum(lid, s) / f32(p.cols) + p.eps);
    for (var c = lid; c < p.cols; c += WG) {
        out[base + c] = out[base + c] * inv * weight[c];
    }
}

@compute @workgroup_size(64)
fn layernorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
    let n = f32(p.cols);
    var s = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        s += x[base + c];
    }
    let mean = workgroup_sum(lid, s) / n;
    // Two passes, as on the CPU: E[x²] − E[x]² cancels badly when the
    // mean is large against the spread.
    var d2 = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        let d = x[base + c] - mean;
        d2 += d * d;
    }
    let inv = 1.0 / sqrt(workgroup_sum(lid, d2) / n + p.eps);
    for (var c = lid; c < p.cols; c += WG) {
        out[base + c] = (x[base + c] - mean) * inv * weight[c] + bias[c];
    }
}
