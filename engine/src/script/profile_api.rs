//! Per-kernel timing in scripts: `profile(|| ...)` runs a closure with the
//! profiler on and returns the table of what ran; `profile_start()` /
//! `profile_stop()` bracket longer stretches; `save_trace(path)` writes the
//! last profile as a Chrome trace (Perfetto, chrome://tracing). Also the
//! CPU kernels' thread count: `set_threads(n)`, `threads()`.

use super::convert::{engine_err, runtime, ScriptResult};
use super::register::{func, getter};
use super::Shared;
use crate::profile::{self, Profile};
use rhai::{Array, Dynamic, Engine, FnPtr, Map, NativeCallContext, FLOAT, INT};
use std::sync::Arc;

/// A finished profile, as scripts see it.
#[derive(Clone)]
pub struct ProfileTable {
    pub profile: Arc<Profile>,
}

impl ProfileTable {
    fn new(profile: Profile, shared: &Shared) -> Self {
        *shared
            .last_profile
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(profile.clone());
        ProfileTable {
            profile: Arc::new(profile),
        }
    }

    pub fn table(&self) -> String {
        if self.profile.records.is_empty() {
            return "no kernels ran while profiling".into();
        }
        self.profile.table()
    }

    fn rows(&self) -> Array {
        self.profile
            .summary()
            .into_iter()
            .map(|r| {
                let mut m = Map::new();
                m.insert("kernel".into(), r.kernel.into());
                m.insert("backend".into(), r.backend.into());
                m.insert("calls".into(), (r.calls as INT).into());
                m.insert("total_ms".into(), (r.total_ms as FLOAT).into());
                m.insert("mean_us".into(), (r.mean_us as FLOAT).into());
                m.insert("share".into(), (r.share as FLOAT).into());
                m.insert("gflops".into(), (r.gflops as FLOAT).into());
                m.insert("gbps".into(), (r.gbps as FLOAT).into());
                Dynamic::from(m)
            })
            .collect()
    }
}

fn save(profile: &Profile, path: &str) -> ScriptResult<()> {
    std::fs::write(path, profile.chrome_trace_json())
        .map_err(|e| engine_err(crate::Error::io(path, e)))
}

pub fn register(engine: &mut Engine, shared: &Arc<Shared>) {
    func(
        "set_threads",
        "Use n threads for the CPU kernels from now on (1 to 1024; the command line's --threads):\nset_threads(1)",
    )
    .register_into_engine(engine, |n: INT| -> ScriptResult<()> {
        let n = usize::try_from(n).map_err(|_| runtime(format!("set_threads: {n} is negative")))?;
        crate::backend::cpu::pool::try_set_threads(n).map_err(engine_err)
    });
    func("threads", "How many threads the CPU kernels use.").register_into_engine(engine, || {
        crate::backend::cpu::pool::global().threads() as INT
    });
    engine.register_type_with_name::<ProfileTable>("Profile");
    let s = shared.clone();
    func(
        "profile",
        "Run a closure with per-kernel timing on and return the table of the kernels it ran:\nprofile(|| m.generate(\"hi\", #{ max_tokens: 16 }))",
    )
    .register_into_engine(engine, move |ctx: NativeCallContext, f: FnPtr| {
        profile::start();
        let result = f.call_within_context::<Dynamic>(&ctx, ());
        let table = ProfileTable::new(profile::stop(), &s);
        result.map(|_| table)
    });
    func("profile_start", "Start recording every kernel launch.")
        .register_into_engine(engine, profile::start);
    let s = shared.clone();
    func(
        "profile_stop",
        "Stop recording and return the table of what ran since profile_start().",
    )
    .register_into_engine(engine, move || ProfileTable::new(profile::stop(), &s));
    let s = shared.clone();
    func("save_trace", "Write the last profile as a Chrome trace JSON file (opens in Perfetto).")
        .register_into_engine(engine, move |path: &str| {
            let last = s.last_profile.lock().unwrap_or_else(|e| e.into_inner());
            match last.as_ref() {
                Some(p) => save(p, path),
                None => Err(runtime("save_trace: nothing profiled yet (use profile(...) or profile_start()/profile_stop())")),
            }
        });
    func(
        "save_trace",
        "Write this profile as a Chrome trace JSON file (opens in Perfetto).",
    )
    .register_into_engine(engine, |p: &mut ProfileTable, path: &str| {
        save(&p.profile, path)
    });
    func(
        "rows",
        "The summary as an array of #{ kernel, backend, calls, total_ms, mean_us, share, gflops, gbps }.",
    )
    .register_into_engine(engine, |p: &mut ProfileTable| p.rows());
    func("to_array", "Same as rows().")
        .register_into_engine(engine, |p: &mut ProfileTable| p.rows());
    getter(
        "kernels",
        "Names of the kernels that ran, most expensive first.",
    )
    .register_into_engine(engine, |p: &mut ProfileTable| -> Array {
        p.profile
            .summary()
            .into_iter()
            .map(|r| Dynamic::from(r.kernel))
            .collect()
    });
    getter(
        "total_ms",
        "Summed time of all kernel launches, in milliseconds.",
    )
    .register_into_engine(engine, |p: &mut ProfileTable| {
        p.profile.records.iter().map(|r| r.duration_ns).sum::<u64>() as FLOAT * 1e-6
    });
    getter("launches", "Number of kernel launches recorded.")
        .register_into_engine(engine, |p: &mut ProfileTable| {
            p.profile.records.len() as INT
        });
    for name in ["to_string", "to_debug"] {
        func(name, "The per-kernel summary table.")
            .register_into_engine(engine, |p: &mut ProfileTable| p.table());
    }
}
