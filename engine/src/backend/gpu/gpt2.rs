//! GPT-2's forward pass on the GPU: the steps of `model/gpt2.rs`, each a
//! WGSL kernel, sharing the cache and chunking of every GPU model
//! (`forward.rs`).
//!
//! ```text
//! ids → embedding + position embedding → N × [ layernorm → q,k,v + bias → attention → ·Wo + bias → add
//!                                              layernorm → ·Wup + bias → gelu → ·Wdown + bias → add ]
//!     → layernorm → head
//! ```

use super::batch::Batch;
use super::cache::{GpuCache, Scratch};
use super::device::Gpu;
use super::forward::{self, Recorded};
use super::kernels::{self, AttentionDims};
use super::weight::GpuWeight;
use crate::error::Result;
use crate::inspect::Hooks;
use crate::model::gpt2::Norm;
use crate::model::{Gpt2, Logits, Model, ModelInfo, State};
use crate::tensor::DType;
use std::sync::Arc;
use wgpu::Buffer;

/// A LayerNorm's scale and bias.
struct GpuNorm {
    weight: Buffer,
    bias: Buffer,
}

impl GpuNorm {
    fn upload(gpu: &Gpu, name: &str, n: &Norm) -> Result<GpuNorm> {
        Ok(GpuNorm {
            weight: gpu.upload_f32(&format!("{name}.weight"), &n.weight)?,
            bias: gpu.upload_f32(&format!("{name}.bias"), &n.bias)?,
        })
    }
}

/// A matrix and the bias added to its products.
struct Linear {
    w: GpuWeight,
    b: Buffer,
}

impl Linear {
    fn upload(gpu: &Gpu, name: &str, w: &crate::Tensor, b: &[f32]) -> Result<Linear> {
        Ok(Linear {
            w: GpuWeight::upload(gpu, &format!("{name}.weight"), w)?,
            b: gpu.upload_f32(&format!("{name}.bias"), b)?,
        })
    }

    /// `y = W · x + b` for `t` rows.
    fn record<'a>(
        &'a self,
        b: &mut Batch<'a>,
        x: &'a Buffer,
        t: usize,
        y: &'a Buffer,
    ) -> Result<()> {
        kernels::matmul(b, &self.w, x, 0, t, y)?;
        kernels::add_rows(b, y, &self.b, t * self.w.rows, self.w.rows)
    }
}

struct GpuLayer {
    attn_norm: GpuNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ffn_norm: GpuNorm,
    up: Linear,
    down: Linear,
}

/// GPT-2 whose forward pass runs on the GPU. The host copy stays for what
/// runs on the CPU (the logit lens's unembedding).
pub struct GpuGpt2 {
    host: Gpt2,
    gpu: Arc<Gpu>,
    embedding: GpuWeight,
    positions: GpuWeight,
    /// None when the model ties its unembedding to the embedding.
    output: Option<GpuWeight>,
    output_norm: GpuNorm,
    layers: Vec<GpuLayer>,
}

