//! The GRU + RWKV mixture-of-experts RNN, built on the tape.
//!
//! ```text
//! ids → embed → proj → N × layer → RMSNorm → head → logits
//!
//! layer(x):
//!   x̂ = RMSNorm(x)
//!   a = out(RMSNorm(WKV(σ(R·shift_r(x̂)), K·shift_k(x̂), V·shift_v(x̂), D·shift_w(x̂) + d₀)))   (RWKV on)
//!   h = GRU(x̂ + a)                     every position's hidden state
//!   x = x + h
//!   x = x + MoE(RMSNorm(x))             (unless fast)
//!
//! MoE(m) = expert₀(m) + Σ_{e ∈ top-k(router(m))} p_e · expert_e(m),   expert(m) = down(silu(gate·m) ⊙ up·m)
//! ```
//!
//! Expert 0 sees every token; each token also goes to the `top_k` of the
//! other experts its router ranks highest, weighted by the router's
//! probability. A load-balancing loss (Switch Transformer's: routed
//! experts × Σ_e share of tokens_e · mean probability_e, 1 when balanced)
//! keeps the router from sending everything to one expert.
//!
//! The recurrent state of each layer (token-shift input, WKV state, GRU
//! state) is carried in an [`RnnState`]: a window starts from it and
//! leaves the next one in it. Training reads each batch row's stretch of
//! the data window after window, the state carried from one to the next
//! while back-propagation stops at the window's edge (truncated BPTT);
//! generation feeds tokens one at a time through the same state.

use super::graph::{Graph, GruWeights, Var};
use super::kernels::activation::Activation;
use super::kernels::wkv::WkvDims;
use crate::error::{Error, Result};
use crate::generate::Rng;
use serde::{Deserialize, Serialize};

/// The shape of an RNN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RnnConfig {
    pub vocab: usize,
    /// Token embedding size (projected to `hidden`).
    pub embed: usize,
    pub hidden: usize,
    pub layers: usize,
    /// WKV heads (the hidden size splits into them).
    pub heads: usize,
    /// Experts per layer, counting the always-on expert 0.
    pub experts: usize,
    /// Routed experts each token also goes to (besides expert 0).
    pub top_k: usize,
    /// Inner size of each expert's SwiGLU.
    pub expert_hidden: usize,
    /// No MoE MLP: a lighter, faster model.
    pub fast: bool,
    /// RWKV linear attention in each GRU cell.
    pub rwkv: bool,
    /// Weight of the load-balancing loss.
    pub balance: f32,
}

impl Default for RnnConfig {
    fn default() -> Self {
        RnnConfig {
            vocab: 257,
            embed: 64,
            hidden: 128,
            layers: 2,
            heads: 4,
            experts: 4,
            top_k: 1,
            expert_hidden: 256,
            fast: false,
            rwkv: true,
            balance: 0.01,
        }
    }
}

impl RnnConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Invalid(format!("RNN config: {what}")));
        let sizes = [self.vocab, self.embed, self.hidden, self.layers];
        if sizes.contains(&0) || (!self.fast && (self.experts == 0 || self.expert_hidden == 0)) {
            return bad(format!("every size must be positive: {self:?}"));
        }
        if self.rwkv && (self.heads == 0 || !self.hidden.is_multiple_of(self.heads)) {
            return bad(format!(
                "hidden size {} does not split into {} heads",
                self.hidden, self.heads
            ));
        }
        if !self.fast && self.top_k >= self.experts.max(1) && self.top_k > 0 {
            return bad(format!(
                "top_k {} must be below the {} experts (expert 0 is always on)",
                self.top_k, self.experts
            ));
        }
        if !(self.balance >= 0.0 && self.balance.is_finite()) {
            return bad(format!("balance weight {} must be ≥ 0", self.balance));
        }
        Ok(())
    }

    fn routed(&self) -> usize {
        self.experts.saturating_sub(1)
    }

    fn head_dim(&self) -> usize {
        self.hidden / self.heads.max(1)
    }
}

/// One layer's recurrent state for `batch` sequences.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerState {
    /// The last normalised input (token shift's predecessor), `[B, H]`.
    pub shift: Vec<f32>,
    /// The WKV state, `[B, heads, D, D]` (empty with RWKV off).
    pub wkv: Vec<f32>,
    /// The GRU's hidden state, `[B, H]`.
    pub hidden: Vec<f32>,
}

/// Every layer's recurrent state.
#[derive(Debug, Clone, PartialEq)]
pub struct RnnState {
    pub batch: usize,
    pub layers: Vec<LayerState>,
}

