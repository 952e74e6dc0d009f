//! GPT-2.
//!
//! ```text
//! tokens → embed + position embed → N × [ x += attn(layernorm(x)) ; x += mlp(layernorm(x)) ] → layernorm → head → logits
//! attn: q, k, v = x Wqkv + b (one fused matrix) → causal multi-head attention over the cache → · Wo + b
//! mlp:  gelu_tanh(x Wup + b) · Wdown + b
//! ```
//! No rotary embedding: positions enter once, as learned vectors added to
//! the token embeddings. The head is the token embedding (tied).
//!
//! Hugging Face stores GPT-2's matrices as `Conv1D` weights, `[in, out]`,
//! the transpose of `nn.Linear` and of GGUF. They are transposed once at
//! load ([`Weights::matrix_transposed`]) rather than multiplied with gemm's
//! `[k, n]` layout, so that one `[out, in]` path serves both file formats,
//! the quantized kernels (which need rows of `in` values) included, and the
//! forward pass below does not care where the weights came from.

use super::config::Gpt2Config;
use super::linear::linear;
use super::names::{Naming, Part};
use super::state::State;
use super::weights::Weights;
use super::{Logits, Model, ModelInfo};
use crate::error::{Error, Result};
use crate::inspect::hooks::{offer, offer_pattern};
use crate::inspect::{Hooks, NoHooks, Point, Point::*, Site};
use crate::ops;
use crate::tensor::{DType, Tensor};

pub(crate) struct Norm {
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
}

pub(crate) struct Layer {
    pub(crate) attn_norm: Norm,
    // Views of the fused `c_attn` / `attn_qkv` matrix (rows q, then k,
    // then v), so that each projection is its own product, as in Llama.
    pub(crate) wq: Tensor,
    pub(crate) wk: Tensor,
    pub(crate) wv: Tensor,
    pub(crate) bq: Vec<f32>,
    pub(crate) bk: Vec<f32>,
    pub(crate) bv: Vec<f32>,
    pub(crate) wo: Tensor,
    pub(crate) bo: Vec<f32>,
    pub(crate) ffn_norm: Norm,
    pub(crate) w_up: Tensor,
    pub(crate) b_up: Vec<f32>,
    pub(crate) w_down: Tensor,
    pub(crate) b_down: Vec<f32>,
}

pub struct Gpt2 {
    pub(crate) config: Gpt2Config,
    pub(crate) info: ModelInfo,
    pub(crate) embedding: Tensor,
    pub(crate) positions: Tensor,
    pub(crate) layers: Vec<Layer>,
    pub(crate) output_norm: Norm,
    /// The unembedding: the token embedding unless the file has its own.
    pub(crate) output: Tensor,
}

