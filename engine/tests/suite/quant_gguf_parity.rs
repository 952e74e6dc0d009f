//! Our block formats against the `gguf` Python package, byte for byte.
//!
//! Random blocks (random bits, with sane finite f16 scales) are dequantized
//! both here and by `tests/reference/gguf_quants.py`; the results must be
//! bit-identical. For Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1, whose reference quantizers
//! llama.cpp defines exactly, our quantized bytes must match too. Needs
//! python3 with `gguf` and `numpy` (`pip install gguf numpy`).

use crate::common;

use common::Rng;
use half::f16;
use monologue::quant;
use monologue::DType;
use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/gguf_quants.py")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("monologue-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run the reference script; fail with instructions if it cannot run.
fn reference(op: &str, dtype: DType, input: &Path, output: &Path) {
    let result = Command::new("python3")
        .arg(script())
        .args([op, dtype.name()])
        .arg(input)
        .arg(output)
        .output();
    match result {
        Err(e) => panic!(
            "cannot run python3 ({e}); this test needs python3 with `pip install gguf numpy`"
        ),
        Ok(out) if !out.status.success() => panic!(
            "{} {op} {dtype} failed; this test needs python3 with `pip install gguf numpy`:\n{}",
            script().display(),
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => {}
    }
}

/// A random f16 scale of either sign with magnitude in about [2^-12, 2].
fn scale(rng: &mut Rng) -> [u8; 2] {
    let magnitude = 2f32.powf(-12.0 + 13.0 * rng.uniform());
    let sign = if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
    f16::from_f32(sign * magnitude).to_le_bytes()
}

/// `blocks` random blocks of `dtype`: random bytes, then finite scales at
/// the f16 fields' offsets.
fn random_blocks(dtype: DType, blocks: usize, rng: &mut Rng) -> Vec<u8> {
    let size = dtype.block_bytes();
    let scale_offsets: &[usize] = match dtype {
        DType::Q8_0 | DType::Q4_0 | DType::Q5_0 | DType::IQ4_NL | DType::IQ4_XS => &[0],
        DType::Q4_1 | DType::Q5_1 | DType::Q4_K | DType::Q5_K => &[0, 2],
        DType::Q2_K => &[80, 82],
        DType::Q3_K => &[108],
        DType::Q6_K => &[208],
        _ => unreachable!(),
    };
    let mut bytes = rng.bytes(blocks * size);
    for block in bytes.chunks_exact_mut(size) {
        for &at in scale_offsets {
            block[at..at + 2].copy_from_slice(&scale(rng));
        }
    }
    bytes
}

/// `bytes` of `dtype` dequantized by the `gguf` package.
pub fn dequantize_with_gguf(dtype: DType, bytes: &[u8]) -> Vec<f32> {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = temp_dir(&format!("dequant-{call}"));
    let (input, output) = (dir.join("blocks.bin"), dir.join("values.f32"));
    std::fs::write(&input, bytes).unwrap();
    reference("dequantize", dtype, &input, &output);
    let values = bytemuck::pod_collect_to_vec(&std::fs::read(&output).unwrap());
    std::fs::remove_dir_all(dir).ok();
    values
}

#[test]
fn dequantize_matches_gguf_package() {
    let dir = temp_dir("dequant-parity");
    let mut rng = Rng::new(1);
    for dtype in DType::QUANTIZED {
        let bytes = random_blocks(dtype, 64, &mut rng);
        let n = 64 * dtype.block_len();
        let mut ours = vec![0f32; n];
        quant::dequantize(dtype, &bytes, &mut ours).unwrap();

        let (input, output) = (
            dir.join(format!("{dtype}.bin")),
            dir.join(format!("{dtype}.f32")),
        );
        std::fs::write(&input, &bytes).unwrap();
        reference("dequantize", dtype, &input, &output);
        let theirs: Vec<f32> = bytemuck::pod_collect_to_vec(&std::fs::read(&output).unwrap());

        assert_eq!(
            theirs.len(),
            n,
            "{dtype}: reference returned {} values",
            theirs.len()
        );
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{dtype} element {i}: ours {a}, gguf {b}"
            );
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn quantize_matches_gguf_package_for_legacy_types() {
    let dir = temp_dir("quant-parity");
    let mut rng = Rng::new(2);
    let mut values: Vec<f32> = rng.normals(32 * 200).iter().map(|v| v * 0.05).collect();
    // Edge blocks: all zero, constant, one spike, exact ties for the maximum.
    values[..32].fill(0.0);
    values[32..64].fill(0.25);
    values[64..96].fill(0.0);
    values[70] = -3.0;
    for (i, v) in values[96..128].iter_mut().enumerate() {
        *v = if i % 2 == 0 { 1.0 } else { -1.0 };
    }
    let input = dir.join("values.f32");
    std::fs::write(&input, bytemuck::cast_slice(&values)).unwrap();
    for dtype in [
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q5_0,
        DType::Q5_1,
    ] {
        let mut ours = vec![0u8; dtype.bytes_for(values.len()).unwrap()];
        quant::quantize(dtype, &values, &mut ours).unwrap();
        let output = dir.join(format!("{dtype}.bin"));
        reference("quantize", dtype, &input, &output);
        let theirs = std::fs::read(&output).unwrap();
        assert_eq!(theirs.len(), ours.len(), "{dtype}: byte counts differ");
        let size = dtype.block_bytes();
        for (b, (a, t)) in ours.chunks(size).zip(theirs.chunks(size)).enumerate() {
            assert_eq!(a, t, "{dtype} block {b} differs (ours, gguf)");
        }
    }
    std::fs::remove_dir_all(dir).ok();
}
