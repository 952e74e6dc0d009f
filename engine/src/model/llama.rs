//! The Llama family: Llama 2/3, TinyLlama, SmolLM2, Mistral, Phi-3,
//! Qwen2/3 and Gemma 3.
//!
//! ```text
//! tokens → embed (· √d, Gemma) → N × [ x += post(attn(rmsnorm(x))) ; x += post(mlp(rmsnorm(x))) ]
//!        → rmsnorm → head → logits
//! attn: q, k, v = x Wq, x Wk, x Wv (+ bias, Qwen2; one fused Wqkv, Phi-3) → rmsnorm each head of q, k (Qwen3, Gemma 3)
//!       → rope(q, k) → causal GQA over the cache (a sliding window in some layers) → · Wo
//! mlp:  (act(x Wgate) ⊙ x Wup) · Wdown, act = silu (SwiGLU) or gelu_tanh (GeGLU, Gemma)
//! post: an RMSNorm of the block's output (Gemma 3), else nothing
//! ```
//! Members of the family differ only in [`LlamaConfig`] values: each
//! switch in [`Traits`](super::Traits) is one `if` below.

use super::exec::{Architecture, Exec, Proj, Rotary, Slot, Slot::*, Store};
use super::llama_config::{LlamaConfig, Mlp};
use super::names::{Naming, Part};
use super::rope_scaling::RopeScaling;
use super::site::{Point, Point::*, Site};
use super::weights::Weights;
use super::ModelInfo;
use crate::error::Result;
use crate::ops::attention::Scope;
use crate::tensor::Tensor;

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
    /// Qwen3's and Gemma 3's per-head norms of queries and keys.
    q_norm: Option<S::Vector>,
    k_norm: Option<S::Vector>,
    wo: S::Matrix,
    /// Gemma 3's norm of the attention output.
    post_attn_norm: Option<S::Vector>,
    ffn_norm: S::Vector,
    w_gate: S::Matrix,
    w_up: S::Matrix,
    w_down: S::Matrix,
    /// Gemma 3's norm of the feed-forward output.
    post_ffn_norm: Option<S::Vector>,
}

pub struct Llama<S: Store> {
    config: LlamaConfig,
    info: ModelInfo,
    embedding: S::Matrix,
    layers: Vec<Layer<S>>,
    output_norm: S::Vector,
    /// The unembedding; the token embedding itself when the model ties them.
    output: S::Matrix,
    /// RoPE of full-attention layers, and of sliding-window layers where
    /// theirs differs (Gemma 3).
    rope: S::Rope,
    rope_local: Option<S::Rope>,
}

