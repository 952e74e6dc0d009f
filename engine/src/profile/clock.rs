//! The profiler's clock. Native builds read a monotonic clock; a browser has
//! no `Instant`, so the web face installs `performance.now()` with
//! [`set_clock`]. Without a clock, wasm durations read as zero.

use std::sync::OnceLock;

static CUSTOM: OnceLock<fn() -> u64> = OnceLock::new();

/// Install a clock returning nanoseconds (once; later calls are ignored).
pub fn set_clock(clock: fn() -> u64) {
    let _ = CUSTOM.set(clock);
}

/// Nanoseconds since an arbitrary, fixed origin.
pub fn now_ns() -> u64 {
    if let Some(clock) = CUSTOM.get() {
        return clock();
    }
    native_now_ns()
}

#[cfg(not(target_arch = "wasm32"))]
fn native_now_ns() -> u64 {
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[cfg(target_arch = "wasm32")]
fn native_now_ns() -> u64 {
    0
}
