//! Turning kernel records into a summary table and a Chrome trace.

use super::KernelRecord;
use std::collections::HashMap;
use std::fmt::Write;

/// Everything recorded between `profile::start()` and `profile::stop()`.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub records: Vec<KernelRecord>,
}

/// One line of the summary: all launches of one kernel on one backend.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SummaryRow {
    pub kernel: String,
    pub backend: String,
    pub calls: u64,
    pub total_ms: f64,
    pub mean_us: f64,
    /// Share of the summed time of all kernels, 0..=1.
    pub share: f64,
    pub gflops: f64,
    pub gbps: f64,
}

impl Profile {
    pub fn new(records: Vec<KernelRecord>) -> Self {
        Profile { records }
    }

    /// Per-kernel totals, the most expensive kernel first.
    pub fn summary(&self) -> Vec<SummaryRow> {
        #[derive(Default)]
        struct Acc {
            calls: u64,
            ns: u64,
            bytes: u64,
            flops: u64,
        }
        let mut by_kernel: HashMap<(&str, &str), Acc> = HashMap::new();
        for r in &self.records {
            let acc = by_kernel.entry((r.name, r.backend)).or_default();
            acc.calls += 1;
            acc.ns += r.duration_ns;
            acc.bytes += r.bytes;
            acc.flops += r.flops;
        }
        let total_ns: u64 = by_kernel.values().map(|a| a.ns).sum();
        let mut rows: Vec<SummaryRow> = by_kernel
            .into_iter()
            .map(|((kernel, backend), a)| {
                let secs = a.ns as f64 * 1e-9;
                let per_sec = |x: u64| {
                    if a.ns == 0 {
                        0.0
                    } else {
                        x as f64 / secs * 1e-9
                    }
                };
                SummaryRow {
                    kernel: kernel.to_string(),
                    backend: backend.to_string(),
                    calls: a.calls,
                    total_ms: a.ns as f64 * 1e-6,
                    mean_us: a.ns as f64 * 1e-3 / a.calls as f64,
                    share: if total_ns == 0 {
                        0.0
                    } else {
                        a.ns as f64 / total_ns as f64
                    },
                    gflops: per_sec(a.flops),
                    gbps: per_sec(a.bytes),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.total_ms
                .total_cmp(&a.total_ms)
                .then(a.kernel.cmp(&b.kernel))
        });
        rows
    }

    /// The summary as an aligned text table.
    pub fn table(&self) -> String {
        let rows = self.summary();
        let width = rows
            .iter()
            .map(|r| r.kernel.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:<7} {:>7} {:>10} {:>10} {:>6} {:>9} {:>8}",
            "kernel", "backend", "calls", "total ms", "mean µs", "share", "GFLOP/s", "GB/s"
        );
        for r in &rows {
            let _ = writeln!(
                out,
                "{:<width$}  {:<7} {:>7} {:>10.3} {:>10.2} {:>5.1}% {:>9.2} {:>8.2}",
                r.kernel,
                r.backend,
                r.calls,
                r.total_ms,
                r.mean_us,
                r.share * 100.0,
                r.gflops,
                r.gbps
            );
        }
        out
    }

    /// Chrome trace-event JSON (loads in Perfetto and chrome://tracing): one
    /// complete ("X") event per launch, one track per backend.
    pub fn chrome_trace_json(&self) -> String {
        let events: Vec<serde_json::Value> = self
            .records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "cat": r.backend,
                    "ph": "X",
                    "ts": r.start_ns as f64 / 1000.0,
                    "dur": r.duration_ns as f64 / 1000.0,
                    "pid": 1,
                    "tid": r.backend,
                    "args": { "shapes": r.shapes, "bytes": r.bytes, "flops": r.flops },
                })
            })
            .collect();
        serde_json::json!({ "traceEvents": events, "displayTimeUnit": "ns" }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &'static str, start_ns: u64, duration_ns: u64) -> KernelRecord {
        KernelRecord {
            name,
            backend: "cpu",
            shapes: "f32[4]".into(),
            bytes: 2_000,
            flops: 1_000,
            start_ns,
            duration_ns,
        }
    }

    #[test]
    fn summary_totals_and_rates() {
        let p = Profile::new(vec![
            rec("a", 0, 1_000),
            rec("b", 10, 3_000),
            rec("a", 20, 1_000),
        ]);
        let rows = p.summary();
        assert_eq!(rows[0].kernel, "b");
        assert_eq!(rows[1].calls, 2);
        assert!((rows[0].share - 0.6).abs() < 1e-12);
        // 2000 flops in 2000 ns = 1 GFLOP/s; 4000 bytes in 2000 ns = 2 GB/s.
        assert!((rows[1].gflops - 1.0).abs() < 1e-9);
        assert!((rows[1].gbps - 2.0).abs() < 1e-9);
        assert!(p.table().lines().count() == 3);
    }

    #[test]
    fn chrome_trace_is_valid_json_with_one_event_per_launch() {
        let p = Profile::new(vec![rec("a", 1_500, 2_000)]);
        let v: serde_json::Value = serde_json::from_str(&p.chrome_trace_json()).unwrap();
        let e = &v["traceEvents"][0];
        assert_eq!(e["ph"], "X");
        assert_eq!(e["ts"], 1.5);
        assert_eq!(e["dur"], 2.0);
    }
}