impl GpuGpt2 {
    /// Uploads the weights of `host` (kept in their formats).
    pub fn upload(host: Gpt2, gpu: Arc<Gpu>) -> Result<Self> {
        let g = &gpu;
        let layers = host
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let name = |part: &str| format!("blk.{i}.{part}");
                Ok(GpuLayer {
                    attn_norm: GpuNorm::upload(g, &name("attn_norm"), &l.attn_norm)?,
                    q: Linear::upload(g, &name("attn_q"), &l.wq, &l.bq)?,
                    k: Linear::upload(g, &name("attn_k"), &l.wk, &l.bk)?,
                    v: Linear::upload(g, &name("attn_v"), &l.wv, &l.bv)?,
                    o: Linear::upload(g, &name("attn_output"), &l.wo, &l.bo)?,
                    ffn_norm: GpuNorm::upload(g, &name("ffn_norm"), &l.ffn_norm)?,
                    up: Linear::upload(g, &name("ffn_up"), &l.w_up, &l.b_up)?,
                    down: Linear::upload(g, &name("ffn_down"), &l.w_down, &l.b_down)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // Tied weights share one tensor: upload it once.
        let tied = host.output.as_bytes()?.as_ptr() == host.embedding.as_bytes()?.as_ptr();
        let output = if tied {
            None
        } else {
            Some(GpuWeight::upload(g, "output.weight", &host.output)?)
        };
        Ok(GpuGpt2 {
            embedding: GpuWeight::upload(g, "token_embd.weight", &host.embedding)?,
            positions: GpuWeight::upload(g, "position_embd.weight", &host.positions)?,
            output_norm: GpuNorm::upload(g, "output_norm", &host.output_norm)?,
            output,
            layers,
            gpu,
            host,
        })
    }
}

impl Model for GpuGpt2 {
    fn info(&self) -> &ModelInfo {
        self.host.info()
    }

    fn new_state_with(&self, capacity: usize, kv_dtype: DType) -> Result<State> {
        GpuCache::new_state(&self.gpu, self.info(), capacity, kv_dtype)
    }

    fn forward(&self, state: &mut State, tokens: &[u32], logits: Logits) -> Result<Vec<f32>> {
        forward::forward(self, state, tokens, logits)
    }

    fn forward_argmax(&self, state: &mut State, tokens: &[u32]) -> Result<u32> {
        forward::forward_argmax(self, state, tokens)
    }

    fn gpu_submit(&self) -> Option<&dyn forward::Submit> {
        Some(self)
    }

    fn forward_top_k(
        &self,
        state: &mut State,
        tokens: &[u32],
        k: usize,
    ) -> Result<Vec<(u32, f32)>> {
        forward::forward_top_k(self, state, tokens, k)
    }

    fn forward_hooked(
        &self,
        _state: &mut State,
        _tokens: &[u32],
        _logits: Logits,
        _hooks: &mut dyn Hooks,
    ) -> Result<Vec<f32>> {
        Err(forward::hooks_need_the_cpu())
    }

    fn unembed(&self, resid: &[f32]) -> Result<Vec<f32>> {
        self.host.unembed(resid)
    }
}

impl Recorded for GpuGpt2 {
    fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    fn shape(&self) -> &ModelInfo {
        self.host.info()
    }

    fn head(&self) -> &GpuWeight {
        self.output.as_ref().unwrap_or(&self.embedding)
    }

    fn record_layers<'a>(
        &'a self,
        b: &mut Batch<'a>,
        cache: &'a GpuCache,
        pos0: usize,
        t: usize,
    ) -> Result<()> {
        let c = self.host.config();
        let s = &cache.scratch;
        let (d, eps) = (c.d_model, c.norm_eps);
        kernels::embedding(b, &self.embedding, &s.ids, t, &s.x)?;
        kernels::embedding(b, &self.positions, &s.positions, t, &s.h)?;
        kernels::add(b, &s.x, &s.h, t * d)?;
        for (i, layer) in self.layers.iter().enumerate() {
            // Attention block.
            let n = &layer.attn_norm;
            kernels::layernorm(b, &s.x, &n.weight, &n.bias, &s.h, t, d, eps)?;
            layer.q.record(b, &s.h, t, &s.q)?;
            layer.k.record(b, &s.h, t, &s.k)?;
            layer.v.record(b, &s.h, t, &s.v)?;
            let dims = AttentionDims {
                tokens: t,
                heads: c.n_heads,
                kv_heads: c.n_heads,
                head_dim: c.head_dim,
                pos0,
            };
            kernels::attention(b, dims, &cache.attention_buffers(i))?;
            layer.o.record(b, &s.attn, t, &s.h)?;
            kernels::add(b, &s.x, &s.h, t * d)?;

            // Feed-forward block.
            let n = &layer.ffn_norm;
            kernels::layernorm(b, &s.x, &n.weight, &n.bias, &s.h, t, d, eps)?;
            layer.up.record(b, &s.h, t, &s.up)?;
            kernels::gelu(b, &s.up, t * c.d_ff)?;
            layer.down.record(b, &s.up, t, &s.h)?;
            kernels::add(b, &s.x, &s.h, t * d)?;
        }
        Ok(())
    }

    fn record_final_norm<'a>(&'a self, b: &mut Batch<'a>, s: &'a Scratch, t: usize) -> Result<()> {
        let c = self.host.config();
        let n = &self.output_norm;
        kernels::layernorm(
            b, &s.x, &n.weight, &n.bias, &s.normed, t, c.d_model, c.norm_eps,
        )
    }
}

impl forward::Submit for GpuGpt2 {
    fn submit(
        &self,
        state: &mut State,
        tokens: &[u32],
        need: crate::generate::Need,
    ) -> Result<forward::Readback> {
        forward::submit(self, &self.gpu, state, tokens, need)
    }
}