impl RnnState {
    /// The state at the start of a stream: zeros.
    pub fn zeros(c: &RnnConfig, batch: usize) -> RnnState {
        let h = c.hidden;
        let wkv = if c.rwkv { batch * h * c.head_dim() } else { 0 };
        let layer = LayerState {
            shift: vec![0.0; batch * h],
            wkv: vec![0.0; wkv],
            hidden: vec![0.0; batch * h],
        };
        RnnState {
            batch,
            layers: vec![layer; c.layers],
        }
    }
}

impl RnnState {
    /// Zeros the state of the sequences in `rows` (restarted streams).
    pub fn reset_rows(&mut self, rows: impl IntoIterator<Item = usize>) {
        let batch = self.batch;
        for b in rows {
            for layer in &mut self.layers {
                for part in [&mut layer.shift, &mut layer.wkv, &mut layer.hidden] {
                    let per = part.len() / batch.max(1);
                    part[b * per..(b + 1) * per]
                        .iter_mut()
                        .for_each(|v| *v = 0.0);
                }
            }
        }
    }
}

struct Rwkv {
    mix: [Var; 4],
    receptance: Var,
    key: Var,
    value: Var,
    decay: (Var, Var),
    bonus: Var,
    norm: Var,
    output: Var,
}

/// A SwiGLU expert: `down(silu(gate·x) ⊙ up·x)`.
struct Expert {
    gate: Var,
    up: Var,
    down: Var,
}

struct Moe {
    norm: Var,
    router: Option<Var>,
    experts: Vec<Expert>,
}

struct Layer {
    norm_in: Var,
    rwkv: Option<Rwkv>,
    input: (Var, Var),
    hidden: GruWeights,
    moe: Option<Moe>,
}

pub struct Rnn {
    pub config: RnnConfig,
    embed: Var,
    project: Var,
    layers: Vec<Layer>,
    norm_out: Var,
    head: Var,
}

const EPS: f64 = 1e-5;

/// What a forward pass returns.
pub struct RnnOutput {
    pub logits: Var,
    /// The mean load-balancing loss over layers (None in fast mode or
    /// with a single expert).
    pub balance: Option<Var>,
}

impl Rnn {
    /// A freshly initialised RNN in `g`: matrices from N(0, 0.02) (output
    /// projections scaled by 1/√(2·layers)), norms 1, token-shift mixes ½,
    /// decays spread so channels forget at rates from fast to slow.
    pub fn new(config: RnnConfig, g: &mut Graph, rng: &mut Rng) -> Result<Rnn> {
        config.validate()?;
        let c = config;
        let h = c.hidden;
        let mut normal = |name: &str, shape: &[usize], std: f64, g: &mut Graph| {
            let n = shape.iter().product();
            let values = (0..n).map(|_| (rng.normal() * std) as f32).collect();
            g.param(name, shape, values)
        };
        let filled = |g: &mut Graph, name: &str, n: usize, v: f32| g.param(name, &[n], vec![v; n]);
        let resid_std = 0.02 / (2.0 * c.layers as f64).sqrt();
        let embed = normal("embed.weight", &[c.vocab, c.embed], 0.02, g)?;
        let project = normal("project.weight", &[h, c.embed], 0.02, g)?;
        let mut layers = Vec::new();
        for l in 0..c.layers {
            let p = |part: &str| format!("layers.{l}.{part}");
            let rwkv = if c.rwkv {
                // Decay logits from −6 (w ≈ 0.998, remembers) to −0.5
                // (w ≈ 0.55, forgets within a few tokens).
                let decay0 = (0..h)
                    .map(|i| -6.0 + 5.5 * i as f32 / (h.max(2) - 1) as f32)
                    .collect();
                Some(Rwkv {
                    mix: [
                        filled(g, &p("rwkv.mix_r"), h, 0.5)?,
                        filled(g, &p("rwkv.mix_k"), h, 0.5)?,
                        filled(g, &p("rwkv.mix_v"), h, 0.5)?,
                        filled(g, &p("rwkv.mix_w"), h, 0.5)?,
                    ],
                    receptance: normal(&p("rwkv.receptance.weight"), &[h, h], 0.02, g)?,
                    key: normal(&p("rwkv.key.weight"), &[h, h], 0.02, g)?,
                    value: normal(&p("rwkv.value.weight"), &[h, h], 0.02, g)?,
                    decay: (
                        normal(&p("rwkv.decay.weight"), &[h, h], 0.002, g)?,
                        g.param(&p("rwkv.decay.bias"), &[h], decay0)?,
                    ),
                    bonus: filled(g, &p("rwkv.bonus"), h, 1.0)?,
                    norm: filled(g, &p("rwkv.norm.weight"), h, 1.0)?,
                    output: normal(&p("rwkv.output.weight"), &[h, h], resid_std, g)?,
                })
            } else {
                None
            };
            let input = (
                normal(&p("gru.input.weight"), &[3 * h, h], 0.02, g)?,
                filled(g, &p("gru.input.bias"), 3 * h, 0.0)?,
            );
            let hidden = GruWeights {
                u: normal(&p("gru.hidden.weight"), &[3 * h, h], 0.02, g)?,
                bu: filled(g, &p("gru.hidden.bias"), 3 * h, 0.0)?,
                norm: filled(g, &p("gru.norm.weight"), h, 1.0)?,
                eps: EPS,
            };
            let moe = if c.fast {
                None
            } else {
                let f = c.expert_hidden;
                let router = if c.routed() > 0 {
                    Some(normal(&p("moe.router.weight"), &[c.routed(), h], 0.02, g)?)
                } else {
                    None
                };
                let mut experts = Vec::new();
                for e in 0..c.experts {
                    let q = |part: &str| p(&format!("moe.experts.{e}.{part}"));
                    experts.push(Expert {
                        gate: normal(&q("gate.weight"), &[f, h], 0.02, g)?,
                        up: normal(&q("up.weight"), &[f, h], 0.02, g)?,
                        down: normal(&q("down.weight"), &[h, f], resid_std, g)?,
                    });
                }
                Some(Moe {
                    norm: filled(g, &p("moe.norm.weight"), h, 1.0)?,
                    router,
                    experts,
                })
            };
            layers.push(Layer {
                norm_in: filled(g, &p("norm.weight"), h, 1.0)?,
                rwkv,
                input,
                hidden,
                moe,
            });
        }
        Ok(Rnn {
            config,
            embed,
            project,
            layers,
            norm_out: filled(g, "norm_out.weight", h, 1.0)?,
            head: normal("head.weight", &[c.vocab, h], 0.02, g)?,
        })
    }

