//! Looking inside a model: named hook points, an activation cache,
//! interventions, attention maps, the logit lens and reasoning traces.
//!
//! ## Hook points
//!
//! Every model offers the same names. `T` is the number of positions in the
//! forward pass, `K` the number of keys seen (every position so far), `H`
//! the query heads, `KV` the key/value heads, `hd` the head size, `d` the
//! model width and `ff` the feed-forward width.
//!
//! | name | shape | what |
//! |---|---|---|
//! | `embed` | `[T, d]` | token embedding (+ position embedding, GPT-2) |
//! | `blocks.N.resid_pre` | `[T, d]` | residual stream entering block N |
//! | `blocks.N.attn.q` | `[T, H, hd]` | queries, after RoPE |
//! | `blocks.N.attn.k` | `[T, KV, hd]` | keys, after RoPE (as cached) |
//! | `blocks.N.attn.v` | `[T, KV, hd]` | values |
//! | `blocks.N.attn.pattern` | `[H, T, K]` | softmax probabilities, zero above the diagonal |
//! | `blocks.N.attn.z` | `[T, H, hd]` | each head's mix of values, before the output projection |
//! | `blocks.N.attn.out` | `[T, d]` | attention block output |
//! | `blocks.N.resid_mid` | `[T, d]` | residual stream after attention |
//! | `blocks.N.mlp.hidden` | `[T, ff]` | feed-forward hidden layer, after its activation |
//! | `blocks.N.mlp.out` | `[T, d]` | feed-forward block output |
//! | `blocks.N.resid_post` | `[T, d]` | residual stream leaving block N |
//! | `final_norm` | `[R, d]` | final norm, on the R rows whose logits are computed |
//! | `logits` | `[R, vocab]` | logits of those rows |
//!
//! `R` is `T` for [`run_with_cache`] and 1 while generating (only the last
//! position's logits are computed). Every activation may be changed by a
//! hook; a changed `attn.pattern` is applied to the values again.
//!
//! ## Zero cost
//!
//! A model's executor is generic over its hooks; the plain forward pass
//! uses [`NoHooks`], whose checks compile away (on the GPU, nothing is read
//! back). A cache records only the names asked for, and only the positions
//! of the passes it listened to.
//!
//! ## Every backend
//!
//! The same hooks run on the CPU and on the GPU: the GPU executor reads an
//! activation back only when someone listens at its site, and writes it
//! back if a hook changed it (`model/exec/gpu/exec.rs`).

mod cache;
mod intervene;
mod lens;
#[cfg(feature = "plot")]
pub mod plots;
mod trace;

pub use crate::model::hooks::{Activation, HookList, Hooked, Hooks, NoHooks};
pub use crate::model::site::{all_sites, glob_match, select, Point, Site, BLOCK_POINTS};
pub use cache::{ActivationCache, Recorder};
pub use intervene::{Edit, Intervention, Interventions};
pub use lens::{
    attention_head, attention_pattern, attention_to, logit_lens, run_with_cache, LogitLens,
};
pub use trace::{generate_traced, SectionStats, Trace, TraceSummary};

use crate::model::ModelInfo;

/// Every hook point name of a model with its shape, in forward-pass order.
pub fn hook_names(info: &ModelInfo) -> Vec<(String, String)> {
    all_sites(info)
        .into_iter()
        .map(|s| (s.name(), s.shape_doc(info)))
        .collect()
}
