//! How large a script's strings, arrays and maps may grow. rhai allows any
//! size by default, so `[].pad(10000000000, 0)` asked the allocator for
//! 160 GB and aborted the process (REPL and Jupyter kernel alike). With
//! limits, rhai checks the size before it allocates and the script gets an
//! error. A script that needs more raises them with `set_limits(#{...})`;
//! the new limits apply from the next input, because rhai's engine cannot
//! change while it runs a script.
//!
//! The checks cost time: with any limit set, rhai re-measures an array
//! (nested values included) each time a method changes it, so growing one
//! by `push` is quadratic (100,000 pushes: 2.2 s instead of 0.05 s).
//! Tensors are the fast path for large data; a script that must grow huge
//! arrays can set all three limits to 0 (none), taking back the risk.

use super::register::func;
use super::Shared;
use rhai::{Dynamic, Engine, EvalAltResult, Map, INT};
use std::sync::Arc;

/// Size limits for script values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Characters (bytes) in one string.
    pub max_string: usize,
    /// Elements of one array, nested arrays counted in.
    pub max_array: usize,
    /// Entries of one object map.
    pub max_map: usize,
}

impl Default for Limits {
    /// 64 MiB strings, 16 million array elements (256 MB of values), a
    /// million map entries: far above what interactive work builds, far
    /// below what a 24 GB machine holds.
    fn default() -> Self {
        Limits {
            max_string: 64 << 20,
            max_array: 16 << 20,
            max_map: 1 << 20,
        }
    }
}

impl Limits {
    const NAMES: [&'static str; 3] = ["max_string", "max_array", "max_map"];

    pub(crate) fn apply(&self, engine: &mut Engine) {
        engine.set_max_string_size(self.max_string);
        engine.set_max_array_size(self.max_array);
        engine.set_max_map_size(self.max_map);
    }

    fn to_map(self) -> Map {
        let mut map = Map::new();
        for (name, v) in Self::NAMES
            .iter()
            .zip([self.max_string, self.max_array, self.max_map])
        {
            map.insert((*name).into(), Dynamic::from(v as INT));
        }
        map
    }

    /// These limits with the entries of `map` changed (0: no limit); an
    /// unknown key or a value that is not a non-negative integer is an error.
    fn with(mut self, map: &Map) -> Result<Self, String> {
        for (key, value) in map {
            let n = value.as_int().ok().filter(|&n| n >= 0).ok_or_else(|| {
                format!("set_limits: {key} must be a non-negative integer, not {value}")
            })? as usize;
            match key.as_str() {
                "max_string" => self.max_string = n,
                "max_array" => self.max_array = n,
                "max_map" => self.max_map = n,
                other => {
                    return Err(format!(
                        "set_limits: unknown limit {other:?} (valid: {})",
                        Self::NAMES.join(", ")
                    ))
                }
            }
        }
        Ok(self)
    }
}

pub(crate) fn register(engine: &mut Engine, shared: &Arc<Shared>) {
    let reader = shared.clone();
    func(
        "limits",
        "The size limits on script values: #{ max_string, max_array, max_map }\n(bytes of a string, elements of an array, entries of a map).",
    )
    .register_into_engine(engine, move || reader.limits().to_map());
    let writer = shared.clone();
    func(
        "set_limits",
        "Change the size limits on script values from the next input on:\nset_limits(#{ max_array: 100_000_000 }). Keys: max_string, max_array, max_map; 0 is no limit\n(with all three 0, rhai skips its size checks: faster, but a runaway value can abort).",
    )
    .register_into_engine(
        engine,
        move |changes: Map| -> Result<(), Box<EvalAltResult>> {
            let limits = writer.limits().with(&changes)?;
            writer.set_limits(limits);
            Ok(())
        },
    );
}
