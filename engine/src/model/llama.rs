//! The Llama family: Llama 2/3, TinyLlama, SmolLM2 and Qwen2.
//!
//! ```text
//! tokens → embed → N × [ x += attn(rmsnorm(x)) ; x += mlp(rmsnorm(x)) ] → rmsnorm → head → logits
//! attn: q, k, v = x Wq, x Wk, x Wv (+ bias, Qwen2) → rope(q, k) → causal GQA over the cache → · Wo
//! mlp:  (silu(x Wgate) ⊙ x Wup) · Wdown
//! ```
//! Members of the family differ only in [`LlamaConfig`] values.

use super::config::LlamaConfig;
use super::linear::{linear, linear_many};
use super::names::{Naming, Part};
use super::state::State;
use super::weights::Weights;
use super::{Logits, Model, ModelInfo};
use crate::error::{Error, Result};
use crate::inspect::hooks::{offer, offer_pattern};
use crate::inspect::{Hooks, NoHooks, Point, Point::*, Site};
use crate::ops::{self, rope::RopeCache};
use crate::tensor::{DType, Tensor};

// Fields are visible to the crate so the GPU backend can upload them.
pub(crate) struct Layer {
    pub(crate) attn_norm: Vec<f32>,
    pub(crate) wq: Tensor,
    pub(crate) wk: Tensor,
    pub(crate) wv: Tensor,
    pub(crate) bq: Option<Vec<f32>>,
    pub(crate) bk: Option<Vec<f32>>,
    pub(crate) bv: Option<Vec<f32>>,
    pub(crate) wo: Tensor,
    pub(crate) ffn_norm: Vec<f32>,
    pub(crate) w_gate: Tensor,
    pub(crate) w_up: Tensor,
    pub(crate) w_down: Tensor,
}

pub struct Llama {
    pub(crate) config: LlamaConfig,
    info: ModelInfo,
    pub(crate) embedding: Tensor,
    pub(crate) layers: Vec<Layer>,
    pub(crate) output_norm: Vec<f32>,
    /// The unembedding; the token embedding itself when the model ties them.
    pub(crate) output: Tensor,
    pub(crate) rope: RopeCache,
}

