//! The rhai scripting API: how people drive the engine from the REPL, from
//! Jupyter cells, from script files and from the tests. It is registered
//! once, here, so a script that works in one face works in the others.
//!
//! ```text
//! let m = load_model("smollm2");
//! m.generate("The capital of France is", #{ max_tokens: 16, temperature: 0.0 })
//! let t = tensor([[1.0, 2.0], [3.0, 4.0]]); t.matmul(t).softmax(-1)
//! profile(|| m.generate("hi", #{ max_tokens: 16 }))
//! ```
//!
//! | file | registers |
//! |---|---|
//! | `model_api.rs` | `load_model`, the `Model` and `Chat` types |
//! | `tokenizer_api.rs` | `load_tokenizer`, the `Tokenizer` type (also `m.tokenizer`) |
//! | `inspect_api.rs` | hook names, `run_with_cache`, attention, logit lens, traces, `with_hooks` |
//! | `tensor_api.rs` | `tensor(...)` and the `Tensor` type |
//! | `profile_api.rs` | `profile(fn)`, `profile_start/stop`, `save_trace` |
//! | `plot_api.rs` | `plot_line`, `plot_bar`, `plot_heatmap` |
//! | `limits.rs` | `limits`, `set_limits`: the size limits on script values |
//!
//! and the session itself:
//!
//! | file | holds |
//! |---|---|
//! | `session.rs` | [`Session`]: the engine, variables, functions; `eval`, help, completion |
//! | `shared.rs` | what registered functions share with their session (cancel flag, sink, limits) |
//! | `sink.rs` | [`Sink`], where output goes; [`CollectSink`] for tests |
//! | `outcome.rs` | [`Outcome`] and [`ScriptError`], what an input gives back |
//!
//! A [`Session`] holds one engine, the variables and functions defined so
//! far, a cancellation flag and the [`Sink`] that receives streamed text.
//! Every registered function carries its documentation as rhai metadata;
//! `help.rs` reads it back for `:help` and tab completion.

mod convert;
mod display;
mod help;
mod inspect_api;
mod limits;
mod model_api;
mod options;
mod outcome;
mod plot_api;
mod profile_api;
mod register;
mod rlvr_api;
mod session;
mod shared;
mod sink;
mod tensor_api;
mod tokenizer_api;
mod train_api;

pub use display::{render, Rendered};
pub use inspect_api::{CacheHandle, HookSpec, LensHandle, TraceHandle};
pub use limits::Limits;
pub use model_api::{ChatHandle, ModelHandle};
pub use outcome::{Outcome, ScriptError};
pub use profile_api::ProfileTable;
/// rhai's value types, for faces that bind variables.
pub use rhai::{Array, Dynamic, Map};
pub use session::Session;
pub(crate) use shared::Shared;
pub use sink::{CollectSink, Collected, Sink};

/// The stack a thread that runs scripts should have. rhai walks nested
/// values recursively (to check their size, to drop them), so
/// `for i in 0..n { m = #{ x: m } }` overflowed the 8 MiB main stack and
/// killed the process. With this much, the nesting a script can reach is
/// bounded by time instead (each level re-checks the ones below it, so
/// depth grows with the square root of the work), and an interrupt stops
/// it. It is reserved address space; only what is used is touched.
pub const SCRIPT_STACK_BYTES: usize = 256 << 20;
