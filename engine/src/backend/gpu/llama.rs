//! The Llama family's forward pass on the GPU: the same steps as
//! `model/llama.rs`, each a WGSL kernel, the key/value cache in GPU memory,
//! and one submission per chunk of tokens (one per token when decoding).
//!
//! ```text
//! ids → embedding → N × [ rmsnorm → q,k,v (+bias) → rope → attention → ·Wo → add
//!                         rmsnorm → gate, up → swiglu → ·Wdown → add ] → rmsnorm → head
//! ```

use super::batch::Batch;
use super::cache::{GpuCache, Scratch};
use super::device::Gpu;
use super::forward::{self, Recorded};
use super::kernels::{self, AttentionDims, RopeTables};
use super::weight::GpuWeight;
use crate::error::{Error, Result};
use crate::inspect::Hooks;
use crate::model::Llama;
use crate::model::LlamaConfig;
use crate::model::State;
use crate::model::{Logits, Model, ModelInfo};
use crate::ops::rope::RopeLayout;
use crate::tensor::DType;
use std::sync::Arc;
use wgpu::Buffer;

struct GpuLayer {
    attn_norm: Buffer,
    wq: GpuWeight,
    wk: GpuWeight,
    wv: GpuWeight,
    bias: Option<[Buffer; 3]>,
    wo: GpuWeight,
    ffn_norm: Buffer,
    w_gate: GpuWeight,
    w_up: GpuWeight,
    w_down: GpuWeight,
}

/// The most positions a GPU state may hold (the RoPE tables uploaded).
const GPU_ROPE_POSITIONS: usize = 32_768;

/// A Llama-family model whose forward pass runs on the GPU. The host copy
/// stays for what runs on the CPU (the logit lens's unembedding).
pub struct GpuLlama {
    host: Llama,
    gpu: Arc<Gpu>,
    embedding: GpuWeight,
    /// None when the model ties its unembedding to the embedding.
    output: Option<GpuWeight>,
    output_norm: Buffer,
    layers: Vec<GpuLayer>,
    rope: RopeTables,
}

