//! The kernel benchmark behind `monologue bench kernels`: dense GEMM against
//! the FMA peak, quantized matrix × vector against the memory read
//! bandwidth, all measured in one run on this machine.

use super::{fma_peak_gflops, median_seconds, read_bandwidth_gbps};
use crate::backend::cpu::{pool, simd};
use crate::error::Result;
use crate::ops::gemm::{self, BLayout};
use crate::tensor::{DType, Storage, Tensor};
use crate::{profile, quant};

/// Matrix-vector shapes `[N, K]`: SmolLM2-135M's projections and head, then
/// a 1B-class model's (2048 wide, 8192 MLP).
pub const MATVEC_SHAPES: [(usize, usize); 6] = [
    (576, 576),
    (1536, 576),
    (576, 1536),
    (49152, 576),
    (2048, 2048),
    (8192, 2048),
];

/// Weights are rotated over copies totalling this much, so each product reads
/// them from DRAM as a real model's decode step does (the whole model is far
/// larger than the last-level cache), not from a warm cache.
const ROTATION_BYTES: usize = 256 << 20;
const READ_BYTES: usize = 512 << 20;
const GEMM_SIZE: usize = 1024;

#[derive(Debug, Clone, serde::Serialize)]
pub struct KernelRow {
    pub kernel: String,
    pub dtype: String,
    pub shape: String,
    pub threads: usize,
    pub gflops: f64,
    pub gbps: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct KernelReport {
    pub isa: String,
    pub read_bandwidth_gbps: f64,
    /// (threads, GFLOP/s) for each thread count benchmarked.
    pub fma_peak_gflops: Vec<(usize, f64)>,
    /// What `ops::launch` costs per call while profiling is off.
    pub profiler_off_ns_per_launch: f64,
    pub rows: Vec<KernelRow>,
}

/// Run every benchmark for each thread count in `threads`. `progress` is told
/// what is being measured (the full run takes a minute or two).
pub fn run(threads: &[usize], mut progress: impl FnMut(&str)) -> Result<KernelReport> {
    let max_threads = threads.iter().copied().max().unwrap_or(1);
    pool::set_threads(max_threads);
    progress("memory read bandwidth");
    let read_bandwidth_gbps = read_bandwidth_gbps(READ_BYTES);
    let mut report = KernelReport {
        isa: simd::active().name().to_string(),
        read_bandwidth_gbps,
        fma_peak_gflops: Vec::new(),
        profiler_off_ns_per_launch: profiler_overhead_ns(),
        rows: Vec::new(),
    };
    for &t in threads {
        pool::set_threads(t);
        progress(&format!("FMA peak, {t} threads"));
        report.fma_peak_gflops.push((t, fma_peak_gflops(t).gflops));
        for dtype in [DType::F32, DType::F16] {
            progress(&format!("gemm {dtype}, {t} threads"));
            report.rows.push(gemm_row(dtype, t)?);
        }
    }
    for dtype in DType::QUANTIZED {
        for &(n, k) in &MATVEC_SHAPES {
            // K-quant super-blocks span 256 columns; SmolLM2's 576 is not a
            // multiple, which is why llama.cpp stores such models in Q4_1/Q8_0.
            if k % dtype.block_len() != 0 {
                continue;
            }
            let weights = rotated_weights(dtype, n, k)?;
            for &t in threads {
                pool::set_threads(t);
                progress(&format!("matvec {dtype} [{n}, {k}], {t} threads"));
                report.rows.push(matvec_row(&weights, t)?);
            }
        }
    }
    pool::set_threads(max_threads);
    Ok(report)
}

fn gemm_row(dtype: DType, threads: usize) -> Result<KernelRow> {
    let n = GEMM_SIZE;
    let a = pseudo_random(n * n, 1);
    let w = tensor_of(dtype, &pseudo_random(n * n, 2), [n, n])?;
    let mut out = vec![0f32; n * n];
    let secs = median_seconds(5, || {
        gemm::matmul(&a, &w, BLayout::NK, &mut out).expect("shapes are consistent");
    });
    let bytes = (n * n * 8 + w.storage().len()) as f64;
    Ok(KernelRow {
        kernel: "gemm".into(),
        dtype: dtype.to_string(),
        shape: format!("[{n}, {n}] x [{n}, {n}]ᵀ"),
        threads,
        gflops: 2.0 * (n * n * n) as f64 / secs * 1e-9,
        gbps: bytes / secs * 1e-9,
    })
}

fn matvec_row(weights: &[Tensor], threads: usize) -> Result<KernelRow> {
    let [n, k] = [weights[0].dims()[0], weights[0].dims()[1]];
    let x = pseudo_random(k, 3);
    let mut y = vec![0f32; n];
    let mut next = 0;
    // Enough calls that a run takes a few milliseconds even for small shapes.
    let calls = (ROTATION_BYTES / weights[0].storage().len() / 4).clamp(1, 64);
    let secs = median_seconds(7, || {
        for _ in 0..calls {
            crate::ops::quant::matvec(&weights[next], &x, &mut y).expect("shapes are consistent");
            next = (next + 1) % weights.len();
        }
    }) / calls as f64;
    Ok(KernelRow {
        kernel: "matvec".into(),
        dtype: weights[0].dtype().to_string(),
        shape: format!("[{n}, {k}]"),
        threads,
        gflops: 2.0 * (n * k) as f64 / secs * 1e-9,
        gbps: weights[0].storage().len() as f64 / secs * 1e-9,
    })
}

/// Enough copies of one random `[n, k]` weight matrix to fill the rotation.
fn rotated_weights(dtype: DType, n: usize, k: usize) -> Result<Vec<Tensor>> {
    let first = tensor_of(dtype, &pseudo_random(n * k, 4), [n, k])?;
    let copies = ROTATION_BYTES.div_ceil(first.storage().len()).max(2);
    let bytes = first.as_bytes()?.to_vec();
    let mut all = vec![first];
    for _ in 1..copies {
        let storage = Storage::owned(crate::tensor::AlignedBuf::from_bytes(&bytes));
        all.push(Tensor::from_storage(storage, dtype, [n, k])?);
    }
    Ok(all)
}

fn tensor_of(dtype: DType, values: &[f32], shape: [usize; 2]) -> Result<Tensor> {
    let mut bytes = crate::tensor::AlignedBuf::zeroed(dtype.bytes_for(values.len()).unwrap_or(0));
    quant::quantize(dtype, values, bytes.as_mut_slice())?;
    Tensor::from_storage(Storage::owned(bytes), dtype, shape)
}

/// Deterministic values in [-1, 1) (xorshift; benchmarks need no real RNG).
fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Extra nanoseconds that `ops::launch` adds to a kernel call while
/// profiling is off, against calling the kernel directly: the whole price of
/// always-present per-kernel timing.
fn profiler_overhead_ns() -> f64 {
    if profile::is_enabled() {
        return f64::NAN;
    }
    const CALLS: usize = 10_000_000;
    let direct = median_seconds(5, || {
        for i in 0..CALLS {
            std::hint::black_box(std::hint::black_box(i));
        }
    });
    let launched = median_seconds(5, || {
        for i in 0..CALLS {
            std::hint::black_box(crate::ops::launch(
                "noop",
                profile::Cost::default(),
                String::new,
                || std::hint::black_box(i),
            ));
        }
    });
    (launched - direct).max(0.0) / CALLS as f64 * 1e9
}
