//! The Llama family's forward pass on the GPU: the same steps as
//! `model/llama.rs`, each a WGSL kernel, the key/value cache in GPU memory,
//! and one submission per chunk of tokens (one per token when decoding).
//!
//! ```text
//! ids → embedding → N × [ rmsnorm → q,k,v (+bias) → rope → attention → ·Wo → add
//!                         rmsnorm → gate, up → swiglu → ·Wdown → add ] → rmsnorm → head
//! ```

use super::batch::Batch;
use super::device::Gpu;
use super::kernels::{self, AttentionBuffers, AttentionDims, RopeTables};
use super::weight::GpuWeight;
use crate::error::{Error, Result};
use crate::inspect::Hooks;
use crate::model::Llama;
use crate::model::LlamaConfig;
use crate::model::{DeviceCache, State};
use crate::model::{Logits, Model, ModelInfo};
use crate::ops::rope::RopeLayout;
use crate::tensor::DType;
use std::sync::Arc;
use wgpu::Buffer;

/// Tokens per submission during prefill: bounds the scratch buffers (the
/// attention scores are `[chunk, heads, context]`).
const MAX_CHUNK: usize = 64;

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
        let (cos, sin) = host.rope.tables();
        let rope = RopeTables {
            cos: g.upload_f32("rope cos", cos)?,
            sin: g.upload_f32("rope sin", sin)?,
            half: host.rope.rot_dim() / 2,
            max_pos: host.rope.max_pos(),
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

    fn head(&self) -> &GpuWeight {
        self.output.as_ref().unwrap_or(&self.embedding)
    }

    /// Tokens per submission for a context of `capacity`, keeping the
    /// attention scores within one storage binding.
    fn chunk(&self, capacity: usize) -> usize {
        let per_token = 4 * self.config().n_heads as u64 * capacity.max(1) as u64;
        let most = self.gpu.limits.max_storage_buffer_binding_size / per_token;
        (most as usize).clamp(1, MAX_CHUNK)
    }
}

/// The GPU key/value cache of one conversation, and the scratch buffers
/// its forward passes reuse (allocated once, never per token).
#[derive(Debug)]
pub struct GpuCache {
    len: usize,
    chunk: usize,
    keys: Vec<Buffer>,
    values: Vec<Buffer>,
    scratch: Scratch,
}

#[derive(Debug)]
struct Scratch {
    ids: Buffer,
    x: Buffer,
    h: Buffer,
    q: Buffer,
    k: Buffer,
    v: Buffer,
    attn: Buffer,
    gate: Buffer,
    up: Buffer,
    scores: Buffer,
    normed: Buffer,
    logits: Buffer,
    /// Where logits are copied to be read by the host.
    readback: Buffer,
}

impl Scratch {
    fn new(gpu: &Gpu, c: &LlamaConfig, chunk: usize, capacity: usize) -> Result<Scratch> {
        let f = |label: &str, values: usize| gpu.zeros(label, 4 * (chunk * values) as u64);
        let logits_bytes = 4 * (chunk * c.vocab_size) as u64;
        Ok(Scratch {
            ids: f("ids", 1)?,
            x: f("x", c.d_model)?,
            h: f("h", c.d_model)?,
            q: f("q", c.n_heads * c.head_dim)?,
            k: f("k", c.n_kv_heads * c.head_dim)?,
            v: f("v", c.n_kv_heads * c.head_dim)?,
            attn: f("attention", c.n_heads * c.head_dim)?,
            gate: f("gate", c.d_ff)?,
            up: f("up", c.d_ff)?,
            scores: f("scores", c.n_heads * capacity)?,
            normed: f("normed", c.d_model)?,
            logits: f("logits", c.vocab_size)?,
            readback: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("logits read-back"),
                size: logits_bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        })
    }
}

impl DeviceCache for GpuCache {
    fn positions(&self) -> usize {
        self.len
    }

    fn truncate(&mut self, pos: usize) {
        self.len = self.len.min(pos);
    }