impl GpuLlama {
    /// Uploads the weights of `host` (kept in their formats).
    pub fn upload(host: Llama, gpu: Arc<Gpu>) -> Result<Self> {
        let g = &gpu;
        let layers = host
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let name = |part: &str| format!("blk.{i}.{part}");
                let bias = match (&l.bq, &l.bk, &l.bv) {
                    (Some(q), Some(k), Some(v)) => Some([
                        g.upload_f32(&name("attn_q.bias"), q)?,
                        g.upload_f32(&name("attn_k.bias"), k)?,
                        g.upload_f32(&name("attn_v.bias"), v)?,
                    ]),
                    _ => None,
                };
                Ok(GpuLayer {
                    attn_norm: g.upload_f32(&name("attn_norm"), &l.attn_norm)?,
                    wq: GpuWeight::upload(g, &name("attn_q.weight"), &l.wq)?,
                    wk: GpuWeight::upload(g, &name("attn_k.weight"), &l.wk)?,
                    wv: GpuWeight::upload(g, &name("attn_v.weight"), &l.wv)?,
                    bias,
                    wo: GpuWeight::upload(g, &name("attn_output.weight"), &l.wo)?,
                    ffn_norm: g.upload_f32(&name("ffn_norm"), &l.ffn_norm)?,
                    w_gate: GpuWeight::upload(g, &name("ffn_gate.weight"), &l.w_gate)?,
                    w_up: GpuWeight::upload(g, &name("ffn_up.weight"), &l.w_up)?,
                    w_down: GpuWeight::upload(g, &name("ffn_down.weight"), &l.w_down)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let embedding = GpuWeight::upload(g, "token_embd.weight", &host.embedding)?;
        // Tied weights share one tensor: upload it once.
        let tied = host.output.as_bytes()?.as_ptr() == host.embedding.as_bytes()?.as_ptr();
        let output = if tied {
            None
        } else {
            Some(GpuWeight::upload(g, "output.weight", &host.output)?)
        };
        // The GPU keeps fixed tables: the model's context, up to
        // GPU_ROPE_POSITIONS (a file may claim billions of positions).
        let tables = host
            .rope
            .covering(host.rope.max_pos().min(GPU_ROPE_POSITIONS))?;
        let rope = RopeTables {
            cos: g.upload_f32("rope cos", tables.cos())?,
            sin: g.upload_f32("rope sin", tables.sin())?,
            half: host.rope.rot_dim() / 2,
            max_pos: tables.positions(),
            neox: host.config.rope_layout == RopeLayout::NeoX,
        };
        Ok(GpuLlama {
            output_norm: g.upload_f32("output_norm", &host.output_norm)?,
            embedding,
            output,
            layers,
            rope,
            gpu,
            host,
        })
    }

    fn config(&self) -> &LlamaConfig {
        &self.host.config
    }
}

impl Model for GpuLlama {
    fn info(&self) -> &ModelInfo {
        self.host.info()
    }

    fn new_state_with(&self, capacity: usize, kv_dtype: DType) -> Result<State> {
        if capacity > self.rope.max_pos {
            return Err(Error::Invalid(format!(
                "a context of {capacity} exceeds the {} positions the GPU backend holds",
                self.rope.max_pos
            )));
        }
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

impl Recorded for GpuLlama {
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
        let c = self.config();
        let s = &cache.scratch;
        let (d, q_dim, kv_dim) = (c.d_model, c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
        kernels::embedding(b, &self.embedding, &s.ids, t, &s.x)?;
        for (i, layer) in self.layers.iter().enumerate() {
            // Attention block.
            kernels::rmsnorm(b, &s.x, &layer.attn_norm, &s.h, t, d, c.norm_eps)?;
            kernels::matmul(b, &layer.wq, &s.h, 0, t, &s.q)?;
            kernels::matmul(b, &layer.wk, &s.h, 0, t, &s.k)?;
            kernels::matmul(b, &layer.wv, &s.h, 0, t, &s.v)?;
            if let Some([bq, bk, bv]) = &layer.bias {
                kernels::add_rows(b, &s.q, bq, t * q_dim, q_dim)?;
                kernels::add_rows(b, &s.k, bk, t * kv_dim, kv_dim)?;
                kernels::add_rows(b, &s.v, bv, t * kv_dim, kv_dim)?;
            }
            kernels::rope(b, &s.q, &self.rope, t, c.n_heads, c.head_dim, pos0)?;
            kernels::rope(b, &s.k, &self.rope, t, c.n_kv_heads, c.head_dim, pos0)?;
            let dims = AttentionDims {
                tokens: t,
                heads: c.n_heads,
                kv_heads: c.n_kv_heads,
                head_dim: c.head_dim,
                pos0,
            };
            kernels::attention(b, dims, &cache.attention_buffers(i))?;
            kernels::matmul(b, &layer.wo, &s.attn, 0, t, &s.h)?;
            kernels::add(b, &s.x, &s.h, t * d)?;

            // Feed-forward block (SwiGLU).
            kernels::rmsnorm(b, &s.x, &layer.ffn_norm, &s.h, t, d, c.norm_eps)?;
            kernels::matmul(b, &layer.w_gate, &s.h, 0, t, &s.gate)?;
            kernels::matmul(b, &layer.w_up, &s.h, 0, t, &s.up)?;
            kernels::swiglu(b, &s.gate, &s.up, t * c.d_ff)?;
            kernels::matmul(b, &layer.w_down, &s.gate, 0, t, &s.h)?;
            kernels::add(b, &s.x, &s.h, t * d)?;
        }
        Ok(())
    }

    fn record_final_norm<'a>(&'a self, b: &mut Batch<'a>, s: &'a Scratch, t: usize) -> Result<()> {
        let c = self.config();
        kernels::rmsnorm(
            b,
            &s.x,
            &self.output_norm,
            &s.normed,
            t,
            c.d_model,
            c.norm_eps,
        )
    }
}

impl forward::Submit for GpuLlama {
    fn submit(
        &self,
        state: &mut State,
        tokens: &[u32],
        need: crate::generate::Need,
    ) -> Result<forward::Readback> {
        forward::submit(self, &self.gpu, state, tokens, need)
    }
}
