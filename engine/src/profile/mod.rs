//! Per-kernel timing. Every kernel launch passes through [`record`]; while
//! profiling is on it appends one [`KernelRecord`] (name, backend, shapes,
//! bytes moved, FLOPs, start and duration). While it is off the cost is one
//! relaxed atomic load and a branch.
//!
//! ```
//! monologue::profile::start();
//! // ... run kernels ...
//! let profile = monologue::profile::stop();
//! println!("{}", profile.table());
//! // Open in chrome://tracing or Perfetto.
//! let trace = std::env::temp_dir().join("monologue-trace.json");
//! std::fs::write(trace, profile.chrome_trace_json()).ok();
//! ```

mod clock;
mod report;

pub use clock::{now_ns, set_clock};
pub use report::{Profile, SummaryRow};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ENABLED: AtomicBool = AtomicBool::new(false);
static RECORDS: Mutex<Vec<KernelRecord>> = Mutex::new(Vec::new());

/// One kernel launch.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelRecord {
    pub name: &'static str,
    /// `"cpu"`, later `"wgpu"`.
    pub backend: &'static str,
    /// The operands' shapes, e.g. `"Q4_1[576, 576] x f32[576]"`.
    pub shapes: String,
    /// Bytes read and written by the kernel (an estimate from the shapes).
    pub bytes: u64,
    /// Floating-point (or integer multiply-add) operations.
    pub flops: u64,
    /// Start, in nanoseconds since the profiling clock's origin.
    pub start_ns: u64,
    pub duration_ns: u64,
}

/// What a launch costs, computed from its shapes by the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    pub bytes: u64,
    pub flops: u64,
}

impl Cost {
    /// `n` f32 values passed over `passes` times (reads and writes), about
    /// one flop each.
    pub fn elementwise(n: usize, passes: usize) -> Cost {
        Cost {
            bytes: 4 * (n * passes) as u64,
            flops: n as u64,
        }
    }

    /// An f32 product `[m, k] · [k, n]`.
    pub fn matmul(m: usize, k: usize, n: usize) -> Cost {
        Cost {
            bytes: 4 * (m * k + k * n + m * n) as u64,
            flops: 2 * (m * k * n) as u64,
        }
    }
}

/// Start collecting records (clearing any left from an earlier run).
pub fn start() {
    lock_records().clear();
    ENABLED.store(true, Ordering::Release);
}

/// Stop collecting and return what was recorded since [`start`].
pub fn stop() -> Profile {
    ENABLED.store(false, Ordering::Release);
    Profile::new(std::mem::take(&mut *lock_records()))
}

pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Run `kernel`, recording it when profiling is on. `shapes` is only called
/// when profiling, so describing the operands costs nothing otherwise.
#[inline]
pub fn record<R>(
    name: &'static str,
    backend: &'static str,
    cost: Cost,
    shapes: impl FnOnce() -> String,
    kernel: impl FnOnce() -> R,
) -> R {
    if !is_enabled() {
        return kernel();
    }
    let start_ns = now_ns();
    let result = kernel();
    let duration_ns = now_ns().saturating_sub(start_ns);
    push(KernelRecord {
        name,
        backend,
        shapes: shapes(),
        bytes: cost.bytes,
        flops: cost.flops,
        start_ns,
        duration_ns,
    });
    result
}

/// Add a record measured elsewhere (a GPU timestamp query, for instance).
pub fn push(record: KernelRecord) {
    if is_enabled() {
        lock_records().push(record);
    }
}

fn lock_records() -> std::sync::MutexGuard<'static, Vec<KernelRecord>> {
    // A panic while holding the lock cannot leave the Vec half-updated.
    RECORDS.lock().unwrap_or_else(|e| e.into_inner())
}