    fn bytes(&self) -> usize {
        self.keys
            .iter()
            .chain(&self.values)
            .map(|b| b.size() as usize)
            .sum()
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl GpuCache {
    fn new(gpu: &Gpu, c: &LlamaConfig, capacity: usize, chunk: usize) -> Result<GpuCache> {
        let bytes = 4 * (capacity * c.n_kv_heads * c.head_dim) as u64;
        let layer = |what: &str, i: usize| gpu.zeros(&format!("blk.{i}.{what} cache"), bytes);
        Ok(GpuCache {
            len: 0,
            chunk,
            keys: (0..c.n_layers)
                .map(|i| layer("k", i))
                .collect::<Result<_>>()?,
            values: (0..c.n_layers)
                .map(|i| layer("v", i))
                .collect::<Result<_>>()?,
            scratch: Scratch::new(gpu, c, chunk, capacity)?,
        })
    }
}

impl Model for GpuLlama {
    fn info(&self) -> &ModelInfo {
        self.host.info()
    }

    fn new_state_with(&self, capacity: usize, kv_dtype: DType) -> Result<State> {
        let c = self.config();
        if capacity > c.context_length {
            return Err(Error::Invalid(format!(
                "a context of {capacity} exceeds the model's {} positions",
                c.context_length
            )));
        }
        if kv_dtype != DType::F32 {
            return Err(Error::Invalid(format!(
                "the GPU backend keeps its key/value cache in F32, not {}",
                kv_dtype.name()
            )));
        }
        let cache = GpuCache::new(&self.gpu, c, capacity, self.chunk(capacity))?;
        Ok(State::on_device(capacity, Box::new(cache)))
    }

    fn forward(&self, state: &mut State, tokens: &[u32], logits: Logits) -> Result<Vec<f32>> {
        state.run_guarded(tokens, |state, pos0| {
            let cache = state
                .device
                .as_mut()
                .and_then(|d| d.as_any_mut().downcast_mut::<GpuCache>())
                .ok_or_else(|| Error::Invalid("this state was not made by a GPU model".into()))?;
            self.forward_chunks(cache, pos0, tokens, logits)
        })
    }

    fn forward_hooked(
        &self,
        _state: &mut State,
        _tokens: &[u32],
        _logits: Logits,
        _hooks: &mut dyn Hooks,
    ) -> Result<Vec<f32>> {
        Err(Error::Invalid(
            "hooks (activation caches, interventions) run on the CPU backend; load the model without the GPU backend to inspect it".into(),
        ))
    }

    fn unembed(&self, resid: &[f32]) -> Result<Vec<f32>> {
        self.host.unembed(resid)
    }
}

impl GpuLlama {
    /// Runs `tokens` from position `pos0` in chunks; returns the logits
    /// asked for (the last row, or every row).
    fn forward_chunks(
        &self,
        cache: &mut GpuCache,
        pos0: usize,
        tokens: &[u32],
        logits: Logits,
    ) -> Result<Vec<f32>> {
        let vocab = self.config().vocab_size;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::Invalid(format!(
                "token id {bad} is outside the vocabulary of {vocab} tokens"
            )));
        }
        let mut out = Vec::new();
        let n_chunks = tokens.len().div_ceil(cache.chunk);
        for (i, chunk) in tokens.chunks(cache.chunk).enumerate() {
            let at = pos0 + i * cache.chunk;
            let rows = match logits {
                Logits::All => 0..chunk.len(),
                Logits::Last if i + 1 == n_chunks => chunk.len() - 1..chunk.len(),
                Logits::Last => 0..0,
            };
            out.extend(self.forward_chunk(cache, at, chunk, rows)?);
            cache.len = at + chunk.len();
        }
        Ok(out)
    }

    /// One submission: `tokens` at positions `pos0…`, logits for `rows`.
    fn forward_chunk(
        &self,
        cache: &GpuCache,
        pos0: usize,
        tokens: &[u32],
        rows: std::ops::Range<usize>,
    ) -> Result<Vec<f32>> {
        let c = self.config();
        let gpu = &*self.gpu;
        let s = &cache.scratch;
        let t = tokens.len();
        let (d, q_dim, kv_dim) = (c.d_model, c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
        gpu.queue
            .write_buffer(&s.ids, 0, bytemuck::cast_slice(tokens));

        let mut b = Batch::new(gpu);
        kernels::embedding(&mut b, &self.embedding, &s.ids, t, &s.x)?;
        for (i, layer) in self.layers.iter().enumerate() {
            // Attention block.
            kernels::rmsnorm(&mut b, &s.x, &layer.attn_norm, &s.h, t, d, c.norm_eps)?;
            kernels::matmul(&mut b, &layer.wq, &s.h, 0, t, &s.q)?;
            kernels::matmul(&mut b, &layer.wk, &s.h, 0, t, &s.k)?;
            kernels::matmul(&mut b, &layer.wv, &s.h, 0, t, &s.v)?;
            if let Some([bq, bk, bv]) = &layer.bias {
                kernels::add_rows(&mut b, &s.q, bq, t * q_dim, q_dim)?;
                kernels::add_rows(&mut b, &s.k, bk, t * kv_dim, kv_dim)?;
                kernels::add_rows(&mut b, &s.v, bv, t * kv_dim, kv_dim)?;
            }
            kernels::rope(&mut b, &s.q, &self.rope, t, c.n_heads, c.head_dim, pos0)?;
            kernels::rope(&mut b, &s.k, &self.rope, t, c.n_kv_heads, c.head_dim, pos0)?;
            let dims = AttentionDims {
                tokens: t,
                heads: c.n_heads,
                kv_heads: c.n_kv_heads,
                head_dim: c.head_dim,
                pos0,
            };
            let buffers = AttentionBuffers {
                q: &s.q,
                k_new: &s.k,
                v_new: &s.v,
                k_cache: &cache.keys[i],
                v_cache: &cache.values[i],
                scores: &s.scores,
                out: &s.attn,
            };
            kernels::attention(&mut b, dims, &buffers)?;
            kernels::matmul(&mut b, &layer.wo, &s.attn, 0, t, &s.h)?;
            kernels::add(&mut b, &s.x, &s.h, t * d)?;

            // Feed-forward block (SwiGLU).
            kernels::rmsnorm(&mut b, &s.x, &layer.ffn_norm, &s.h, t, d, c.norm_eps)?;
            kernels::matmul(&mut b, &layer.w_gate, &s.h, 0, t, &s.gate)?;
            kernels::matmul(&mut b, &layer.w_up, &s.h, 0, t, &s.up)?;
            kernels::swiglu(&mut b, &s.gate, &s.up, t * c.d_ff)?;
            kernels::matmul(&mut b, &layer.w_down, &s.gate, 0, t, &s.h)?;
            kernels::add(&mut b, &s.x, &s.h, t * d)?;
        }

        // Only the rows whose logits were asked for go through the head.
        let n = rows.len();
        if n == 0 {
            b.submit()?;
            return Ok(Vec::new());
        }
        kernels::rmsnorm(&mut b, &s.x, &self.output_norm, &s.normed, t, d, c.norm_eps)?;
        kernels::matmul(&mut b, self.head(), &s.normed, rows.start, n, &s.logits)?;
        let bytes = 4 * (n * c.vocab_size) as u64;
        b.copy_after(&s.logits, 0, &s.readback, 0, bytes);
        b.submit()?;
        let raw = gpu.read_mapped(&s.readback, bytes)?;
        Ok(bytemuck::pod_collect_to_vec(&raw))
    }
}