impl Gpt2 {
    pub fn load(config: Gpt2Config, weights: &Weights, naming: Naming) -> Result<Self> {
        let c = &config;
        let d = c.d_model;
        let name = |part, layer, suffix| naming.name(part, layer, suffix);
        // `[out, in]` whichever way the file stores it.
        let conv1d = matches!(naming, Naming::HuggingFaceGpt2 { .. });
        let matrix = |part, layer, out: usize, inp: usize| {
            let n = name(part, layer, "weight");
            if conv1d {
                weights.matrix_transposed(&n, out, inp)
            } else {
                weights.matrix(&n, out, inp)
            }
        };
        let norm = |part, layer| -> Result<Norm> {
            Ok(Norm {
                weight: weights.vector(&name(part, layer, "weight"), d)?,
                bias: weights.vector(&name(part, layer, "bias"), d)?,
            })
        };
        let layers = (0..c.n_layers)
            .map(|i| {
                let qkv = matrix(Part::AttnQkv, i, 3 * d, d)?;
                let b_qkv = weights.vector(&name(Part::AttnQkv, i, "bias"), 3 * d)?;
                Ok(Layer {
                    attn_norm: norm(Part::AttnNorm, i)?,
                    wq: qkv.narrow_rows(0, d)?,
                    wk: qkv.narrow_rows(d, d)?,
                    wv: qkv.narrow_rows(2 * d, d)?,
                    bq: b_qkv[..d].to_vec(),
                    bk: b_qkv[d..2 * d].to_vec(),
                    bv: b_qkv[2 * d..].to_vec(),
                    wo: matrix(Part::AttnOutput, i, d, d)?,
                    bo: weights.vector(&name(Part::AttnOutput, i, "bias"), d)?,
                    ffn_norm: norm(Part::FfnNorm, i)?,
                    w_up: matrix(Part::FfnUp, i, c.d_ff, d)?,
                    b_up: weights.vector(&name(Part::FfnUp, i, "bias"), c.d_ff)?,
                    w_down: matrix(Part::FfnDown, i, d, c.d_ff)?,
                    b_down: weights.vector(&name(Part::FfnDown, i, "bias"), d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let embedding =
            weights.tensor(&name(Part::TokenEmbedding, 0, "weight"), &[c.vocab_size, d])?;
        let positions = weights.tensor(
            &name(Part::PositionEmbedding, 0, "weight"),
            &[c.context_length, d],
        )?;
        // `lm_head` (Hugging Face) is `nn.Linear`, `[out, in]`, like GGUF's
        // `output`; most files leave it out and tie it to the embedding.
        let output_name = name(Part::Output, 0, "weight");
        let output = if weights.has(&output_name) {
            weights.matrix(&output_name, c.vocab_size, d)?
        } else {
            embedding.clone()
        };
        let info = ModelInfo {
            architecture: "gpt2".into(),
            vocab_size: c.vocab_size,
            context_length: c.context_length,
            n_layers: c.n_layers,
            d_model: d,
            n_heads: c.n_heads,
            n_kv_heads: c.n_heads,
            head_dim: c.head_dim,
            d_ff: c.d_ff,
        };
        Ok(Gpt2 {
            output_norm: norm(Part::OutputNorm, 0)?,
            embedding,
            positions,
            output,
            layers,
            info,
            config,
        })
    }

    pub fn config(&self) -> &Gpt2Config {
        &self.config
    }
}

impl Model for Gpt2 {
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
        State::new(c.n_layers, capacity, c.n_heads, c.head_dim, kv_dtype)
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
        let norm = &self.output_norm;
        ops::norm::layernorm(
            resid,
            &norm.weight,
            Some(&norm.bias),
            c.norm_eps,
            &mut normed,
        )?;
        let rows = resid.len() / c.d_model;
        let mut out = vec![0f32; rows * c.vocab_size];
        linear(&normed, rows, &self.output, None, &mut out)?;
        Ok(out)
    }
}

impl Gpt2 {
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
        let (d, heads, hd) = (c.d_model, c.n_heads, c.head_dim);
        let eps = c.norm_eps;
        // Position ids index the position table like token ids the token
        // table (the state's capacity keeps them in range).
        let positions: Vec<u32> = (pos0..pos0 + t).map(|p| p as u32).collect();

        // The residual stream, and scratch buffers reused by every layer.
        let mut x = vec![0f32; t * d];
        let mut h = vec![0f32; t * d];
        let mut q = vec![0f32; t * d];
        let mut k = vec![0f32; t * d];
        let mut v = vec![0f32; t * d];
        let mut attn = vec![0f32; t * d];
        let mut up = vec![0f32; t * c.d_ff];

        ops::embedding::embedding(&self.embedding, tokens, &mut x)?;
        ops::embedding::embedding(&self.positions, &positions, &mut h)?;
        ops::elementwise::add_inplace(&mut x, &h)?;
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
            let n = &layer.attn_norm;
            ops::norm::layernorm(&x, &n.weight, Some(&n.bias), eps, &mut h)?;
            linear(&h, t, &layer.wq, Some(&layer.bq), &mut q)?;
            linear(&h, t, &layer.wk, Some(&layer.bk), &mut k)?;
            linear(&h, t, &layer.wv, Some(&layer.bv), &mut v)?;
            offer(hooks, at(AttnQ), &mut q, || vec![t, heads, hd], pos0)?;
            offer(hooks, at(AttnK), &mut k, || vec![t, heads, hd], pos0)?;
            offer(hooks, at(AttnV), &mut v, || vec![t, heads, hd], pos0)?;
            let mut probs = hooks
                .wants(at(AttnPattern))
                .then(|| vec![0f32; t * heads * (pos0 + t)]);
            ops::attention::attention(&q, &k, &v, cache, pos0, &mut attn, probs.as_deref_mut())?;
            if let Some(probs) = &probs {
                offer_pattern(hooks, i, probs, heads, pos0, cache, &mut attn)?;
            }
            offer(hooks, at(AttnZ), &mut attn, || vec![t, heads, hd], pos0)?;
            linear(&attn, t, &layer.wo, Some(&layer.bo), &mut h)?;
            offer(hooks, at(AttnOut), &mut h, || vec![t, d], pos0)?;
            ops::elementwise::add_inplace(&mut x, &h)?;
            offer(hooks, at(ResidMid), &mut x, || vec![t, d], pos0)?;

            // Feed-forward block.
            let n = &layer.ffn_norm;
            ops::norm::layernorm(&x, &n.weight, Some(&n.bias), eps, &mut h)?;
            linear(&h, t, &layer.w_up, Some(&layer.b_up), &mut up)?;
            ops::activation::gelu(&mut up);
            offer(hooks, at(MlpHidden), &mut up, || vec![t, c.d_ff], pos0)?;
            linear(&up, t, &layer.w_down, Some(&layer.b_down), &mut h)?;
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
        let norm = &self.output_norm;
        ops::norm::layernorm(
            &x[rows.start * d..rows.end * d],
            &norm.weight,
            Some(&norm.bias),
            eps,
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
