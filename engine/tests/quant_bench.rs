//! Ad-hoc matvec timing, not a test of speed (timings vary by machine):
//!
//!     cargo test --release -p monologue --test quant_bench -- --ignored --nocapture
//!
//! Prints GB/s of weights read per format, SIMD path and shape with two
//! threads, and their share of a plain two-thread memory read measured
//! just before. Each shape is rotated over at least 256 MiB of weight
//! copies so that they come from DRAM, not from cache, as in a real model. `QUANT_TYPES=Q2_K,Q4_K` limits any of
//! them to the formats named, `QUANT_SHAPES=2048x2048` the shapes.

mod common;

use common::Rng;
use monologue::backend::cpu::pool::{split_range, ThreadPool};
use monologue::backend::cpu::simd::Isa;
use monologue::ops::quant::matvec_with;
use monologue::tensor::AlignedBuf;
use monologue::{quant, DType, Storage, Tensor};
use std::time::Instant;

const ROTATION_BYTES: usize = 256 << 20;

/// The formats to time: all, or those named in `QUANT_TYPES` (such as
/// `QUANT_TYPES=Q2_K,Q3_K`).
fn wanted() -> Vec<DType> {
    let filter = std::env::var("QUANT_TYPES").unwrap_or_default();
    DType::QUANTIZED
        .into_iter()
        .filter(|d| filter.is_empty() || filter.split(',').any(|f| f == d.name()))
        .collect()
}

/// Whether to time `[n, k]` in `matvec_bandwidth`: all shapes, or those
/// named in `QUANT_SHAPES` (such as `QUANT_SHAPES=2048x2048,8192x2048`).
fn wanted_shape(n: usize, k: usize) -> bool {
    let filter = std::env::var("QUANT_SHAPES").unwrap_or_default();
    filter.is_empty() || filter.split(',').any(|f| f == format!("{n}x{k}"))
}

/// GB/s of a plain read of `buf` (much larger than the caches) with every
/// thread of `pool`, best of five.
fn read_bandwidth(pool: &ThreadPool, buf: &[u64]) -> f64 {
    let sums: Vec<std::sync::atomic::AtomicU64> = (0..pool.threads()).map(|_| 0.into()).collect();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        pool.run(&|i, n| {
            let r = split_range(buf.len(), i, n, 8);
            let s = buf[r].iter().fold(0u64, |a, &v| a.wrapping_add(v));
            sums[i].fetch_add(s, std::sync::atomic::Ordering::Relaxed);
        });
        best = best.min(start.elapsed().as_secs_f64());
    }
    (buf.len() * 8) as f64 / best / 1e9
}

#[test]
#[ignore = "timing; run by hand with --release"]
fn matvec_bandwidth() {
    let pool = ThreadPool::new(2);
    let read_buf = vec![1u64; ROTATION_BYTES * 2 / 8];
    let shapes = [
        (2048, 2048),
        (8192, 2048),
        (576, 576),
        (1536, 576),
        (576, 1536),
        (49152, 576),
    ];
    let mut rng = Rng::new(9);
    for dtype in wanted() {
        for &(n, k) in &shapes {
            if k % dtype.block_len() != 0 || !wanted_shape(n, k) {
                continue;
            }
            let values = rng.normals(n * k);
            let mut bytes = vec![0u8; dtype.bytes_for(n * k).unwrap()];
            quant::quantize(dtype, &values, &mut bytes).unwrap();
            let copies = ROTATION_BYTES.div_ceil(bytes.len()).max(2);
            let ws: Vec<Tensor> = (0..copies)
                .map(|_| {
                    let s = Storage::owned(AlignedBuf::from_bytes(&bytes));
                    Tensor::from_storage(s, dtype, [n, k]).unwrap()
                })
                .collect();
            let x = rng.normals(k);
            let mut y = vec![0f32; n];
            // The read bandwidth moves from minute to minute on a shared
            // machine: measure it beside each line, and take the best of
            // three passes for both.
            let read = read_bandwidth(&pool, &read_buf);
            let mut line = format!("{:5} [{n:5}, {k:4}]", dtype.name());
            for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
                let calls = (3 * copies).max(20);
                for w in &ws {
                    matvec_with(isa, &pool, w, &x, &mut y).unwrap();
                }
                let mut best = f64::MAX;
                for _ in 0..3 {
                    let start = Instant::now();
                    for c in 0..calls {
                        matvec_with(isa, &pool, &ws[c % copies], &x, &mut y).unwrap();
                    }
                    best = best.min(start.elapsed().as_secs_f64());
                }
                let gbs = (calls * bytes.len()) as f64 / best / 1e9;
                line += &format!("  {}: {gbs:5.1} ({:3.0}%)", isa.name(), 100.0 * gbs / read);
            }
            println!("{line}  GB/s (of a {read:.1} GB/s read)");
        }
    }
}