    /// Logits `[batch · seq, vocab]` for `ids` (`batch` rows of `seq`),
    /// starting from `state` and leaving the state after the window in it.
    pub fn forward(&self, g: &mut Graph, ids: &[u32], state: &mut RnnState) -> Result<RnnOutput> {
        let batch = state.batch;
        if batch == 0 || ids.is_empty() || !ids.len().is_multiple_of(batch) {
            return Err(Error::Invalid(format!(
                "RNN forward: {} ids do not make {batch} equal rows",
                ids.len()
            )));
        }
        if state.layers.len() != self.layers.len() {
            return Err(Error::Invalid(format!(
                "RNN forward: a state of {} layers for a model of {}",
                state.layers.len(),
                self.layers.len()
            )));
        }
        let e = g.embedding(self.embed, ids)?;
        let mut x = g.linear(e, self.project, None)?;
        let mut balance = Vec::new();
        for (layer, s) in self.layers.iter().zip(&mut state.layers) {
            let xn = g.rmsnorm(x, layer.norm_in, EPS)?;
            let mut input = xn;
            if let Some(rwkv) = &layer.rwkv {
                let a = self.rwkv(g, rwkv, xn, s, batch)?;
                input = g.add(xn, a)?;
            }
            let gx = g.linear(input, layer.input.0, Some(layer.input.1))?;
            let (h, end) = g.gru(gx, layer.hidden, &s.hidden, batch)?;
            s.hidden = end;
            x = g.add(x, h)?;
            if let Some(moe) = &layer.moe {
                let (m, b) = self.moe(g, moe, x)?;
                x = g.add(x, m)?;
                balance.extend(b);
            }
        }
        let x = g.rmsnorm(x, self.norm_out, EPS)?;
        let logits = g.linear(x, self.head, None)?;
        let balance = match balance.len() {
            0 => None,
            n => {
                let mut total = balance[0];
                for &b in &balance[1..] {
                    total = g.add(total, b)?;
                }
                Some(g.scale(total, 1.0 / n as f32)?)
            }
        };
        Ok(RnnOutput { logits, balance })
    }