impl Llama {
    pub fn load(config: LlamaConfig, weights: &Weights, naming: Naming) -> Result<Self> {
        let c = &config;
        let name = |part, layer, suffix| naming.name(part, layer, suffix);
        let (d, kv) = (c.d_model, c.n_kv_heads * c.head_dim);
        let q_out = c.n_heads * c.head_dim;
        let layers = (0..c.n_layers)
            .map(|i| {
                let bias = |part, len| {
                    if c.qkv_bias {
                        weights.vector(&name(part, i, "bias"), len).map(Some)
                    } else {
                        Ok(None)
                    }
                };
                Ok(Layer {
                    attn_norm: weights.vector(&name(Part::AttnNorm, i, "weight"), d)?,
                    wq: weights.matrix(&name(Part::AttnQ, i, "weight"), q_out, d)?,
                    wk: weights.matrix(&name(Part::AttnK, i, "weight"), kv, d)?,
                    wv: weights.matrix(&name(Part::AttnV, i, "weight"), kv, d)?,
                    bq: bias(Part::AttnQ, q_out)?,
                    bk: bias(Part::AttnK, kv)?,
                    bv: bias(Part::AttnV, kv)?,
                    wo: weights.matrix(&name(Part::AttnOutput, i, "weight"), d, q_out)?,
                    ffn_norm: weights.vector(&name(Part::FfnNorm, i, "weight"), d)?,
                    w_gate: weights.matrix(&name(Part::FfnGate, i, "weight"), c.d_ff, d)?,
                    w_up: weights.matrix(&name(Part::FfnUp, i, "weight"), c.d_ff, d)?,
                    w_down: weights.matrix(&name(Part::FfnDown, i, "weight"), d, c.d_ff)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let embedding =
            weights.tensor(&name(Part::TokenEmbedding, 0, "weight"), &[c.vocab_size, d])?;
        let output_name = name(Part::Output, 0, "weight");
        let output = if weights.has(&output_name) {
            weights.matrix(&output_name, c.vocab_size, d)?
        } else {
            embedding.clone()
        };
        let info = ModelInfo {
            architecture: c.arch.clone(),
            vocab_size: c.vocab_size,
            context_length: c.context_length,
            n_layers: c.n_layers,
            d_model: d,
            n_heads: c.n_heads,
            n_kv_heads: c.n_kv_heads,
            head_dim: c.head_dim,
            d_ff: c.d_ff,
        };
        Ok(Llama {
            rope: RopeCache::new(c.rope_base, c.rope_dim, c.context_length)?,
            output_norm: weights.vector(&name(Part::OutputNorm, 0, "weight"), d)?,
            embedding,
            output,
            layers,
            info,
            config,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }
}

impl Model for Llama {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn new_state_with(&self, capacity: usize, kv_dtype: DType) -> Result<State> {
        let c = &self.config;
        if capacity > c.context_length {
            return Err(Error::Invalid(format!(
                "a context of {capacity} exceeds the model's {} positions",
                c.context_length
            )));
        }
        State::new(c.n_layers, capacity, c.n_kv_heads, c.head_dim, kv_dtype)
    }

    fn forward(&self, state: &mut State, tokens: &[u32], logits: Logits) -> Result<Vec<f32>> {
        state.run_guarded(tokens, |state, pos0| {
            self.forward_at(state, pos0, tokens, logits, &mut NoHooks)
        })
    }

    fn forward_hooked(
        &self,
        state: &mut State,
        tokens: &[u32],
        logits: Logits,
        hooks: &mut dyn Hooks,
    ) -> Result<Vec<f32>> {
        state.run_guarded(tokens, |state, pos0| {
            self.forward_at(state, pos0, tokens, logits, hooks)
        })
    }

    fn unembed(&self, resid: &[f32]) -> Result<Vec<f32>> {
        let c = &self.config;
        let mut normed = vec![0f32; resid.len()];
        ops::norm::rmsnorm(resid, &self.output_norm, c.norm_eps, &mut normed)?;
        let rows = resid.len() / c.d_model;
        let mut out = vec![0f32; rows * c.vocab_size];
        linear(&normed, rows, &self.output, None, &mut out)?;
        Ok(out)
    }
}

impl Llama {
    /// The forward pass, offering each activation to `hooks` (with
    /// [`NoHooks`] every offer compiles away).
    fn forward_at<H: Hooks + ?Sized>(
        &self,
        state: &mut State,
        pos0: usize,
        tokens: &[u32],
        logits: Logits,
        hooks: &mut H,
    ) -> Result<Vec<f32>> {
        let c = &self.config;
        let t = tokens.len();
        let positions: Vec<usize> = (pos0..pos0 + t).collect();
        let (d, q_dim, kv_dim) = (c.d_model, c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
        let (heads, kv_heads, hd) = (c.n_heads, c.n_kv_heads, c.head_dim);

        // The residual stream, and scratch buffers reused by every layer.
        let mut x = vec![0f32; t * d];
        let mut h = vec![0f32; t * d];
        let mut q = vec![0f32; t * q_dim];
        let mut k = vec![0f32; t * kv_dim];
        let mut v = vec![0f32; t * kv_dim];
        let mut attn = vec![0f32; t * q_dim];
        let mut gate = vec![0f32; t * c.d_ff];
        let mut up = vec![0f32; t * c.d_ff];

        ops::embedding::embedding(&self.embedding, tokens, &mut x)?;
        offer(hooks, Site::global(Embed), &mut x, || vec![t, d], pos0)?;
        for (i, (layer, cache)) in self
            .layers
            .iter()
            .zip(state.host_caches(self.layers.len())?)
            .enumerate()
        {
            let at = |point| Site::block(i, point);
            offer(hooks, at(ResidPre), &mut x, || vec![t, d], pos0)?;

            // Attention block.
            ops::norm::rmsnorm(&x, &layer.attn_norm, c.norm_eps, &mut h)?;
            linear_many(
                &h,
                t,
                &[&layer.wq, &layer.wk, &layer.wv],
                &[
                    layer.bq.as_deref(),
                    layer.bk.as_deref(),
                    layer.bv.as_deref(),
                ],
                &mut [&mut q, &mut k, &mut v],
            )?;
            ops::rope::rope(&mut q, &positions, heads, hd, c.rope_layout, &self.rope)?;
            ops::rope::rope(&mut k, &positions, kv_heads, hd, c.rope_layout, &self.rope)?;
            offer(hooks, at(AttnQ), &mut q, || vec![t, heads, hd], pos0)?;
            offer(hooks, at(AttnK), &mut k, || vec![t, kv_heads, hd], pos0)?;
            offer(hooks, at(AttnV), &mut v, || vec![t, kv_heads, hd], pos0)?;
            let mut probs = hooks
                .wants(at(AttnPattern))
                .then(|| vec![0f32; t * heads * (pos0 + t)]);
            ops::attention::attention(&q, &k, &v, cache, pos0, &mut attn, probs.as_deref_mut())?;
            if let Some(probs) = &probs {
                offer_pattern(hooks, i, probs, heads, pos0, cache, &mut attn)?;
            }
            offer(hooks, at(AttnZ), &mut attn, || vec![t, heads, hd], pos0)?;
            linear(&attn, t, &layer.wo, None, &mut h)?;
            offer(hooks, at(AttnOut), &mut h, || vec![t, d], pos0)?;
            ops::elementwise::add_inplace(&mut x, &h)?;
            offer(hooks, at(ResidMid), &mut x, || vec![t, d], pos0)?;

            // Feed-forward block (SwiGLU).
            ops::norm::rmsnorm(&x, &layer.ffn_norm, c.norm_eps, &mut h)?;
            linear_many(
                &h,
                t,
                &[&layer.w_gate, &layer.w_up],
                &[None, None],
                &mut [&mut gate, &mut up],
            )?;
            ops::activation::swiglu_inplace(&mut gate, &up)?;
            offer(hooks, at(MlpHidden), &mut gate, || vec![t, c.d_ff], pos0)?;
            linear(&gate, t, &layer.w_down, None, &mut h)?;
            offer(hooks, at(MlpOut), &mut h, || vec![t, d], pos0)?;
            ops::elementwise::add_inplace(&mut x, &h)?;
            offer(hooks, at(ResidPost), &mut x, || vec![t, d], pos0)?;
        }

        // Only the rows whose logits were asked for go through the head.
        let rows = match logits {
            Logits::Last => t - 1..t,
            Logits::All => 0..t,
        };
        let n = rows.len();
        let mut normed = vec![0f32; n * d];
        ops::norm::rmsnorm(
            &x[rows.start * d..rows.end * d],
            &self.output_norm,
            c.norm_eps,
            &mut normed,
        )?;
        let pos = pos0 + rows.start;
        offer(
            hooks,
            Site::global(FinalNorm),
            &mut normed,
            || vec![n, d],
            pos,
        )?;
        let mut out = vec![0f32; n * c.vocab_size];
        linear(&normed, n, &self.output, None, &mut out)?;
        offer(
            hooks,
            Site::global(Point::Logits),
            &mut out,
            || vec![n, c.vocab_size],
            pos,
        )?;
        Ok(out)
    }
}
