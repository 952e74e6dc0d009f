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
use super::exec::{Architecture, Exec, Proj, Slot, Slot::*, Store};
use super::names::{Naming, Part};
use super::site::{Point, Point::*, Site};
use super::weights::Weights;
use super::ModelInfo;
use crate::error::Result;
use crate::ops::attention::Scope;

/// A LayerNorm's scale and bias.
pub struct Norm<S: Store> {
    weight: S::Vector,
    bias: S::Vector,
}

/// A matrix and the bias added to its products.
pub struct Linear<S: Store> {
    w: S::Matrix,
    b: S::Vector,
}

impl<S: Store> Linear<S> {
    fn to(&self, out: Slot) -> Proj<'_, S> {
        Proj {
            w: &self.w,
            bias: Some(&self.b),
            out,
        }
    }
}

pub struct Layer<S: Store> {
    attn_norm: Norm<S>,
    // Rows of the fused `c_attn` / `attn_qkv` matrix (q, then k, then v),
    // so that each projection is its own product, as in Llama.
    q: Linear<S>,
    k: Linear<S>,
    v: Linear<S>,
    o: Linear<S>,
    ffn_norm: Norm<S>,
    up: Linear<S>,
    down: Linear<S>,
}

pub struct Gpt2<S: Store> {
    config: Gpt2Config,
    info: ModelInfo,
    embedding: S::Matrix,
    positions: S::Matrix,
    layers: Vec<Layer<S>>,
    output_norm: Norm<S>,
    /// The unembedding: the token embedding unless the file has its own.
    output: S::Matrix,
}

impl<S: Store> Gpt2<S> {
    /// Fetches every weight from `weights` (checking its shape) and hands
    /// it to `store`.
    pub fn load(config: Gpt2Config, weights: &Weights, naming: Naming, store: &S) -> Result<Self> {
        let c = &config;
        let d = c.d_model;
        let name = |part, layer, suffix| naming.name(part, layer, suffix);
        // `[out, in]` whichever way the file stores it.
        let conv1d = matches!(naming, Naming::HuggingFaceGpt2 { .. });
        let host_matrix = |part, layer, out: usize, inp: usize| {
            let n = name(part, layer, "weight");
            if conv1d {
                weights.matrix_transposed(&n, out, inp)
            } else {
                weights.matrix(&n, out, inp)
            }
        };
        let bias = |part, layer, len| weights.vector(&name(part, layer, "bias"), len);
        let linear = |part, layer, out, inp| -> Result<Linear<S>> {
            let n = name(part, layer, "");
            Ok(Linear {
                w: store.matrix(&n, host_matrix(part, layer, out, inp)?)?,
                b: store.vector(&n, bias(part, layer, out)?)?,
            })
        };
        let norm = |part, layer| -> Result<Norm<S>> {
            let n = name(part, layer, "");
            Ok(Norm {
                weight: store.vector(&n, weights.vector(&name(part, layer, "weight"), d)?)?,
                bias: store.vector(&n, bias(part, layer, d)?)?,
            })
        };
        let layers = (0..c.n_layers)
            .map(|i| {
                let qkv = host_matrix(Part::AttnQkv, i, 3 * d, d)?;
                let b_qkv = bias(Part::AttnQkv, i, 3 * d)?;
                let n = name(Part::AttnQkv, i, "");
                let third = |j: usize| -> Result<Linear<S>> {
                    Ok(Linear {
                        w: store.matrix(&n, qkv.narrow_rows(j * d, d)?)?,
                        b: store.vector(&n, b_qkv[j * d..(j + 1) * d].to_vec())?,
                    })
                };
                Ok(Layer {
                    attn_norm: norm(Part::AttnNorm, i)?,
                    q: third(0)?,
                    k: third(1)?,
                    v: third(2)?,
                    o: linear(Part::AttnOutput, i, d, d)?,
                    ffn_norm: norm(Part::FfnNorm, i)?,
                    up: linear(Part::FfnUp, i, c.d_ff, d)?,
                    down: linear(Part::FfnDown, i, d, c.d_ff)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let table = |part, rows| {
            let n = name(part, 0, "weight");
            store.matrix(&n, weights.tensor(&n, &[rows, d])?)
        };
        let embedding = table(Part::TokenEmbedding, c.vocab_size)?;
        let positions = table(Part::PositionEmbedding, c.context_length)?;
        // `lm_head` (Hugging Face) is `nn.Linear`, `[out, in]`, like GGUF's
        // `output`; most files leave it out and tie it to the embedding.
        let output_name = name(Part::Output, 0, "weight");
        let output = if weights.has(&output_name) {
            store.matrix(&output_name, weights.matrix(&output_name, c.vocab_size, d)?)?
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
            qk_norm: false,
            windows: Vec::new(),
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

impl<S: Store> Architecture<S> for Gpt2<S> {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn body(&self, e: &mut impl Exec<S>) -> Result<()> {
        let eps = self.config.norm_eps;
        e.embed(&self.embedding, X)?;
        e.embed_positions(&self.positions, H)?;
        e.add(X, H)?;
        e.offer(Site::global(Embed), X)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let at = |point| Site::block(i, point);
            e.offer(at(ResidPre), X)?;

            // Attention block.
            let n = &layer.attn_norm;
            e.layernorm(X, &n.weight, &n.bias, eps, H)?;
            e.linears(H, &[layer.q.to(Q), layer.k.to(K), layer.v.to(V)])?;
            e.offer(at(AttnQ), Q)?;
            e.offer(at(AttnK), K)?;
            e.offer(at(AttnV), V)?;
            e.attention(i, Scope::causal(self.info.head_dim), Q, K, V, Z)?;
            e.offer(at(AttnZ), Z)?;
            e.linear(Z, &layer.o.w, Some(&layer.o.b), H)?;
            e.offer(at(AttnOut), H)?;
            e.add(X, H)?;
            e.offer(at(ResidMid), X)?;

            // Feed-forward block.
            let n = &layer.ffn_norm;
            e.layernorm(X, &n.weight, &n.bias, eps, H)?;
            e.linear(H, &layer.up.w, Some(&layer.up.b), Gate)?;
            e.gelu(Gate)?;
            e.offer(at(MlpHidden), Gate)?;
            e.linear(Gate, &layer.down.w, Some(&layer.down.b), H)?;
            e.offer(at(MlpOut), H)?;
            e.add(X, H)?;
            e.offer(at(ResidPost), X)?;
        }
        Ok(())
    }

    fn head(&self, e: &mut impl Exec<S>) -> Result<()> {
        let n = &self.output_norm;
        e.layernorm(X, &n.weight, &n.bias, self.config.norm_eps, Normed)?;
        e.offer(Site::global(FinalNorm), Normed)?;
        e.linear(Normed, &self.output, None, Slot::Logits)?;
        e.offer(Site::global(Point::Logits), Slot::Logits)
    }
}
