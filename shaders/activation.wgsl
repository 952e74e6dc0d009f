// Activations. The CPU twin: engine/src/ops/activation.rs.
//   swiglu: gate = silu(gate) · up, with silu(g) = g / (1 + e^−g)
//   gelu:   x = GELU(x), tanh approximation (GPT-2)
//   geglu:  gate = GELU(gate) · up (Gemma)

struct Params {
    len: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn swiglu(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i < p.len) {
        let g = x[i];
        x[i] = g / (1.0 + exp(-g)) * up[i];
    }
}

// 0.5 v (1 + tanh y) = v · sigmoid(2y): no tanh overflow for large |v|.
fn gelu_tanh(v: f32) -> f32 {
    let y = 0.7978846 * (v + 0.044715 * v * v * v);
    return v / (1.0 + exp(-2.0 * y));
}

@compute @workgroup_size(64)
fn gelu(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i < p.len) {
        x[i] = gelu_tanh(x[i]);
    }
}

@compute @workgroup_size(64)
fn geglu(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i < p.len) {
        x[i] = gelu_tanh(x[i]) * up[i];
    }
}
