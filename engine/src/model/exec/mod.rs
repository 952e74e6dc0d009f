//! The language a model's forward pass is written in, and the executors
//! that run it.
//!
//! An architecture (`llama.rs`, `gpt2.rs`) describes its forward pass once,
//! as calls on an [`Exec`]: `e.rmsnorm(X, &layer.attn_norm, eps, H)`,
//! `e.linear(Z, &layer.wo, None, H)`, `e.add(X, H)`, … The operands are
//! named [`Slot`]s, the activations of one pass, like the fields of
//! llama2.c's `RunState` (`s->x`, `s->xb`, `s->q`): a model file reads as a
//! list of steps over a handful of buffers, with no allocation, lifetime or
//! device in sight.
//!
//! Two executors implement the ops:
//! - [`cpu::CpuExec`] runs each op at once on host buffers through
//!   [`crate::ops`] (where the profiler records it), and hands activations to
//!   hooks in place;
//! - `gpu::GpuExec` (feature `gpu`) records each op as WGSL dispatches into
//!   one submission per chunk of tokens; an activation that a hook listens
//!   to is read back (and written back if the hook changed it), so with no
//!   listener the pass is one submission, as fast as a hand-written one.
//!
//! Weights live where their executor runs: a model is generic over a
//! [`Store`], whose associated types are the matrix, vector and RoPE
//! tables of that device (`Tensor` and `Vec<f32>` on the host, `GpuWeight`
//! and `wgpu::Buffer` on the GPU). The load function is written once too:
//! it fetches each tensor and hands it to the store, which keeps it
//! (host) or uploads it (GPU).
//!
//! Why a trait with slots rather than a recorded graph of ops: the CPU
//! executor runs at the speed of the hand-written pass it replaced (each
//! op is a direct call, hooks compile away with [`NoHooks`](super::hooks::NoHooks)),
//! the GPU executor's batching falls out of recording calls in order, and
//! the model file stays a straight-line program a reader can step through.

pub mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;
pub(crate) mod linear;

use super::site::Site;
use super::ModelInfo;
use crate::error::Result;
use crate::ops::attention::Scope;
use crate::ops::rope::{RopeCache, RopeLayout};
use crate::tensor::Tensor;

/// The activations of one forward pass over `T` new tokens.
///
/// `Normed` and `Logits` hold only the head rows (the `R` rows whose
/// logits were asked for: the last, or all `T`); an op that writes
/// `Normed` from `X` reads X's head rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The residual stream, `[T, d]`.
    X,
    /// Each block's normed input, then its output, `[T, d]`.
    H,
    /// Queries `[T, heads, hd]`, keys and values `[T, kv_heads, hd]`.
    Q,
    K,
    V,
    /// Each head's mix of values, `[T, heads, hd]`.
    Z,
    /// The feed-forward hidden layer `[T, ff]` (SwiGLU's gate, GPT-2's up),
    /// and SwiGLU's up projection.
    Gate,
    Up,
    /// The final norm of the head rows, `[R, d]`.
    Normed,
    /// The head rows' logits, `[R, vocab]`.
    Logits,
}

impl Slot {
    pub const ALL: [Slot; 10] = [
        Slot::X,
        Slot::H,
        Slot::Q,
        Slot::K,
        Slot::V,
        Slot::Z,
        Slot::Gate,
        Slot::Up,
        Slot::Normed,
        Slot::Logits,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the slot holds only the head rows.
    pub fn is_head(self) -> bool {
        matches!(self, Slot::Normed | Slot::Logits)
    }
}

/// The widths that size every slot, from a model's shape.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub d_model: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub d_ff: usize,
    pub vocab: usize,
}

impl Dims {
    pub fn of(info: &ModelInfo) -> Dims {
        Dims {
            d_model: info.d_model,
            heads: info.n_heads,
            kv_heads: info.n_kv_heads,
            head_dim: info.head_dim,
            d_ff: info.d_ff,
            vocab: info.vocab_size,
        }
    }

    /// Values per row of `slot`.
    pub fn width(&self, slot: Slot) -> usize {
        match slot {
            Slot::X | Slot::H | Slot::Normed => self.d_model,
            Slot::Q | Slot::Z => self.heads * self.head_dim,
            Slot::K | Slot::V => self.kv_heads * self.head_dim,
            Slot::Gate | Slot::Up => self.d_ff,
            Slot::Logits => self.vocab,
        }
    }

    /// Heads per row of a slot that RoPE rotates (queries or keys).
    pub fn heads_in(&self, slot: Slot) -> usize {
        match slot {
            Slot::K | Slot::V => self.kv_heads,
            _ => self.heads,
        }
    }

