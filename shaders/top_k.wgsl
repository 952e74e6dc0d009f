// The k largest values of a row and their indices, largest first (ties:
// the lower index first, as the CPU sampler orders them), so sampling with
// top-k reads back k pairs instead of the whole vocabulary. The CPU twin:
// engine/src/generate/sampler.rs (`candidates`).
//
// One workgroup. Pass j finds the largest element that comes after pick
// j − 1 in that order (value descending, then index ascending), so nothing
// needs marking: each thread scans its strided share, then the workgroup
// reduces to one winner, k times.

struct Params {
    cols: u32,
    k: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> picks: array<u32>;  // [k ids, k value bits]
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;
var<workgroup> best_value: array<f32, 256>;
var<workgroup> best_index: array<u32, 256>;
var<workgroup> last_value: f32;
var<workgroup> last_index: u32;

// Whether (v, i) comes before (w, j): larger value, or equal and lower index.
fn before(v: f32, i: u32, w: f32, j: u32) -> bool {
    return j == NONE || (i != NONE && (v > w || (v == w && i < j)));
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    if (lid == 0u) {
        last_value = 3.4e38;
        last_index = NONE;
    }
    workgroupBarrier();
    for (var j = 0u; j < p.k; j++) {
        let lv = last_value;
        let li = last_index;
        var v = -3.4e38;
        var at = NONE;
        for (var c = lid; c < p.cols; c += WG) {
            let x_c = x[c];
            // Eligible: after the last pick in the order.
            let after_last = li == NONE || x_c < lv || (x_c == lv && c > li);
            if (after_last && before(x_c, c, v, at)) {
                v = x_c;
                at = c;
            }
        }
        best_value[lid] = v;
        best_index[lid] = at;
        workgroupBarrier();
        for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
            if (lid < stride) {
                let ov = best_value[lid + stride];
                let oi = best_index[lid + stride];
                if (before(ov, oi, best_value[lid], best_index[lid])) {
                    best_value[lid] = ov;
                    best_index[lid] = oi;
                }
            }
            workgroupBarrier();
        }
        if (lid == 0u) {
            picks[j] = best_index[0];
            picks[p.k + j] = bitcast<u32>(best_value[0]);
            last_value = best_value[0];
            last_index = best_index[0];
        }
        workgroupBarrier();
    }
}
