//! Every kernel launch is recorded while profiling. The profiler is global
//! and other tests run alongside, so records are filtered by kernel name.

use crate::embedding::tensor;
use monologue::ops::{activation, attention, elementwise, embedding, gemm, norm, rope, softmax};
use monologue::profile;
use monologue::tensor::DType;

#[test]
fn every_kernel_is_recorded_with_its_cost() {
    let x = vec![0.5f32; 64];
    let mut y = vec![0f32; 64];
    profile::start();
    norm::rmsnorm(&x, &[1.0; 16], 1e-5, &mut y).unwrap();
    norm::layernorm(&x, &[1.0; 16], None, 1e-5, &mut y).unwrap();
    let cache = rope::RopeCache::new(10_000.0, 16, 8).unwrap();
    rope::rope(&mut y, &[0, 1], 2, 16, rope::RopeLayout::NeoX, &cache).unwrap();
    softmax::softmax(&mut y, 16).unwrap();
    activation::silu(&mut y);
    activation::gelu(&mut y);
    activation::swiglu_inplace(&mut y, &x).unwrap();
    elementwise::add_inplace(&mut y, &x).unwrap();
    elementwise::mul_inplace(&mut y, &x).unwrap();
    embedding::embedding(&tensor(&x, DType::BF16, 4, 16), &[3], &mut y[..16]).unwrap();
    let mut kv = attention::KvCache::new(4, 1, 16, DType::F32).unwrap();
    attention::attention(
        &x[..32],
        &x[..16],
        &x[..16],
        &mut kv,
        0,
        attention::Scope::causal(8),
        &mut y[..32],
        None,
    )
    .unwrap();
    gemm::matmul(&x, &tensor(&x, DType::F16, 8, 8), gemm::BLayout::NK, &mut y).unwrap();
    let records = profile::stop().records;

    for name in [
        "rmsnorm",
        "layernorm",
        "rope",
        "softmax",
        "silu",
        "gelu",
        "swiglu",
        "add",
        "mul",
        "embedding",
        "attention",
        "matmul_f16",
    ] {
        let r = records
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no record of {name}"));
        assert_eq!(r.backend, "cpu");
        assert!(r.bytes > 0, "{name} moves bytes");
        assert!(!r.shapes.is_empty(), "{name} describes its operands");
        if name != "embedding" {
            assert!(r.flops > 0, "{name} does arithmetic");
        }
    }
}
