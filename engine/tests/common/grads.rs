//! Comparing our training pass with a PyTorch fixture: reading its
//! tensors, and how far each of ours lands from its counterpart.

use monologue::train::kernels::loss::IGNORE;
use safetensors::{Dtype, SafeTensors};

pub fn f32s(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = st
        .tensor(name)
        .unwrap_or_else(|e| panic!("fixture lacks {name}: {e}"));
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    let values = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (t.shape().to_vec(), values)
}

/// Token ids; -1 (torch's ignore index here) becomes [`IGNORE`].
pub fn token_ids(st: &SafeTensors, name: &str) -> Vec<u32> {
    let t = st.tensor(name).unwrap();
    assert_eq!(t.dtype(), Dtype::I32, "{name}");
    t.data()
        .chunks_exact(4)
        .map(|b| match i32::from_le_bytes(b.try_into().unwrap()) {
            -1 => IGNORE,
            v => u32::try_from(v).unwrap(),
        })
        .collect()
}

/// How far `ours` is from `torch`.
pub struct Diff {
    pub name: String,
    pub max_abs: f64,
    pub scale: f64,
    /// The worst element's excess over the tolerance (≤ 1 passes).
    pub worst_ratio: f64,
}

pub fn compare(name: &str, ours: &[f32], torch: &[f32], abs: f64, rel: f64) -> Diff {
    assert_eq!(ours.len(), torch.len(), "{name}: lengths");
    let scale = torch.iter().map(|v| v.abs() as f64).fold(0.0, f64::max);
    let (mut max_abs, mut worst_ratio) = (0f64, 0f64);
    for (&a, &b) in ours.iter().zip(torch) {
        let d = (a as f64 - b as f64).abs();
        let allowed = abs * scale + rel * (b as f64).abs();
        max_abs = max_abs.max(d);
        // NaN compares false everywhere: count it as a failure.
        worst_ratio = if d.is_nan() {
            f64::INFINITY
        } else {
            worst_ratio.max(d / allowed.max(f64::MIN_POSITIVE))
        };
    }
    Diff {
        name: name.to_string(),
        max_abs,
        scale,
        worst_ratio,
    }
}

/// Prints a table of `diffs` and fails if any lands outside
/// `abs · max|torch| + rel · |torch|`.
pub fn assert_within(diffs: &[Diff], abs: f64, rel: f64) {
    let mut table = format!(
        "{:<52} {:>10} {:>10} {:>10} {:>8}\n",
        "tensor", "max|diff|", "max|torch|", "diff/max", "of tol"
    );
    for d in diffs {
        table += &format!(
            "{:<52} {:>10.2e} {:>10.2e} {:>10.2e} {:>8.3}\n",
            d.name,
            d.max_abs,
            d.scale,
            d.max_abs / d.scale.max(f64::MIN_POSITIVE),
            d.worst_ratio
        );
    }
    eprintln!("{table}");
    let failed: Vec<&str> = diffs
        .iter()
        .filter(|d| d.worst_ratio.is_nan() || d.worst_ratio > 1.0)
        .map(|d| d.name.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "differ from PyTorch beyond {abs:e}·max + {rel:e}·|value|: {failed:?}\n{table}"
    );
}
