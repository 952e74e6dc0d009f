//! `monologue bench kernels`: a llama-bench-style table of kernel speeds
//! beside the limits of this machine, measured in the same run.

use monologue::backend::cpu::pool;
use monologue::bench::{self, KernelReport};

pub fn kernels(threads: Option<usize>, json: bool) -> Result<(), String> {
    let max = threads.unwrap_or_else(pool::default_threads).max(1);
    let counts: Vec<usize> = if max == 1 { vec![1] } else { vec![1, max] };
    let report = bench::run_kernel_benchmarks(&counts, |what| {
        if !json {
            eprint!("\r\x1b[2Kmeasuring {what} ...");
        }
    })
    .map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        eprint!("\r\x1b[2K");
        print!("{}", table(&report));
    }
    Ok(())
}

fn table(r: &KernelReport) -> String {
    let mut out = format!(
        "SIMD path: {}   read bandwidth: {:.1} GB/s   profiler off: {:.2} ns per launch\n",
        r.isa, r.read_bandwidth_gbps, r.profiler_off_ns_per_launch
    );
    for (t, peak) in &r.fma_peak_gflops {
        out += &format!("FMA peak, {t} thread(s): {peak:.1} GFLOP/s\n");
    }
    out += "\n| kernel | dtype | shape                        | threads | GFLOP/s |   GB/s | of limit       |\n";
    out += "|--------|-------|------------------------------|--------:|--------:|-------:|----------------|\n";
    for row in &r.rows {
        // GEMM is bound by arithmetic, matvec by memory: compare each with
        // the limit that binds it.
        let limit = if row.kernel == "gemm" {
            let peak = r
                .fma_peak_gflops
                .iter()
                .find(|(t, _)| *t == row.threads)
                .map_or(f64::NAN, |(_, p)| *p);
            format!("{:5.1}% FMA peak", 100.0 * row.gflops / peak)
        } else {
            format!("{:5.1}% read bw", 100.0 * row.gbps / r.read_bandwidth_gbps)
        };
        out += &format!(
            "| {:<6} | {:<5} | {:<28} | {:>7} | {:>7.1} | {:>6.1} | {limit} |\n",
            row.kernel, row.dtype, row.shape, row.threads, row.gflops, row.gbps
        );
    }
    out
}
