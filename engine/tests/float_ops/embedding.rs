//! Embedding lookup from float and quantized tables.

use crate::common::*;
use monologue::ops::embedding::embedding;
use monologue::quant;
use monologue::tensor::{AlignedBuf, DType, Storage, Tensor};

/// A `[rows, cols]` tensor of `dtype` holding `values` (rounded to it).
pub fn tensor(values: &[f32], dtype: DType, rows: usize, cols: usize) -> Tensor {
    let mut bytes = vec![0u8; dtype.bytes_for(values.len()).unwrap()];
    quant::quantize(dtype, values, &mut bytes).unwrap();
    Tensor::from_storage(
        Storage::owned(AlignedBuf::from_bytes(&bytes)),
        dtype,
        [rows, cols],
    )
    .unwrap()
}

#[test]
fn gathers_rows_of_float_tables() {
    let mut rng = Rng::new(50);
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        for d in SIZES {
            let vocab = 37;
            let table = tensor(&rng.vec(vocab * d, 1.0), dtype, vocab, d);
            let all = table.to_f32_vec().unwrap();
            let ids = [5u32, 0, 36, 5, 17];
            let mut out = vec![0f32; ids.len() * d];
            embedding(&table, &ids, &mut out).unwrap();
            for (t, &id) in ids.iter().enumerate() {
                let row = &all[id as usize * d..(id as usize + 1) * d];
                assert_eq!(&out[t * d..(t + 1) * d], row, "{dtype} d={d} token {t}");
            }
        }
    }
}

/// Quantized tables (SmolLM2's embedding is Q8_0) give each row exactly as
/// dequantizing the whole table would.
#[test]
fn gathers_rows_of_quantized_tables() {
    let mut rng = Rng::new(51);
    for dtype in [
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q4_K,
        DType::Q6_K,
    ] {
        let d = 2 * dtype.block_len();
        let vocab = 19;
        let table = tensor(&rng.vec(vocab * d, 1.0), dtype, vocab, d);
        let all = table.to_f32_vec().unwrap();
        let ids = [18u32, 0, 7, 7, 3];
        let mut out = vec![f32::NAN; ids.len() * d];
        embedding(&table, &ids, &mut out).unwrap();
        for (t, &id) in ids.iter().enumerate() {
            let row = &all[id as usize * d..(id as usize + 1) * d];
            assert_eq!(&out[t * d..(t + 1) * d], row, "{dtype} token {t}");
        }
    }
}

#[test]
fn refuses_out_of_range_ids_and_wrong_output() {
    let table = tensor(&[0.5; 12], DType::F16, 4, 3);
    let err = embedding(&table, &[1, 4], &mut [0.0; 6]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("token id 4") && msg.contains("vocabulary of 4"),
        "{msg}"
    );
    let err = embedding(&table, &[1], &mut [0.0; 4]).unwrap_err();
    assert!(err.to_string().contains("embedding output"), "{err}");
    let flat = Tensor::from_f32(&[0.0; 12], [12]).unwrap();
    assert!(embedding(&flat, &[1], &mut [0.0; 1]).is_err());
}