impl<S: Store> Llama<S> {
    /// Fetches every weight from `weights` (checking its shape) and hands
    /// it to `store`.
    pub fn load(config: LlamaConfig, weights: &Weights, naming: Naming, store: &S) -> Result<Self> {
        let c = &config;
        let name = |part, layer, suffix| naming.name(part, layer, suffix);
        let weight = |part, layer, rows, cols| {
            let name = name(part, layer, "weight");
            weights.matrix(&name, rows, cols).map(|t| (name, t))
        };
        let matrix = |part, layer, rows, cols| {
            let (name, t) = weight(part, layer, rows, cols)?;
            store.matrix(&name, t)
        };
        // Rows of a fused matrix, each part under its own name.
        let rows_of = |(name, t): &(String, Tensor), what: &str, first, rows| {
            store.matrix(&format!("{name} ({what})"), t.narrow_rows(first, rows)?)
        };
        let vector = |part, layer, suffix, len| {
            let name = name(part, layer, suffix);
            store.vector(&name, weights.vector(&name, len)?)
        };
        // A norm's scale, shifted by the checkpoint's offset (Gemma's 1 + w).
        let norm = |part, layer, len| {
            let name = name(part, layer, "weight");
            let mut w = weights.vector(&name, len)?;
            w.iter_mut().for_each(|x| *x += c.norm_offset);
            store.vector(&name, w)
        };
        let t = c.traits;
        let (d, kv, hd) = (c.d_model, c.n_kv_heads * c.head_dim, c.head_dim);
        let q_out = c.n_heads * c.head_dim;
        let layers = (0..c.n_layers)
            .map(|i| {
                let bias = |part, len| match t.qkv_bias {
                    true => vector(part, i, "bias", len).map(Some),
                    false => Ok(None),
                };
                let norm_if = |on: bool, part, len| match on {
                    true => norm(part, i, len).map(Some),
                    false => Ok(None),
                };
                // Phi-3's fused projections, cut into their rows (views
                // of the same storage).
                let (wq, wk, wv) = match t.fused {
                    true => {
                        let qkv = weight(Part::AttnQkv, i, q_out + 2 * kv, d)?;
                        (
                            rows_of(&qkv, "q", 0, q_out)?,
                            rows_of(&qkv, "k", q_out, kv)?,
                            rows_of(&qkv, "v", q_out + kv, kv)?,
                        )
                    }
                    false => (
                        matrix(Part::AttnQ, i, q_out, d)?,
                        matrix(Part::AttnK, i, kv, d)?,
                        matrix(Part::AttnV, i, kv, d)?,
                    ),
                };
                let (w_gate, w_up) = match t.fused {
                    true => {
                        let gate_up = weight(Part::FfnGateUp, i, 2 * c.d_ff, d)?;
                        (
                            rows_of(&gate_up, "gate", 0, c.d_ff)?,
                            rows_of(&gate_up, "up", c.d_ff, c.d_ff)?,
                        )
                    }
                    false => (
                        matrix(Part::FfnGate, i, c.d_ff, d)?,
                        matrix(Part::FfnUp, i, c.d_ff, d)?,
                    ),
                };
                Ok(Layer {
                    attn_norm: norm(Part::AttnNorm, i, d)?,
                    wq,
                    wk,
                    wv,
                    bq: bias(Part::AttnQ, q_out)?,
                    bk: bias(Part::AttnK, kv)?,
                    bv: bias(Part::AttnV, kv)?,
                    q_norm: norm_if(t.qk_norm, Part::AttnQNorm, hd)?,
                    k_norm: norm_if(t.qk_norm, Part::AttnKNorm, hd)?,
                    wo: matrix(Part::AttnOutput, i, d, q_out)?,
                    post_attn_norm: norm_if(t.post_norms, Part::PostAttnNorm, d)?,
                    ffn_norm: norm(Part::FfnNorm, i, d)?,
                    w_gate,
                    w_up,
                    w_down: matrix(Part::FfnDown, i, d, c.d_ff)?,
                    post_ffn_norm: norm_if(t.post_norms, Part::PostFfnNorm, d)?,
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
            cache: c
                .rope_scaling
                .cache(c.rope_base, c.rope_dim, c.context_length)?,
            layout: c.rope_layout,
        })?;
        let rope_local = match c.rope_local_base {
            Some(base) if c.sliding_layers.any() => Some(store.rope(Rotary {
                cache: RopeScaling::None.cache(base, c.rope_dim, c.context_length)?,
                layout: c.rope_layout,
            })?),
            _ => None,
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
            qk_norm: c.traits.qk_norm,
            windows: match c.sliding_window {
                Some(w) if c.sliding_layers.any() => {
                    (0..c.n_layers).map(|l| c.slides(l).then_some(w)).collect()
                }
                _ => Vec::new(),
            },
        };
        Ok(Llama {
            output_norm: norm(Part::OutputNorm, 0, d)?,
            embedding,
            output,
            layers,
            rope,
            rope_local,
            info,
            config,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Block `layer`'s RoPE and the keys its queries see.
    fn attention_of(&self, layer: usize) -> (&S::Rope, Scope) {
        let c = &self.config;
        let slides = c.slides(layer);
        let (rope, score_factor) = match (&self.rope_local, slides) {
            (Some(local), true) => (local, 1.0),
            _ => (&self.rope, c.rope_scaling.score_factor()),
        };
        let scope = Scope {
            scale: c.attn_scale * score_factor,
            window: if slides { c.sliding_window } else { None },
        };
        (rope, scope)
    }
}

impl<S: Store> Architecture<S> for Llama<S> {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn body(&self, e: &mut impl Exec<S>) -> Result<()> {
        let c = &self.config;
        let eps = c.norm_eps;
        e.embed(&self.embedding, X)?;
        if c.traits.embed_scale {
            e.scale(X, (c.d_model as f32).sqrt())?;
        }
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
            if let (Some(q_norm), Some(k_norm)) = (&layer.q_norm, &layer.k_norm) {
                e.rmsnorm_in_place(Q, q_norm, eps)?;
                e.rmsnorm_in_place(K, k_norm, eps)?;
                e.offer(at(AttnQNorm), Q)?;
                e.offer(at(AttnKNorm), K)?;
            }
            let (rope, scope) = self.attention_of(i);
            e.rope(Q, rope)?;
            e.rope(K, rope)?;
            e.offer(at(AttnQ), Q)?;
            e.offer(at(AttnK), K)?;
            e.offer(at(AttnV), V)?;
            e.attention(i, scope, Q, K, V, Z)?;
            e.offer(at(AttnZ), Z)?;
            e.linear(Z, &layer.wo, None, H)?;
            if let Some(post) = &layer.post_attn_norm {
                e.rmsnorm_in_place(H, post, eps)?;
            }
            e.offer(at(AttnOut), H)?;
            e.add(X, H)?;
            e.offer(at(ResidMid), X)?;

            // Feed-forward block (gated: SwiGLU or GeGLU).
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
            match c.traits.mlp {
                Mlp::SwiGlu => e.swiglu(Gate, Up)?,
                Mlp::GeGlu => e.geglu(Gate, Up)?,
            }
            e.offer(at(MlpHidden), Gate)?;
            e.linear(Gate, &layer.w_down, None, H)?;
            if let Some(post) = &layer.post_ffn_norm {
                e.rmsnorm_in_place(H, post, eps)?;
            }
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
