//! Running GPU tests: each is a plain function given the opened GPU. Without
//! an adapter they are reported as SKIPPED, one line each, unless
//! MONOLOGUE_REQUIRE_GPU=1 (CI), where that is a failure.

use monologue::backend::gpu::{Gpu, GpuOptions};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub type GpuTest = (&'static str, fn(&Gpu));

/// Runs `tests` (filtered by the first command-line argument that is not a
/// flag, like libtest) and exits non-zero if any failed.
pub fn run(tests: &[GpuTest]) {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let chosen: Vec<&GpuTest> = tests
        .iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .collect();
    let gpu = match Gpu::open(&GpuOptions::default()) {
        Ok(gpu) => gpu,
        Err(e) => {
            if std::env::var("MONOLOGUE_REQUIRE_GPU").as_deref() == Ok("1") {
                eprintln!("MONOLOGUE_REQUIRE_GPU=1 but no GPU: {e}");
                std::process::exit(1);
            }
            for (name, _) in &chosen {
                println!("test {name} ... SKIPPED ({e})");
            }
            println!(
                "\ntest result: SKIPPED. {} GPU tests skipped: no adapter",
                chosen.len()
            );
            return;
        }
    };
    let adapter = gpu.adapter();
    println!(
        "GPU: {} ({}, {}; timestamps: {}, shader-f16: {})",
        adapter.name,
        adapter.backend,
        adapter.kind,
        gpu.has_timestamps(),
        gpu.has_f16()
    );
    let mut failed = Vec::new();
    for (name, test) in &chosen {
        let outcome = catch_unwind(AssertUnwindSafe(|| test(&gpu)));
        match outcome {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        chosen.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
