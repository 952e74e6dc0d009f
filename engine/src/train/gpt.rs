//! A GPT (the GPT-2 architecture) built on the tape, trainable from
//! scratch. Its parameters carry GPT-2's Hugging Face names, so the
//! trained model is saved as a folder that the inference path, and
//! `transformers`, load like any GPT-2.
//!
//! ```text
//! ids → wte + wpe → N × [ x += proj(attention(qkv(ln1(x)))) ; x += fc2(gelu(fc(ln2(x)))) ] → ln_f → ·wteᵀ → logits
//! ```

use super::graph::{Graph, Var};
use super::kernels::activation::Activation;
use super::kernels::attention::Dims;
use crate::error::{Error, Result};
use crate::generate::Rng;
use serde::{Deserialize, Serialize};

/// The shape of a GPT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GptConfig {
    pub vocab: usize,
    /// Longest sequence (rows of the position table).
    pub context: usize,
    pub layers: usize,
    pub width: usize,
    pub heads: usize,
}

impl GptConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Invalid(format!("GPT config: {what}")));
        if self.vocab == 0 || self.context == 0 || self.layers == 0 || self.width == 0 {
            return bad(format!("every size must be positive: {self:?}"));
        }
        if self.heads == 0 || !self.width.is_multiple_of(self.heads) {
            return bad(format!(
                "width {} does not split into {} heads",
                self.width, self.heads
            ));
        }
        Ok(())
    }

    /// The feed-forward width (4 × width, as GPT-2).
    pub fn ffn(&self) -> usize {
        4 * self.width
    }
}

/// One block's parameters.
struct Block {
    ln1: (Var, Var),
    qkv: (Var, Var),
    proj: (Var, Var),
    ln2: (Var, Var),
    fc: (Var, Var),
    fc2: (Var, Var),
}

pub struct Gpt {
    pub config: GptConfig,
    wte: Var,
    wpe: Var,
    blocks: Vec<Block>,
    ln_f: (Var, Var),
}

const LN_EPS: f64 = 1e-5;

impl Gpt {
    /// A freshly initialised GPT in `g`: weights drawn from N(0, 0.02),
    /// the residual projections scaled by 1/√(2·layers) as in GPT-2,
    /// biases 0, norms 1.
    pub fn new(config: GptConfig, g: &mut Graph, rng: &mut Rng) -> Result<Gpt> {
        config.validate()?;
        let c = config;
        let (w, f) = (c.width, c.ffn());
        let mut normal = |name: &str, shape: &[usize], std: f64, g: &mut Graph| {
            let n = shape.iter().product();
            let values = (0..n).map(|_| (rng.normal() * std) as f32).collect();
            g.param(name, shape, values)
        };
        let resid_std = 0.02 / (2.0 * c.layers as f64).sqrt();
        let wte = normal("transformer.wte.weight", &[c.vocab, w], 0.02, g)?;
        let wpe = normal("transformer.wpe.weight", &[c.context, w], 0.01, g)?;
        let mut blocks = Vec::new();
        for i in 0..c.layers {
            let p = |part: &str| format!("transformer.h.{i}.{part}");
            blocks.push(Block {
                ln1: norm(g, &p("ln_1"), w)?,
                qkv: (
                    normal(&p("attn.c_attn.weight"), &[3 * w, w], 0.02, g)?,
                    zeros(g, &p("attn.c_attn.bias"), 3 * w)?,
                ),
                proj: (
                    normal(&p("attn.c_proj.weight"), &[w, w], resid_std, g)?,
                    zeros(g, &p("attn.c_proj.bias"), w)?,
                ),
                ln2: norm(g, &p("ln_2"), w)?,
                fc: (
                    normal(&p("mlp.c_fc.weight"), &[f, w], 0.02, g)?,
                    zeros(g, &p("mlp.c_fc.bias"), f)?,
                ),
                fc2: (
                    normal(&p("mlp.c_proj.weight"), &[w, f], resid_std, g)?,
                    zeros(g, &p("mlp.c_proj.bias"), w)?,
                ),
            });
        }
        let ln_f = norm(g, "transformer.ln_f", w)?;
        Ok(Gpt {
            config,
            wte,
            wpe,
            blocks,
            ln_f,
        })
    }

    /// Logits `[batch · seq, vocab]` for `ids` (`batch` rows of `seq`).
    pub fn forward(&self, g: &mut Graph, ids: &[u32], batch: usize) -> Result<Var> {
        let c = &self.config;
        let seq = ids.len() / batch.max(1);
        if batch == 0 || seq == 0 || ids.len() != batch * seq {
            return Err(Error::Invalid(format!(
                "GPT forward: {} ids do not make {batch} equal rows",
                ids.len()
            )));
        }
        if seq > c.context {
            return Err(Error::Invalid(format!(
                "GPT forward: sequences of {seq} exceed the context of {}",
                c.context
            )));
        }
        let positions: Vec<u32> = (0..batch).flat_map(|_| 0..seq as u32).collect();
        let tokens = g.embedding(self.wte, ids)?;
        let pos = g.embedding(self.wpe, &positions)?;
        let mut x = g.add(tokens, pos)?;
        let dims = Dims::multi_head(batch, seq, c.heads, c.width);
        let w = c.width;
        for b in &self.blocks {
            let h = g.layernorm(x, b.ln1.0, b.ln1.1, LN_EPS)?;
            let qkv = g.linear(h, b.qkv.0, Some(b.qkv.1))?;
            let q = g.columns(qkv, 0..w)?;
            let k = g.columns(qkv, w..2 * w)?;
            let v = g.columns(qkv, 2 * w..3 * w)?;
            let a = g.attention(q, k, v, dims)?;
            let a = g.linear(a, b.proj.0, Some(b.proj.1))?;
            x = g.add(x, a)?;
            let h = g.layernorm(x, b.ln2.0, b.ln2.1, LN_EPS)?;
            let h = g.linear(h, b.fc.0, Some(b.fc.1))?;
            let h = g.activation(h, Activation::Gelu)?;
            let h = g.linear(h, b.fc2.0, Some(b.fc2.1))?;
            x = g.add(x, h)?;
        }
        let x = g.layernorm(x, self.ln_f.0, self.ln_f.1, LN_EPS)?;
        // The head is the token embedding (tied, as GPT-2).
        g.linear(x, self.wte, None)
    }

    /// Mean next-token cross-entropy of `ids` against `targets`.
    pub fn loss(&self, g: &mut Graph, ids: &[u32], targets: &[u32], batch: usize) -> Result<Var> {
        let logits = self.forward(g, ids, batch)?;
        g.cross_entropy(logits, targets)
    }
}

fn zeros(g: &mut Graph, name: &str, n: usize) -> Result<Var> {
    g.param(name, &[n], vec![0.0; n])
}

/// A LayerNorm's weight (ones) and bias (zeros).
fn norm(g: &mut Graph, name: &str, n: usize) -> Result<(Var, Var)> {
    Ok((
        g.param(&format!("{name}.weight"), &[n], vec![1.0; n])?,
        zeros(g, &format!("{name}.bias"), n)?,
    ))
}
