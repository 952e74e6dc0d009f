// The index of the largest value of each row (the first one on a tie, as
// the CPU twin, engine/src/generate/sampler.rs), so greedy decoding reads
// back one word per token instead of the whole vocabulary. One workgroup
// per row.

struct Params {
    cols: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> best: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 256u;
var<workgroup> top_value: array<f32, 256>;
var<workgroup> top_index: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
    var v = -3.4e38;
    var at = 0xffffffffu;
    for (var c = lid; c < p.cols; c += WG) {
        if (x[base + c] > v) {
            v = x[base + c];
            at = c;
        }
    }
    top_value[lid] = v;
    top_index[lid] = at;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            let ov = top_value[lid + stride];
            let oi = top_index[lid + stride];
            if (ov > top_value[lid] || (ov == top_value[lid] && oi < top_index[lid])) {
                top_value[lid] = ov;
                top_index[lid] = oi;
            }
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        best[wid.x] = select(top_index[0], 0u, top_index[0] == 0xffffffffu);
    }
}