/// Per-block cost of each row kernel with weights resident in L2 (about
/// 40–170 KiB per format), one thread, minimum over many runs: the compute
/// cost the kernels add on top of memory traffic.
///
///     cargo test --release -p monologue --test quant_bench -- --ignored --nocapture kernel_ns
#[test]
#[ignore = "timing; run by hand with --release"]
fn kernel_ns_per_block() {
    use monologue::backend::cpu::quant_dot as dot;
    let mut rng = Rng::new(5);
    for dtype in wanted() {
        // 256 rows of 576 (32-weight blocks) or 64 rows of 2048 (256-weight
        // blocks, as long as real rows are).
        let (n, k) = if dtype.block_len() == 256 {
            (64, 2048)
        } else {
            (256, 576)
        };
        let values = rng.normals(n * k);
        let mut bytes = vec![0u8; dtype.bytes_for(n * k).unwrap()];
        quant::quantize(dtype, &values, &mut bytes).unwrap();
        let bytes = AlignedBuf::from_bytes(&bytes);
        let xq = dot::Activations::quantize(Isa::Portable, dtype, &rng.normals(k));
        let mut y = vec![0f32; n];
        let blocks = n * k / dtype.block_len();
        let mut line = format!("{:5} [{n}, {k}]", dtype.name());
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            let b = bytes.as_slice();
            let mut run = || dot::rows(isa, dtype, b, &xq, &mut y).unwrap();
            let mut best = f64::MAX;
            for _ in 0..200 {
                let start = Instant::now();
                for _ in 0..10 {
                    run();
                }
                best = best.min(start.elapsed().as_secs_f64() / 10.0);
            }
            let ns = best * 1e9 / blocks as f64;
            let gbs = (b.len() as f64) / best / 1e9;
            line += &format!("  {}: {ns:6.2} ns/blk {gbs:5.1} GB/s", isa.name());
        }
        println!("{line}");
    }
    // Activation quantization, once per product: 16 Ki values.
    let x = rng.normals(16 * 1024);
    let mut xq = vec![quant::BlockQ8A::default(); x.len() / 32];
    let mut line = "Q8A quantize".to_string();
    for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
        let mut best = f64::MAX;
        for _ in 0..200 {
            let start = Instant::now();
            dot::quantize_q8a(isa, &x, &mut xq);
            best = best.min(start.elapsed().as_secs_f64());
        }
        line += &format!(
            "  {}: {:6.2} ns/blk",
            isa.name(),
            best * 1e9 / xq.len() as f64
        );
    }
    println!("{line}");
}

/// Whether splitting small matrices across two threads pays: microseconds
/// per matvec with one and two threads, weights rotated from DRAM.
///
///     cargo test --release -p monologue --test quant_bench -- --ignored --nocapture small_shapes
#[test]
#[ignore = "timing; run by hand with --release"]
fn small_shapes_threads() {
    let pools = [ThreadPool::new(1), ThreadPool::new(2)];
    let mut rng = Rng::new(11);
    for dtype in [DType::Q4_1, DType::Q8_0] {
        for (n, k) in [(576, 576), (1536, 576), (576, 1536)] {
            let values = rng.normals(n * k);
            let mut bytes = vec![0u8; dtype.bytes_for(n * k).unwrap()];
            quant::quantize(dtype, &values, &mut bytes).unwrap();
            let copies = ROTATION_BYTES.div_ceil(bytes.len());
            let ws: Vec<Tensor> = (0..copies)
                .map(|_| {
                    let s = Storage::owned(AlignedBuf::from_bytes(&bytes));
                    Tensor::from_storage(s, dtype, [n, k]).unwrap()
                })
                .collect();
            let x = rng.normals(k);
            let mut y = vec![0f32; n];
            let isa = monologue::backend::cpu::simd::active();
            let mut line = format!("{:5} [{n:5}, {k:4}] {}", dtype.name(), isa.name());
            for pool in &pools {
                // Minimum over batches of 16 calls, each on the next copy.
                let mut best = f64::MAX;
                for batch in 0..copies.max(64) / 16 {
                    let start = Instant::now();
                    for c in 0..16 {
                        let w = &ws[(16 * batch + c) % copies];
                        matvec_with(isa, pool, w, &x, &mut y).unwrap();
                    }
                    best = best.min(start.elapsed().as_secs_f64() / 16.0);
                }
                line += &format!("  {} thread(s): {:6.1} µs", pool.threads(), best * 1e6);
            }
            println!("{line}");
        }
    }
}

/// Prefill speed: multiply-adds per second of `matmul` for 64 and 512
/// activation rows on a 2048 × 2048 matrix, two threads, every path.
///
///     cargo test --release -p monologue --test quant_bench -- --ignored --nocapture prefill
#[test]
#[ignore = "timing; run by hand with --release"]
fn prefill_gmacs() {
    use monologue::ops::quant::matmul_with;
    let pool = ThreadPool::new(2);
    let mut rng = Rng::new(13);
    let (n, k) = (2048, 2048);
    for dtype in wanted() {
        let values = rng.normals(n * k);
        let mut bytes = vec![0u8; dtype.bytes_for(n * k).unwrap()];
        quant::quantize(dtype, &values, &mut bytes).unwrap();
        let s = Storage::owned(AlignedBuf::from_bytes(&bytes));
        let w = Tensor::from_storage(s, dtype, [n, k]).unwrap();
        let mut line = format!("{:6} [{n}, {k}]", dtype.name());
        for t in [16, 64, 512] {
            let x = rng.normals(t * k);
            let mut y = vec![0f32; t * n];
            for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
                if isa == Isa::Portable {
                    continue;
                }
                let mut best = f64::MAX;
                for _ in 0..(2048 / t).clamp(3, 20) {
                    let start = Instant::now();
                    matmul_with(isa, &pool, &w, &x, t, &mut y).unwrap();
                    best = best.min(start.elapsed().as_secs_f64());
                }
                let gmacs = (n * k * t) as f64 / best / 1e9;
                line += &format!("  T={t} {}: {gmacs:5.1}", isa.name());
            }
        }
        println!("{line}  GMAC/s");
    }
}