    /// The shape hooks see for `rows` rows of `slot` (the naming table in
    /// [`crate::inspect`]).
    pub fn shape(&self, slot: Slot, rows: usize) -> Vec<usize> {
        match slot {
            Slot::Q | Slot::Z => vec![rows, self.heads, self.head_dim],
            Slot::K | Slot::V => vec![rows, self.kv_heads, self.head_dim],
            _ => vec![rows, self.width(slot)],
        }
    }
}

/// A model's rotary embedding as loaded: its tables (grown on demand) and
/// how it pairs a head's dimensions.
pub struct Rotary {
    pub cache: RopeCache,
    pub layout: RopeLayout,
}

/// Where a model's weights live, and how a loaded tensor gets there.
pub trait Store {
    /// A weight matrix `[out, in]`, in its file's format. Clones share it
    /// (a tied unembedding is the embedding).
    type Matrix: Clone + Send + Sync;
    /// An f32 vector: a norm's scale, a bias.
    type Vector: Send + Sync;
    /// RoPE tables.
    type Rope: Send + Sync;

    fn matrix(&self, name: &str, tensor: Tensor) -> Result<Self::Matrix>;
    fn vector(&self, name: &str, values: Vec<f32>) -> Result<Self::Vector>;
    fn rope(&self, rope: Rotary) -> Result<Self::Rope>;
}

/// One projection of a shared input: `out = x · Wᵀ (+ bias)`.
pub struct Proj<'w, S: Store> {
    pub w: &'w S::Matrix,
    pub bias: Option<&'w S::Vector>,
    pub out: Slot,
}

/// The ops a forward pass is made of. Each reads and writes whole slots
/// (all `T` rows, or the head rows of `Normed` and `Logits`).
pub trait Exec<S: Store> {
    /// `out[t] = table[token t]`.
    fn embed(&mut self, table: &S::Matrix, out: Slot) -> Result<()>;
    /// `out[t] = table[position of token t]` (learned position embeddings).
    fn embed_positions(&mut self, table: &S::Matrix, out: Slot) -> Result<()>;
    fn rmsnorm(&mut self, x: Slot, weight: &S::Vector, eps: f32, out: Slot) -> Result<()>;
    /// RMSNorm in place, over rows as long as `weight`: whole rows of `x`
    /// (Gemma's post-norms), or each head of the queries or keys when the
    /// weight is one head wide (Qwen3's and Gemma 3's q/k norms).
    fn rmsnorm_in_place(&mut self, x: Slot, weight: &S::Vector, eps: f32) -> Result<()>;
    fn layernorm(
        &mut self,
        x: Slot,
        weight: &S::Vector,
        bias: &S::Vector,
        eps: f32,
        out: Slot,
    ) -> Result<()>;
    /// `out = x · Wᵀ (+ bias)`.
    fn linear(&mut self, x: Slot, w: &S::Matrix, bias: Option<&S::Vector>, out: Slot)
        -> Result<()>;
    /// Several projections of the same input (Q, K and V; gate and up),
    /// which an executor may fuse.
    fn linears(&mut self, x: Slot, projections: &[Proj<'_, S>]) -> Result<()>;
    /// Rotates the queries or keys in `x` by their positions.
    fn rope(&mut self, x: Slot, rope: &S::Rope) -> Result<()>;
    /// Causal attention of `q` over block `layer`'s cache, which first
    /// receives `k` and `v`; `scope` sets the score scale and any sliding
    /// window. Each head's mix of values goes to `out`. The attention
    /// pattern is offered to the hooks here.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &mut self,
        layer: usize,
        scope: Scope,
        q: Slot,
        k: Slot,
        v: Slot,
        out: Slot,
    ) -> Result<()>;
    /// `x += y`.
    fn add(&mut self, x: Slot, y: Slot) -> Result<()>;
    /// `x *= factor` (Gemma's embedding scale).
    fn scale(&mut self, x: Slot, factor: f32) -> Result<()>;
    /// `gate = silu(gate) ⊙ up`.
    fn swiglu(&mut self, gate: Slot, up: Slot) -> Result<()>;
    /// `gate = gelu_tanh(gate) ⊙ up` (Gemma).
    fn geglu(&mut self, gate: Slot, up: Slot) -> Result<()>;
    /// `x = gelu_tanh(x)`.
    fn gelu(&mut self, x: Slot) -> Result<()>;
    /// Hands the activation in `slot` to whoever listens at `site`.
    fn offer(&mut self, site: Site, slot: Slot) -> Result<()>;
}

/// An architecture's forward pass, written once for every executor.
pub trait Architecture<S: Store>: Send + Sync {
    fn info(&self) -> &ModelInfo;

    /// The new tokens' embeddings and every block, offering each
    /// activation: the residual stream ends in `X`, each block's keys and
    /// values in its cache.
    fn body(&self, e: &mut impl Exec<S>) -> Result<()>;

    /// The final norm of the head rows of `X` into `Normed`, and the
    /// unembedding into `Logits`.
    fn head(&self, e: &mut impl Exec<S>) -> Result<()>;
}
