//! The Gemma 3 270M Q4_K_M file (a real mix of block formats) opens, reads
//! as the `gguf` package reads it, and its quantized tensors dequantize to
//! what the package computes from the same bytes.

use crate::common;

use monologue::io::GgufFile;
use monologue::{quant, DType};
use std::collections::BTreeMap;

#[test]
fn gemma3_agrees_with_the_python_gguf_reader() {
    crate::smollm2::agrees_with_gguf_reader(&common::gemma3());
}

#[test]
fn gemma3_holds_the_mix_llama_cpp_wrote() {
    let file = GgufFile::open(common::gemma3()).unwrap();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in file.tensors() {
        *counts.entry(t.ggml_type.name()).or_default() += 1;
        // Every tensor is one the engine can compute with.
        let tensor = file.tensor(&t.name).unwrap();
        assert_eq!(tensor.as_bytes().unwrap().len(), t.bytes, "{}", t.name);
    }
    let expected = [
        ("F32", 109),
        ("Q4_K", 27),
        ("Q5_0", 81),
        ("Q6_K", 9),
        ("Q8_0", 10),
    ];
    assert_eq!(counts.into_iter().collect::<Vec<_>>(), expected);
}

/// Real blocks, not just random ones: the first rows of one tensor of each
/// quantized type, dequantized here and by the `gguf` package.
#[test]
fn gemma3_blocks_dequantize_as_the_gguf_package_does() {
    let file = GgufFile::open(common::gemma3()).unwrap();
    for dtype in [DType::Q5_0, DType::Q4_K, DType::Q6_K, DType::Q8_0] {
        let info = file
            .tensors()
            .iter()
            .find(|t| t.dtype().ok() == Some(dtype))
            .unwrap();
        let tensor = file.tensor(&info.name).unwrap();
        let bytes = tensor.as_bytes().unwrap();
        let blocks = (bytes.len() / dtype.block_bytes()).min(512);
        let bytes = &bytes[..blocks * dtype.block_bytes()];
        let mut ours = vec![0f32; blocks * dtype.block_len()];
        quant::dequantize(dtype, bytes, &mut ours).unwrap();
        let theirs = crate::quant_gguf_parity::dequantize_with_gguf(dtype, bytes);
        assert_eq!(ours.len(), theirs.len());
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{} element {i}: ours {a}, gguf {b}",
                info.name
            );
        }
    }
}
