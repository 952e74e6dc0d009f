//! Machine measurements that kernel benchmarks compare against: how fast this
//! machine can read memory and how many fused multiply-adds it can issue.
//! A kernel's GB/s means little alone; as a share of the read bandwidth
//! measured in the same run it says how much room is left.

mod kernels;
mod peak;

pub use kernels::{run as run_kernel_benchmarks, KernelReport, KernelRow, MATVEC_SHAPES};
pub use peak::{fma_peak_gflops, FmaPeak};

use crate::backend::cpu::pool;

/// Median wall time, in seconds, of `runs` calls of `f` after one warm-up.
pub fn median_seconds(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = crate::profile::now_ns();
            f();
            (crate::profile::now_ns() - start) as f64 * 1e-9
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// A STREAM-like read: sum `bytes` of memory with every thread of the pool,
/// and return the best of several runs in GB/s (10^9 bytes per second). The
/// buffer should be much larger than the last-level cache (≥ 512 MB).
pub fn read_bandwidth_gbps(bytes: usize) -> f64 {
    // Filled with non-zero data so the pages are really allocated.
    let words: Vec<u32> = (0..bytes / 4).map(|i| i as u32).collect();
    let pool = pool::global();
    let sink = std::sync::atomic::AtomicU32::new(0);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = crate::profile::now_ns();
        pool.run(&|thread, threads| {
            let range = pool::split_range(words.len(), thread, threads, 64);
            let sum = sum_words(&words[range]);
            sink.fetch_add(sum, std::sync::atomic::Ordering::Relaxed);
        });
        best = best.min((crate::profile::now_ns() - start) as f64 * 1e-9);
    }
    std::hint::black_box(sink.into_inner());
    words.len() as f64 * 4.0 / best * 1e-9
}

/// Wrapping integer sum: vectorises without fast-math, so the loop is bound
/// by loads, not by a chain of dependent float adds.
fn sum_words(words: &[u32]) -> u32 {
    let mut lanes = [0u32; 16];
    let chunks = words.chunks_exact(16);
    let tail: u32 = chunks.remainder().iter().fold(0, |a, &w| a.wrapping_add(w));
    for chunk in chunks {
        for (lane, &w) in lanes.iter_mut().zip(chunk) {
            *lane = lane.wrapping_add(w);
        }
    }
    lanes.iter().fold(tail, |a, &l| a.wrapping_add(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_sum_is_exact() {
        let words: Vec<u32> = (0..1000).collect();
        assert_eq!(sum_words(&words), 999 * 1000 / 2);
    }

    #[test]
    fn measurements_are_positive_and_finite() {
        let bw = read_bandwidth_gbps(8 << 20);
        assert!(bw.is_finite() && bw > 0.0, "{bw}");
        let peak = fma_peak_gflops(1);
        assert!(peak.gflops.is_finite() && peak.gflops > 0.0, "{peak:?}");
    }
}
