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

#[derive(clap::Args, Debug)]
pub struct ModelBenchArgs {
    #[command(flatten)]
    pub model: crate::prompt::ModelArgs,
    /// Prompt length for the prefill measurement.
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: usize,
    /// Tokens generated one at a time for the decode measurement.
    #[arg(long, default_value_t = 128)]
    pub gen_tokens: usize,
    /// Repetitions; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    #[arg(long)]
    pub json: bool,
    /// Also print the per-kernel timing table of the measured runs.
    #[arg(long)]
    pub profile: bool,
}

/// `monologue bench --model M`: prefill and decode speed like llama-bench
/// (pp512 / tg128 on pseudo-random tokens), load time and peak memory.
pub fn model(args: &ModelBenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    use monologue::model::Logits;
    let lm = args.model.load()?;
    let vocab = lm.model.info().vocab_size as u64;
    let capacity = args.prompt_tokens.max(1) + args.gen_tokens + 1;
    // Token ids spread over the vocabulary, fixed so runs compare.
    let tokens: Vec<u32> = (0..capacity as u64)
        .map(|i| ((i * 2_654_435_761 + 12_345) % vocab) as u32)
        .collect();
    let mut state = lm.new_state(Some(capacity))?;
    let prompt = &tokens[..args.prompt_tokens.max(1)];
    if args.profile {
        monologue::profile::start();
    }
    let prefill_s = bench::median_seconds(args.runs, || {
        state.truncate(0);
        lm.model
            .forward(&mut state, prompt, Logits::Last)
            .expect("prefill");
    });
    let decode_s = bench::median_seconds(args.runs, || {
        state.truncate(1);
        // As greedy generation does: a GPU reads back only the argmax.
        for &t in &tokens[1..=args.gen_tokens] {
            lm.model.forward_argmax(&mut state, &[t]).expect("decode");
        }
    });
    let profile = args.profile.then(monologue::profile::stop);
    let threads = pool::global().threads();
    let decode_tok_s = args.gen_tokens as f64 / decode_s;
    // Decoding reads every weight once per token (the tied head included),
    // so the model's bytes per token over time is the bandwidth it uses.
    let model_bytes = model_bytes(&lm.path);
    let decode_gbps = model_bytes as f64 * decode_tok_s * 1e-9;
    let device = Device::of(&args.model.load.backend)?;
    let report = serde_json::json!({
        "prefill_tok_s": prompt.len() as f64 / prefill_s,
        "decode_tok_s": decode_tok_s,
        "load_ms": lm.load_ms,
        "peak_rss_mb": peak_rss_mb(),
        "threads": threads,
        "backend": args.model.load.backend.to_string(),
        "device": device.label,
        "isa": monologue::backend::cpu::simd::active().name(),
        "model": lm.path.display().to_string(),
        "model_bytes": model_bytes,
        "decode_gb_s": decode_gbps,
        "copy_bandwidth_gb_s": device.copy_gbps,
        "decode_bandwidth_share": device.copy_gbps.map(|peak| decode_gbps / peak),
    });
    if args.json {
        println!("{report}");
    } else {
        println!("| model | backend | threads | test | t/s |");
        println!("|-------|---------|--------:|------|----:|");
        let name = lm
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label = &device.label;
        println!(
            "| {name} | {label} | {threads} | pp{} | {:.1} |",
            prompt.len(),
            report["prefill_tok_s"].as_f64().unwrap_or(0.0)
        );
        println!(
            "| {name} | {label} | {threads} | tg{} | {decode_tok_s:.1} |",
            args.gen_tokens,
        );
        print!(
            "decode reads {:.1} MB per token: {decode_gbps:.1} GB/s",
            model_bytes as f64 / 1e6
        );
        match device.copy_gbps {
            Some(peak) => println!(
                ", {:.0}% of the GPU's measured copy bandwidth ({peak:.1} GB/s)",
                100.0 * decode_gbps / peak
            ),
            None => println!(),
        }
        println!(
            "load {:.1} ms, peak resident memory {:.1} MB",
            lm.load_ms,
            report["peak_rss_mb"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(profile) = profile {
        eprintln!(
            "\nper-kernel timing of all runs (prefill and decode):\n{}",
            profile.table()
        );
    }
    Ok(())
}

/// What ran the benchmark: its label for the table and, on a GPU, the
/// copy bandwidth decode is measured against.
struct Device {
    label: String,
    copy_gbps: Option<f64>,
}

impl Device {
    fn of(backend: &monologue::model::Backend) -> Result<Device, Box<dyn std::error::Error>> {
        use monologue::model::Backend;
        match backend.clone() {
            Backend::Cpu => Ok(Device {
                label: format!("cpu ({})", monologue::backend::cpu::simd::active().name()),
                copy_gbps: None,
            }),
            Backend::Wgpu(options) => {
                let gpu = monologue::backend::gpu::Gpu::shared(&options)?;
                let f16 = if gpu.has_f16() { ", f16" } else { "" };
                Ok(Device {
                    label: format!("wgpu ({}{f16})", gpu.adapter().name),
                    copy_gbps: Some(gpu.copy_bandwidth_gbps()?),
                })
            }
        }
    }
}

/// Bytes of the model's weights: the GGUF file, or a folder's safetensors.
fn model_bytes(path: &std::path::Path) -> u64 {
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    if path.is_dir() {
        std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .map(|p| size(&p))
            .sum()
    } else {
        size(path)
    }
}

/// The process's peak resident set (VmHWM), in MB; 0 where /proc is absent.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
