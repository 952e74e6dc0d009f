//! The Llama family: Llama 2/3, TinyLlama, SmolLM2 and Qwen2.
//!
//! ```text
//! tokens → embed → N × [ x += attn(rmsnorm(x)) ; x += mlp(rmsnorm(x)) ] → rmsnorm → head → logits
//! attn: q, k, v = x Wq, x Wk, x Wv (+ bias, Qwen2) → rope(q, k) → causal GQA over the cache → · Wo
//! mlp:  (silu(x Wgate) ⊙ x Wup) · Wdown
//! ```
//! Members of the family differ only in [`LlamaConfig`] values.

use super::config::LlamaConfig;
use super::exec::{Architecture, Exec, Proj, Rotary, Slot, Slot::*, Store};
use super::names::{Naming, Part};
use super::site::{Point, Point::*, Site};
use super::weights::Weights;
use super::ModelInfo;
use crate::error::Result;
use crate::ops::rope::RopeCache;

/// One block's weights, wherever the store `S` keeps them.
pub struct Layer<S: Store> {
    attn_norm: S::Vector,
    wq: S::Matrix,
    wk: S::Matrix,
    wv: S::Matrix,
    /// Qwen2's query, key and value biases.
    bq: Option<S::Vector>,
    bk: Option<S::Vector>,
    bv: Option<S::Vector>,
    wo: S::Matrix,
    ffn_norm: S::Vector,
    w_gate: S::Matrix,
    w_up: S::Matrix,
    w_down: S::Matrix,
}

pub struct Llama<S: Store> {
    config: LlamaConfig,
    info: ModelInfo,
    embedding: S::Matrix,
    layers: Vec<Layer<S>>,
    output_norm: S::Vector,
    /// The unembedding; the token embedding itself when the model ties them.
    output: S::Matrix,
    rope: S::Rope,
}

impl<S: Store> Llama<S> {
    /// Fetches every weight from `weights` (checking its shape) and hands
    /// it to `store`.
    pub fn load(config: LlamaConfig, weights: &Weights, naming: Naming, store: &S) -> Result<Self> {
        let c = &config;
        let name = |part, layer, suffix| naming.name(part, layer, suffix);
        let matrix = |part, layer, rows, cols| {
            let name = name(part, layer, "weight");
            store.matrix(&name, weights.matrix(&name, rows, cols)?)
        };
        let vector = |part, layer, suffix, len| {
            let name = name(part, layer, suffix);
            store.vector(&name, weights.vector(&name, len)?)
        };
        let (d, kv) = (c.d_model, c.n_kv_heads * c.head_dim);
        let q_out = c.n_heads * c.head_dim;
        let layers = (0..c.n_layers)
            .map(|i| {
                let bias = |part, len| match c.qkv_bias {
                    true => vector(part, i, "bias", len).map(Some),
                    false => Ok(None),
                };
                Ok(Layer {
                    attn_norm: vector(Part::AttnNorm, i, "weight", d)?,
                    wq: matrix(Part::AttnQ, i, q_out, d)?,
                    wk: matrix(Part::AttnK, i, kv, d)?,
                    wv: matrix(Part::AttnV, i, kv, d)?,
                    bq: bias(Part::AttnQ, q_out)?,
                    bk: bias(Part::AttnK, kv)?,
                    bv: bias(Part::AttnV, kv)?,
                    wo: matrix(Part::AttnOutput, i, d, q_out)?,
                    ffn_norm: vector(Part::FfnNorm, i, "weight", d)?,
                    w_gate: matrix(Part::FfnGate, i, c.d_ff, d)?,
                    w_up: matrix(Part::FfnUp, i, c.d_ff, d)?,
                    w_down: matrix(Part::FfnDown, i, d, c.d_ff)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let embedding_name = name(Part::TokenEmbedding, 0, "weight");
        let embedding = store.matrix(
            &embedding_name,
            weights.tensor(&embedding_name, &[c.vocab_size, d])?,
        )?;
        let output_name = name(Part::Output, 0, "weight");
        let output = if weights.has(&output_name) {
            matrix(Part::Output, 0, c.vocab_size, d)?
        } else {
            embedding.clone()
        };
        let rope = store.rope(Rotary {
            cache: RopeCache::new(c.rope_base, c.rope_dim, c.context_length)?,
            layout: c.rope_layout,
        })?;
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
            output_norm: vector(Part::OutputNorm, 0, "weight", d)?,
            embedding,
            output,
            layers,
            rope,
            info,
            config,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }
}

impl<S: Store> Architecture<S> for Llama<S> {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn body(&self, e: &mut impl Exec<S>) -> Result<()> {
        let eps = self.config.norm_eps;
        e.embed(&self.embedding, X)?;
        e.offer(Site::global(Embed), X)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let at = |point| Site::block(i, point);
            e.offer(at(ResidPre), X)?;

            // Attention block.
            e.rmsnorm(X, &layer.attn_norm, eps, H)?;
            e.linears(
                H,
                &[
                    Proj {
                        w: &layer.wq,
                        bias: layer.bq.as_ref(),
                        out: Q,
                    },
                    Proj {
                        w: &layer.wk,
                        bias: layer.bk.as_ref(),
                        out: K,
                    },
                    Proj {
                        w: &layer.wv,
                        bias: layer.bv.as_ref(),
                        out: V,
                    },
                ],
            )?;
            e.rope(Q, &self.rope)?;
            e.rope(K, &self.rope)?;
            e.offer(at(AttnQ), Q)?;
            e.offer(at(AttnK), K)?;
            e.offer(at(AttnV), V)?;
            e.attention(i, Q, K, V, Z)?;
            e.offer(at(AttnZ), Z)?;
            e.linear(Z, &layer.wo, None, H)?;
            e.offer(at(AttnOut), H)?;
            e.add(X, H)?;
            e.offer(at(ResidMid), X)?;

            // Feed-forward block (SwiGLU).
            e.rmsnorm(X, &layer.ffn_norm, eps, H)?;
            e.linears(
                H,
                &[
                    Proj {
                        w: &layer.w_gate,
                        bias: None,
                        out: Gate,
                    },
                    Proj {
                        w: &layer.w_up,
                        bias: None,
                        out: Up,
                    },
                ],
            )?;
            e.swiglu(Gate, Up)?;
            e.offer(at(MlpHidden), Gate)?;
            e.linear(Gate, &layer.w_down, None, H)?;
            e.offer(at(MlpOut), H)?;
            e.add(X, H)?;
            e.offer(at(ResidPost), X)?;
        }
        Ok(())
    }

    fn head(&self, e: &mut impl Exec<S>) -> Result<()> {
        e.rmsnorm(X, &self.output_norm, self.config.norm_eps, Normed)?;
        e.offer(Site::global(FinalNorm), Normed)?;
        e.linear(Normed, &self.output, None, Slot::Logits)?;
        e.offer(Site::global(Point::Logits), Slot::Logits)
    }
}
