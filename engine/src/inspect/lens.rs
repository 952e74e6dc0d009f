//! Reading a model on one input: the activation cache, attention maps and
//! the logit lens.

use super::cache::{ActivationCache, Recorder};
use crate::error::{Error, Result};
use crate::generate::{Candidate, Distribution};
use crate::model::site::{check_head, check_layer, Point, Site};
use crate::model::{Logits, Model};
use crate::tensor::Tensor;

/// One forward pass over `tokens` recording the hook points matching
/// `patterns`: the logits `[T, vocab]` and the cache.
pub fn run_with_cache(
    model: &dyn Model,
    tokens: &[u32],
    patterns: &[impl AsRef<str>],
) -> Result<(Tensor, ActivationCache)> {
    if tokens.is_empty() {
        return Err(Error::Invalid("run_with_cache: no tokens to run".into()));
    }
    let mut recorder = Recorder::new(patterns, model.info())?;
    let mut state = model.new_state(tokens.len())?;
    let logits = model.forward_hooked(&mut state, tokens, Logits::All, &mut recorder)?;
    let vocab = model.info().vocab_size;
    Ok((
        Tensor::from_vec(logits, [tokens.len(), vocab])?,
        recorder.finish()?,
    ))
}

/// Every head's attention pattern in `layer`: `[heads, T, T]`.
pub fn attention_pattern(model: &dyn Model, tokens: &[u32], layer: usize) -> Result<Tensor> {
    check_layer(layer, model.info())?;
    let name = Site::block(layer, Point::AttnPattern).name();
    let (_, cache) = run_with_cache(model, tokens, &[name.as_str()])?;
    Ok(cache.get(&name)?.clone())
}

/// One head's attention pattern `[T, T]` (row: query, column: key).
pub fn attention_head(
    model: &dyn Model,
    tokens: &[u32],
    layer: usize,
    head: usize,
) -> Result<Tensor> {
    check_head(head, model.info().n_heads, &format!("layer {layer}"))?;
    let all = attention_pattern(model, tokens, layer)?;
    let t = tokens.len();
    let data = all.to_f32_vec()?;
    Tensor::from_vec(data[head * t * t..(head + 1) * t * t].to_vec(), [t, t])
}

/// How much every layer and head attends from query position `query` to
/// key position `key`: `[layers, heads]`.
pub fn attention_to(model: &dyn Model, tokens: &[u32], key: usize, query: usize) -> Result<Tensor> {
    let t = tokens.len();
    if key >= t || query >= t || key > query {
        return Err(Error::Invalid(format!(
            "attention_to: key {key} and query {query} must be positions of the {t} tokens with key <= query"
        )));
    }
    let (_, cache) = run_with_cache(model, tokens, &["blocks.*.attn.pattern"])?;
    let info = model.info();
    let (layers, heads) = (info.n_layers, info.n_heads);
    let mut out = Vec::with_capacity(layers * heads);
    for layer in 0..layers {
        let p = cache
            .site(Site::block(layer, Point::AttnPattern))
            .ok_or_else(|| Error::Invalid("attention_to: a pattern was not recorded".into()))?
            .to_f32_vec()?;
        for h in 0..heads {
            out.push(p[(h * t + query) * t + key]);
        }
    }
    Tensor::from_vec(out, [layers, heads])
}

/// Each layer's residual stream read through the final norm and the
/// unembedding: what the model would predict if it stopped there.
#[derive(Debug, Clone)]
pub struct LogitLens {
    pub tokens: Vec<u32>,
    pub layers: usize,
    /// `top[layer][position]`: the most likely next tokens.
    pub top: Vec<Vec<Vec<Candidate>>>,
    /// The token followed across layers, if one was chosen.
    pub target: Option<u32>,
    /// `[layers, positions]`: the probability of `target`, or of each
    /// position's top token when there is no target.
    pub probs: Tensor,
}

impl LogitLens {
    /// The lens at the last `n` positions only (all of them if there are
    /// fewer): a long prompt's grid cut to where the answer forms.
    pub fn last(&self, n: usize) -> Result<LogitLens> {
        let t = self.tokens.len();
        let from = t.saturating_sub(n);
        let probs = self.probs.to_f32_vec()?;
        let kept: Vec<f32> = (0..self.layers)
            .flat_map(|layer| probs[layer * t + from..(layer + 1) * t].iter().copied())
            .collect();
        Ok(LogitLens {
            tokens: self.tokens[from..].to_vec(),
            layers: self.layers,
            top: self.top.iter().map(|row| row[from..].to_vec()).collect(),
            target: self.target,
            probs: Tensor::from_vec(kept, [self.layers, t - from])?,
        })
    }
}

/// The logit lens at every block's output (`blocks.L.resid_post`), keeping
/// the `k` most likely tokens per layer and position. Row `layers - 1` is
/// the model's own prediction.
pub fn logit_lens(
    model: &dyn Model,
    tokens: &[u32],
    k: usize,
    target: Option<u32>,
) -> Result<LogitLens> {
    let info = model.info();
    if let Some(id) = target {
        if id as usize >= info.vocab_size {
            return Err(Error::Invalid(format!(
                "logit lens: token {id} is outside the vocabulary of {}",
                info.vocab_size
            )));
        }
    }
    let (_, cache) = run_with_cache(model, tokens, &["blocks.*.resid_post"])?;
    let (t, vocab) = (tokens.len(), info.vocab_size);
    let mut top = Vec::with_capacity(info.n_layers);
    let mut probs = Vec::with_capacity(info.n_layers * t);
    for layer in 0..info.n_layers {
        let resid = cache
            .site(Site::block(layer, Point::ResidPost))
            .ok_or_else(|| Error::Invalid("logit lens: a layer was not recorded".into()))?
            .to_f32_vec()?;
        let logits = model.unembed(&resid)?;
        let mut row = Vec::with_capacity(t);
        for pos in 0..t {
            let l = &logits[pos * vocab..(pos + 1) * vocab];
            let d = Distribution::of(l);
            let best = d.top(l, k.max(1));
            probs.push(match target {
                Some(id) => d.prob(l, id),
                None => best[0].prob,
            });
            row.push(best);
        }
        top.push(row);
    }
    Ok(LogitLens {
        tokens: tokens.to_vec(),
        layers: info.n_layers,
        top,
        target,
        probs: Tensor::from_vec(probs, [info.n_layers, t])?,
    })
}