    /// The RWKV attention of the normalised input `xn`.
    fn rwkv(
        &self,
        g: &mut Graph,
        r: &Rwkv,
        xn: Var,
        s: &mut LayerState,
        batch: usize,
    ) -> Result<Var> {
        let h = self.config.hidden;
        let [mr, mk, mv, mw] = r.mix;
        let shifted = |g: &mut Graph, mix| g.token_shift(xn, &s.shift, mix, batch);
        let (xr, xk, xv, xw) = (
            shifted(g, mr)?,
            shifted(g, mk)?,
            shifted(g, mv)?,
            shifted(g, mw)?,
        );
        let seq = g.shape(xn)[0] / batch;
        s.shift = (0..batch)
            .flat_map(|b| {
                let last = (b + 1) * seq - 1;
                g.value(xn)[last * h..(last + 1) * h].to_vec()
            })
            .collect();
        let receptance = g.linear(xr, r.receptance, None)?;
        let receptance = g.activation(receptance, Activation::Sigmoid)?;
        let key = g.linear(xk, r.key, None)?;
        let value = g.linear(xv, r.value, None)?;
        let decay = g.linear(xw, r.decay.0, Some(r.decay.1))?;
        let dims = WkvDims {
            batch,
            seq,
            heads: self.config.heads,
            width: h,
        };
        let (y, end) = g.wkv([receptance, key, value, decay], r.bonus, &s.wkv, dims)?;
        s.wkv = end;
        let y = g.rmsnorm(y, r.norm, EPS)?;
        g.linear(y, r.output, None)
    }

    /// The mixture of experts on `x`, and its load-balancing loss.
    fn moe(&self, g: &mut Graph, moe: &Moe, x: Var) -> Result<(Var, Option<Var>)> {
        let m = g.rmsnorm(x, moe.norm, EPS)?;
        let mut out = expert(g, &moe.experts[0], m)?;
        let Some(router) = moe.router else {
            return Ok((out, None));
        };
        let routed = self.config.routed();
        let logits = g.linear(m, router, None)?;
        let probs = g.softmax(logits)?;
        let tokens = g.shape(m)[0];
        let chosen = top_k_rows(g.value(probs), routed, self.config.top_k);
        for (e, rows) in chosen.iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let xe = g.gather_rows(m, rows)?;
            let ye = expert(g, &moe.experts[e + 1], xe)?;
            let back = g.scatter_rows(ye, rows, probs, e)?;
            out = g.add(out, back)?;
        }
        // routed · Σ_e share_e · mean_n p[n, e] = Σ_n Σ_e p[n, e] · routed · share_e / tokens.
        let picks = (tokens * self.config.top_k).max(1) as f32;
        let weights: Vec<f32> = (0..tokens)
            .flat_map(|_| {
                chosen
                    .iter()
                    .map(|rows| routed as f32 * rows.len() as f32 / picks / tokens as f32)
            })
            .collect();
        let weights = g.input(weights, &[tokens, routed])?;
        let weighted = g.mul(probs, weights)?;
        Ok((out, Some(g.sum(weighted)?)))
    }

    /// Next-token cross-entropy (plus the weighted load-balancing loss) of
    /// windows that start from a zero state.
    pub fn loss(&self, g: &mut Graph, ids: &[u32], targets: &[u32], batch: usize) -> Result<Var> {
        let mut state = RnnState::zeros(&self.config, batch);
        self.loss_from(g, ids, targets, &mut state)
    }

    /// [`Rnn::loss`] of windows that continue from `state` (truncated
    /// back-propagation through time), leaving the state after them in it.
    pub fn loss_from(
        &self,
        g: &mut Graph,
        ids: &[u32],
        targets: &[u32],
        state: &mut RnnState,
    ) -> Result<Var> {
        let out = self.forward(g, ids, state)?;
        let ce = g.cross_entropy(out.logits, targets)?;
        match out.balance {
            Some(b) if self.config.balance > 0.0 => {
                let b = g.scale(b, self.config.balance)?;
                g.add(ce, b)
            }
            _ => Ok(ce),
        }
    }
}

fn expert(g: &mut Graph, e: &Expert, x: Var) -> Result<Var> {
    let gate = g.linear(x, e.gate, None)?;
    let gate = g.activation(gate, Activation::Silu)?;
    let up = g.linear(x, e.up, None)?;
    let h = g.mul(gate, up)?;
    g.linear(h, e.down, None)
}

/// For each routed expert, the rows (tokens) whose `k` highest
/// probabilities include it; ties go to the lower expert.
fn top_k_rows(probs: &[f32], experts: usize, k: usize) -> Vec<Vec<usize>> {
    let mut rows = vec![Vec::new(); experts];
    for (n, p) in probs.chunks_exact(experts).enumerate() {
        let mut order: Vec<usize> = (0..experts).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        for &e in &order[..k.min(experts)] {
            rows[e].push(n);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_picks_the_largest_and_breaks_ties_low() {
        let probs = [0.1, 0.6, 0.3, /* row 1 */ 0.4, 0.2, 0.4];
        assert_eq!(top_k_rows(&probs, 3, 1), vec![vec![1], vec![0], vec![]]);
        assert_eq!(top_k_rows(&probs, 3, 2), vec![vec![1], vec![0], vec![0, 1]]);
    }
}
