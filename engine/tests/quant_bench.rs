//! Ad-hoc matvec timing, not a test of speed (timings vary by machine):
//!
//!     cargo test --release -p monologue --test quant_bench -- --ignored --nocapture
//!
//! Prints GB/s of weights read per format, SIMD path and shape with two
//! threads, next to a plain two-thread memory read. Each shape is rotated
//! over at least 256 MiB of weight copies so that they come from DRAM, not
//! from cache, as in a real model.

mod common;

use common::Rng;
use monologue::backend::cpu::pool::{split_range, ThreadPool};
use monologue::backend::cpu::simd::Isa;
use monologue::ops::quant::matvec_with;
use monologue::tensor::AlignedBuf;
use monologue::{quant, DType, Storage, Tensor};
use std::time::Instant;

const ROTATION_BYTES: usize = 256 << 20;

fn read_bandwidth(pool: &ThreadPool) -> f64 {
    let buf = vec![1u64; ROTATION_BYTES * 2 / 8];
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
    println!(
        "plain memory read, 2 threads: {:.1} GB/s",
        read_bandwidth(&pool)
    );
    let shapes = [
        (2048, 2048),
        (8192, 2048),
        (576, 576),
        (1536, 576),
        (576, 1536),
        (49152, 576),
    ];
    let mut rng = Rng::new(9);
    for dtype in DType::QUANTIZED {
        for &(n, k) in &shapes {
            if k % dtype.block_len() != 0 {
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
            let mut line = format!("{:5} [{n:5}, {k:4}]", dtype.name());
            for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
                let calls = (3 * copies).max(20);
                for w in &ws {
                    matvec_with(isa, &pool, w, &x, &mut y).unwrap();
                }
                let start = Instant::now();
                for c in 0..calls {
                    matvec_with(isa, &pool, &ws[c % copies], &x, &mut y).unwrap();
                }
                let gbs = (calls * bytes.len()) as f64 / start.elapsed().as_secs_f64() / 1e9;
                line += &format!("  {}: {gbs:5.1}", isa.name());
            }
            println!("{line}  GB/s");
        }
    }
}
