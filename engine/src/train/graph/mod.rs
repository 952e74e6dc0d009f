//! The autograd tape. A [`Graph`] owns the parameters of a model and, for
//! one step, the activations computed from them: every operation runs its
//! forward kernel at once and records what its backward kernel will need.
//! [`Graph::backward`] walks the record in reverse and adds each
//! parameter's gradient into [`Param::grad`]; [`Graph::clear`] then drops
//! the activations and keeps the parameters for the next step.
//!
//! Kernels run through the same dispatch point as inference
//! (`ops::launch`), so the profile times training too, forward and
//! backward each under their own names.

mod attention;
mod buffers;
mod frozen;
mod recurrent;

use super::kernels::activation::{self, Activation};
use super::kernels::grpo::{self, Objective, Stats};
use super::kernels::parallel::{self, Shared};
use super::kernels::{elementwise, embedding, linear, loss, norm, softmax};
use crate::error::{Error, Result};
use crate::ops::launch;
use crate::profile::Cost;
use attention::AttentionStep;
pub use attention::Rope;
use buffers::Buffers;
use frozen::FrozenStep;
pub use frozen::LowRank;
pub use recurrent::GruWeights;
use recurrent::RecurrentStep;

/// A trainable (or frozen) tensor.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub value: Vec<f32>,
    /// Summed over every backward since the last [`Graph::zero_grads`].
    pub grad: Vec<f32>,
    /// False for a frozen copy (GRPO's reference model): no gradient.
    pub trainable: bool,
}

/// A value in the graph: a parameter, or the result of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Param(usize),
    Node(usize),
}

struct Node {
    value: Vec<f32>,
    shape: Vec<usize>,
    step: Step,
    /// Whether any parameter upstream is trainable.
    needs_grad: bool,
}

/// What produced a node, and what its backward pass needs.
enum Step {
    Input,
    Add(Var, Var),
    Mul(Var, Var),
    Scale(Var, f32),
    Linear {
        x: Var,
        w: Var,
        b: Option<Var>,
    },
    Embedding {
        table: Var,
        ids: Vec<u32>,
    },
    LayerNorm {
        x: Var,
        w: Var,
        b: Var,
        mean: Vec<f32>,
        rstd: Vec<f32>,
    },
    RmsNorm {
        x: Var,
        w: Var,
        rstd: Vec<f32>,
    },
    Activation(Var, Activation),
    Softmax(Var),
    Attention(AttentionStep),
    Frozen(FrozenStep),
    CrossEntropy {
        logits: Var,
        targets: Vec<u32>,
        scored: usize,
    },
    LogProb {
        logits: Var,
        targets: Vec<u32>,
    },
    Grpo {
        logp: Var,
        data: GrpoTokens,
        objective: Objective,
    },
    Sum(Var),
    Recurrent(RecurrentStep),
}

/// Per-token inputs of the GRPO objective besides the policy's
/// log-probabilities (see `kernels::grpo`).
#[derive(Debug, Clone, Default)]
pub struct GrpoTokens {
    pub old: Vec<f32>,
    pub reference: Vec<f32>,
    pub advantage: Vec<f32>,
    pub sequence: Vec<Option<usize>>,
    pub lengths: Vec<usize>,
}

impl GrpoTokens {
    /// The inputs for `n` sequences laid out as `n` equal rows of
    /// `targets` (IGNORE where a position is not scored): each scored
    /// position's sequence, each sequence's scored length, and each
    /// sequence's advantage spread over its row.
    pub fn for_rows(
        old: Vec<f32>,
        reference: Vec<f32>,
        targets: &[u32],
        advantages: &[f64],
    ) -> GrpoTokens {
        let n = advantages.len();
        let rows = targets.len() / n.max(1);
        let sequence: Vec<Option<usize>> = targets
            .iter()
            .enumerate()
            .map(|(i, &t)| (t != loss::IGNORE).then_some(i / rows))
            .collect();
        let lengths = (0..n)
            .map(|s| sequence.iter().filter(|&&q| q == Some(s)).count())
            .collect();
        let advantage = (0..targets.len())
            .map(|i| advantages[i / rows] as f32)
            .collect();
        GrpoTokens {
            old,
            reference,
            advantage,
            sequence,
            lengths,
        }
    }

    fn view(&self) -> grpo::Tokens<'_, f32> {
        grpo::Tokens {
            old: &self.old,
            reference: &self.reference,
            advantage: &self.advantage,
            sequence: &self.sequence,
            lengths: &self.lengths,
        }
    }
}

#[derive(Default)]
pub struct Graph {
    pub params: Vec<Param>,
    nodes: Vec<Node>,
    /// Gradients of nodes, made during backward.
    grads: Vec<Option<Vec<f32>>>,
    /// Buffers of the last step, reused by the next.
    buffers: Buffers,
}

fn shape_err(op: &str, what: String) -> Error {
    Error::Invalid(format!("{op}: {what}"))
}

impl Graph {
    pub fn new() -> Self {
        Graph::default()
    }

    /// Adds a parameter; `value` must fill `shape`.
    pub fn param(&mut self, name: &str, shape: &[usize], value: Vec<f32>) -> Result<Var> {
        let len: usize = shape.iter().product();
        if value.len() != len {
            return Err(shape_err(
                "param",
                format!("{name}: {} values for shape {shape:?}", value.len()),
            ));
        }
        self.params.push(Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            grad: vec![0.0; len],
            value,
            trainable: true,
        });
        Ok(Var::Param(self.params.len() - 1))
    }

    /// A constant input (no gradient).
    pub fn input(&mut self, value: Vec<f32>, shape: &[usize]) -> Result<Var> {
        if value.len() != shape.iter().product::<usize>() {
            return Err(shape_err(
                "input",
                format!("{} values for shape {shape:?}", value.len()),
            ));
        }
        Ok(self.push(value, shape.to_vec(), Step::Input, false))
    }

    pub fn value(&self, v: Var) -> &[f32] {
        match v {
            Var::Param(i) => &self.params[i].value,
            Var::Node(i) => &self.nodes[i].value,
        }
    }

    pub fn shape(&self, v: Var) -> &[usize] {
        match v {
            Var::Param(i) => &self.params[i].shape,
            Var::Node(i) => &self.nodes[i].shape,
        }
    }

    fn needs_grad(&self, v: Var) -> bool {
        match v {
            Var::Param(i) => self.params[i].trainable,
            Var::Node(i) => self.nodes[i].needs_grad,
        }
    }

    /// The number of values of `v` (all but its last dimension: rows).
    fn rows(&self, v: Var) -> usize {
        let s = self.shape(v);
        s[..s.len().saturating_sub(1)].iter().product()
    }

    fn last_dim(&self, v: Var) -> usize {
        self.shape(v).last().copied().unwrap_or(1)
    }

    fn push(&mut self, value: Vec<f32>, shape: Vec<usize>, step: Step, needs_grad: bool) -> Var {
        self.nodes.push(Node {
            value,
            shape,
            step,
            needs_grad,
        });
        Var::Node(self.nodes.len() - 1)
    }

    /// Drops every activation, keeping the parameters.
    pub fn clear(&mut self) {
        for node in std::mem::take(&mut self.nodes) {
            self.buffers.recycle(node.value);
            if let Step::Attention(AttentionStep::Attention { lse, .. }) = node.step {
                self.buffers.recycle(lse);
            }
        }
        for grad in std::mem::take(&mut self.grads).into_iter().flatten() {
            self.buffers.recycle(grad);
        }
        self.buffers.trim();
    }

    pub fn zero_grads(&mut self) {
        for p in &mut self.params {
            let len = p.grad.len();
            let grad = Shared::new(&mut p.grad);
            parallel::chunks(len, &|r| {
                // SAFETY: each chunk belongs to one job.
                unsafe { grad.range(r.start, r.len()) }.fill(0.0)
            });
        }
    }

    fn same_shape(&self, op: &str, a: Var, b: Var) -> Result<()> {
        if self.shape(a) != self.shape(b) {
            return Err(shape_err(
                op,
                format!("shapes {:?} and {:?} differ", self.shape(a), self.shape(b)),
            ));
        }
        Ok(())
    }

    // ---- operations -------------------------------------------------------

    /// `a + b` (same shapes).
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        self.same_shape("add", a, b)?;
        let mut out = self.buffers.overwritten(self.value(a).len());
        let cost = Cost::elementwise(out.len(), 3);
        launch("add", cost, String::new, || {
            elementwise::add_forward(self.value(a), self.value(b), &mut out)
        });
        let needs = self.needs_grad(a) || self.needs_grad(b);
        Ok(self.push(out, self.shape(a).to_vec(), Step::Add(a, b), needs))
    }

    /// `a ⊙ b` (same shapes).
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.same_shape("mul", a, b)?;
        let mut out = self.buffers.overwritten(self.value(a).len());
        let cost = Cost::elementwise(out.len(), 3);
        launch("mul", cost, String::new, || {
            elementwise::mul_forward(self.value(a), self.value(b), &mut out)
        });
        let needs = self.needs_grad(a) || self.needs_grad(b);
        Ok(self.push(out, self.shape(a).to_vec(), Step::Mul(a, b), needs))
    }

    /// The sum of every element of `x`: a scalar.
    pub fn sum(&mut self, x: Var) -> Result<Var> {
        let total = self.value(x).iter().map(|&v| v as f64).sum::<f64>() as f32;
        let needs = self.needs_grad(x);
        Ok(self.push(vec![total], vec![1], Step::Sum(x), needs))
    }

    /// `a · s` for a constant `s`.
    pub fn scale(&mut self, a: Var, s: f32) -> Result<Var> {
        let out: Vec<f32> = self.value(a).iter().map(|v| v * s).collect();
        let needs = self.needs_grad(a);
        Ok(self.push(out, self.shape(a).to_vec(), Step::Scale(a, s), needs))
    }

    /// `x · Wᵀ + b` over the last dimension of `x`, `W` shaped `[out, in]`.
    pub fn linear(&mut self, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
        let &[m, k] = self.shape(w) else {
            return Err(shape_err(
                "linear",
                format!("weight must be 2-D, not {:?}", self.shape(w)),
            ));
        };
        if self.last_dim(x) != k {
            return Err(shape_err(
                "linear",
                format!("input {:?} against weight [{m}, {k}]", self.shape(x)),
            ));
        }
        if let Some(b) = b {
            if self.shape(b) != [m] {
                return Err(shape_err(
                    "linear",
                    format!("bias {:?} against weight [{m}, {k}]", self.shape(b)),
                ));
            }
        }
        let n = self.rows(x);
        let mut out = self.buffers.overwritten(n * m);
        let cost = Cost::matmul(n, k, m);
        launch(
            "linear",
            cost,
            || format!("f32[{n}, {k}] x f32[{m}, {k}]ᵀ"),
            || {
                let bias = b.map(|b| self.value(b));
                linear::forward(self.value(x), self.value(w), bias, k, m, &mut out)
            },
        );
        let mut shape = self.shape(x).to_vec();
        *shape.last_mut().unwrap_or(&mut 0) = m;
        let needs =
            self.needs_grad(x) || self.needs_grad(w) || b.is_some_and(|b| self.needs_grad(b));
        Ok(self.push(out, shape, Step::Linear { x, w, b }, needs))
    }

    /// Rows `ids` of `table` (`[rows, dim]`): `[ids.len(), dim]`.
    pub fn embedding(&mut self, table: Var, ids: &[u32]) -> Result<Var> {
        let &[rows, dim] = self.shape(table) else {
            return Err(shape_err("embedding", "table must be 2-D".into()));
        };
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= rows) {
            return Err(shape_err(
                "embedding",
                format!("id {bad} is outside the table's {rows} rows"),
            ));
        }
        let mut out = self.buffers.overwritten(ids.len() * dim);
        let cost = Cost::elementwise(out.len(), 2);
        launch("embedding", cost, String::new, || {
            embedding::forward(self.value(table), ids, dim, &mut out)
        });
        let needs = self.needs_grad(table);
        let step = Step::Embedding {
            table,
            ids: ids.to_vec(),
        };
        Ok(self.push(out, vec![ids.len(), dim], step, needs))
    }

    /// LayerNorm over the last dimension.
    pub fn layernorm(&mut self, x: Var, w: Var, b: Var, eps: f64) -> Result<Var> {
        let d = self.last_dim(x);
        if self.shape(w) != [d] || self.shape(b) != [d] {
            return Err(shape_err(
                "layernorm",
                format!(
                    "input {:?}, weight {:?}, bias {:?}",
                    self.shape(x),
                    self.shape(w),
                    self.shape(b)
                ),
            ));
        }
        let rows = self.rows(x);
        let mut out = self.buffers.overwritten(rows * d);
        let (mut mean, mut rstd) = (vec![0.0; rows], vec![0.0; rows]);
        launch(
            "layernorm",
            Cost::elementwise(rows * d, 3),
            String::new,
            || {
                let (xv, wv, bv) = (self.value(x), self.value(w), self.value(b));
                norm::layernorm_forward(xv, wv, bv, eps, &mut out, &mut mean, &mut rstd)
            },
        );
        let needs = self.needs_grad(x) || self.needs_grad(w) || self.needs_grad(b);
        let step = Step::LayerNorm {
            x,
            w,
            b,
            mean,
            rstd,
        };
        Ok(self.push(out, self.shape(x).to_vec(), step, needs))
    }

    /// RMSNorm over the last dimension, or over each head of it when `w`
    /// is one head wide (Qwen3's and Gemma 3's norms of queries and keys).
    pub fn rmsnorm(&mut self, x: Var, w: Var, eps: f64) -> Result<Var> {
        let width = self.last_dim(x);
        let d = self.shape(w).first().copied().unwrap_or(0);
        if self.shape(w).len() != 1 || d == 0 || !width.is_multiple_of(d) {
            return Err(shape_err(
                "rmsnorm",
                format!("input {:?}, weight {:?}", self.shape(x), self.shape(w)),
            ));
        }
        let rows = self.rows(x) * (width / d);
        let (mut out, mut rstd) = (self.buffers.overwritten(rows * d), vec![0.0; rows]);
        launch(
            "rmsnorm",
            Cost::elementwise(rows * d, 3),
            String::new,
            || norm::rmsnorm_forward(self.value(x), self.value(w), eps, &mut out, &mut rstd),
        );
        let needs = self.needs_grad(x) || self.needs_grad(w);
        Ok(self.push(
            out,
            self.shape(x).to_vec(),
            Step::RmsNorm { x, w, rstd },
            needs,
        ))
    }

    pub fn activation(&mut self, x: Var, act: Activation) -> Result<Var> {
        let mut out = self.buffers.overwritten(self.value(x).len());
        launch(
            act.name(),
            Cost::elementwise(out.len(), 2),
            String::new,
            || activation::forward(act, self.value(x), &mut out),
        );
        let needs = self.needs_grad(x);
        Ok(self.push(out, self.shape(x).to_vec(), Step::Activation(x, act), needs))
    }

    /// Softmax over the last dimension.
    pub fn softmax(&mut self, x: Var) -> Result<Var> {
        let cols = self.last_dim(x);
        let mut out = self.buffers.overwritten(self.value(x).len());
        launch(
            "softmax",
            Cost::elementwise(out.len(), 2),
            String::new,
            || softmax::forward(self.value(x), cols, &mut out),
        );
        let needs = self.needs_grad(x);
        Ok(self.push(out, self.shape(x).to_vec(), Step::Softmax(x), needs))
    }

    /// Mean cross-entropy of `logits` (`[n, vocab]`) against `targets`
    /// (IGNORE skips a row): a scalar.
    pub fn cross_entropy(&mut self, logits: Var, targets: &[u32]) -> Result<Var> {
        let vocab = self.check_targets("cross_entropy", logits, targets)?;
        let (value, scored) = launch(
            "cross_entropy",
            Cost::elementwise(self.value(logits).len(), 2),
            String::new,
            || loss::cross_entropy_forward(self.value(logits), targets, vocab),
        );
        let needs = self.needs_grad(logits);
        let step = Step::CrossEntropy {
            logits,
            targets: targets.to_vec(),
            scored,
        };
        Ok(self.push(vec![value], vec![1], step, needs))
    }

    /// Each row's log-probability of its target: `[n]`.
    pub fn logprob(&mut self, logits: Var, targets: &[u32]) -> Result<Var> {
        let vocab = self.check_targets("logprob", logits, targets)?;
        let mut out = vec![0.0; targets.len()];
        launch(
            "logprob",
            Cost::elementwise(self.value(logits).len(), 2),
            String::new,
            || loss::logprob_forward(self.value(logits), targets, vocab, &mut out),
        );
        let needs = self.needs_grad(logits);
        let step = Step::LogProb {
            logits,
            targets: targets.to_vec(),
        };
        Ok(self.push(out, vec![targets.len()], step, needs))
    }

    /// The GRPO loss (a scalar) of the policy's per-token log-probabilities
    /// `logp` (from [`Graph::logprob`]), and what it measured.
    pub fn grpo(
        &mut self,
        logp: Var,
        data: GrpoTokens,
        objective: Objective,
    ) -> Result<(Var, Stats)> {
        let n = self.value(logp).len();
        let lens = [
            data.old.len(),
            data.reference.len(),
            data.advantage.len(),
            data.sequence.len(),
        ];
        if lens.iter().any(|&l| l != n) {
            return Err(shape_err(
                "grpo",
                format!("{n} log-probabilities but per-token inputs of {lens:?}"),
            ));
        }
        if let Some(bad) = data
            .sequence
            .iter()
            .flatten()
            .find(|&&s| s >= data.lengths.len())
        {
            return Err(shape_err(
                "grpo",
                format!("sequence {bad} of {}", data.lengths.len()),
            ));
        }
        let (value, stats) = launch("grpo", Cost::elementwise(n, 5), String::new, || {
            grpo::forward(self.value(logp), &data.view(), objective)
        });
        let needs = self.needs_grad(logp);
        let step = Step::Grpo {
            logp,
            data,
            objective,
        };
        Ok((self.push(vec![value], vec![1], step, needs), stats))
    }

    fn check_targets(&self, op: &str, logits: Var, targets: &[u32]) -> Result<usize> {
        let vocab = self.last_dim(logits);
        if self.rows(logits) != targets.len() {
            return Err(shape_err(
                op,
                format!(
                    "{} targets for logits {:?}",
                    targets.len(),
                    self.shape(logits)
                ),
            ));
        }
        if let Some(bad) = targets
            .iter()
            .find(|&&t| t != loss::IGNORE && t as usize >= vocab)
        {
            return Err(shape_err(
                op,
                format!("target {bad} is outside the vocabulary of {vocab}"),
            ));
        }
        Ok(vocab)
    }

    // ---- backward ---------------------------------------------------------

    /// Adds d`loss`/d(every trainable parameter) into the parameters'
    /// gradients. `loss` must hold one value.
    pub fn backward(&mut self, loss: Var) -> Result<()> {
        self.backward_with(loss, 1.0)
    }

    /// [`Graph::backward`] with the loss scaled by `scale` (gradient
    /// accumulation over micro-batches passes 1 / steps).
    pub fn backward_with(&mut self, loss: Var, scale: f32) -> Result<()> {
        let Var::Node(last) = loss else {
            return Err(Error::Invalid(
                "backward: the loss is a parameter, not a result".into(),
            ));
        };
        if self.value(loss).len() != 1 {
            return Err(Error::Invalid(format!(
                "backward: the loss must be one value, not shape {:?}",
                self.shape(loss)
            )));
        }
        self.grads = (0..self.nodes.len()).map(|_| None).collect();
        self.grads[last] = Some(vec![scale]);
        for i in (0..=last).rev() {
            let Some(g) = self.grads[i].take() else {
                continue;
            };
            if self.nodes[i].needs_grad {
                self.backward_node(i, &g);
            }
            self.buffers.recycle(g);
        }
        for grad in std::mem::take(&mut self.grads).into_iter().flatten() {
            self.buffers.recycle(grad);
        }
        Ok(())
    }

    /// Takes `v`'s gradient buffer out (zeros if it has none yet), lets `f`
    /// add into it with the graph readable, and puts it back. Nothing is
    /// done for values that need no gradient.
    fn add_grad(&mut self, v: Var, f: impl FnOnce(&Graph, &mut [f32])) {
        if !self.needs_grad(v) {
            return;
        }
        let len = self.value(v).len();
        let mut buffer = match v {
            Var::Param(i) => std::mem::take(&mut self.params[i].grad),
            Var::Node(i) => match self.grads[i].take() {
                Some(grad) => grad,
                None => self.buffers.zeros(len),
            },
        };
        f(self, &mut buffer);
        match v {
            Var::Param(i) => self.params[i].grad = buffer,
            Var::Node(i) => self.grads[i] = Some(buffer),
        }
    }

    fn backward_node(&mut self, i: usize, g: &[f32]) {
        // The step is moved out while its inputs' gradients are written.
        let step = std::mem::replace(&mut self.nodes[i].step, Step::Input);
        let n = g.len();
        match &step {
            Step::Input => {}
            Step::Add(a, b) => {
                for v in [*a, *b] {
                    self.add_grad(v, |_, d| elementwise::accumulate(d, g));
                }
            }
            Step::Mul(a, b) => {
                let (a, b) = (*a, *b);
                self.add_grad(a, |gr, d| {
                    elementwise::mul_backward(g, gr.value(a), gr.value(b), Some(d), None)
                });
                self.add_grad(b, |gr, d| {
                    elementwise::mul_backward(g, gr.value(a), gr.value(b), None, Some(d))
                });
            }
            Step::Scale(a, s) => {
                self.add_grad(*a, |_, d| {
                    d.iter_mut().zip(g).for_each(|(d, g)| *d += g * s)
                });
            }
            Step::Linear { x, w, b } => {
                let (x, w) = (*x, *w);
                let (m, k) = (self.shape(w)[0], self.shape(w)[1]);
                let rows = n / m;
                let cost = Cost::matmul(rows, m, k);
                self.add_grad(x, |gr, d| {
                    launch("linear_backward_input", cost, String::new, || {
                        linear::backward(g, gr.value(x), gr.value(w), k, m, Some(d), None, None)
                    })
                });
                self.add_grad(w, |gr, d| {
                    launch("linear_backward_weight", cost, String::new, || {
                        linear::backward(g, gr.value(x), gr.value(w), k, m, None, Some(d), None)
                    })
                });
                if let Some(b) = *b {
                    self.add_grad(b, |gr, d| {
                        linear::backward(g, gr.value(x), gr.value(w), k, m, None, None, Some(d))
                    });
                }
            }
            Step::Embedding { table, ids } => {
                let dim = self.shape(*table)[1];
                self.add_grad(*table, |_, d| {
                    launch(
                        "embedding_backward",
                        Cost::elementwise(n, 2),
                        String::new,
                        || embedding::backward(g, ids, dim, d),
                    )
                });
            }
            Step::LayerNorm {
                x,
                w,
                b,
                mean,
                rstd,
            } => {
                let (x, w, b) = (*x, *w, *b);
                let d_len = self.shape(w)[0];
                let (mut dw, mut db) = (vec![0.0; d_len], vec![0.0; d_len]);
                let cost = Cost::elementwise(n, 4);
                if self.needs_grad(x) {
                    self.add_grad(x, |gr, dx| {
                        launch("layernorm_backward", cost, String::new, || {
                            let (xv, wv) = (gr.value(x), gr.value(w));
                            norm::layernorm_backward(
                                g,
                                xv,
                                wv,
                                mean,
                                rstd,
                                Some(dx),
                                &mut dw,
                                &mut db,
                            )
                        })
                    });
                } else {
                    let (xv, wv) = (self.value(x), self.value(w));
                    norm::layernorm_backward(g, xv, wv, mean, rstd, None, &mut dw, &mut db);
                }
                self.add_grad(w, |_, d| elementwise::accumulate(d, &dw));
                self.add_grad(b, |_, d| elementwise::accumulate(d, &db));
            }
            Step::RmsNorm { x, w, rstd } => {
                let (x, w) = (*x, *w);
                let mut dw = vec![0.0; self.shape(w)[0]];
                let cost = Cost::elementwise(n, 4);
                if self.needs_grad(x) {
                    self.add_grad(x, |gr, dx| {
                        launch("rmsnorm_backward", cost, String::new, || {
                            norm::rmsnorm_backward(
                                g,
                                gr.value(x),
                                gr.value(w),
                                rstd,
                                Some(dx),
                                &mut dw,
                            )
                        })
                    });
                } else {
                    norm::rmsnorm_backward(g, self.value(x), self.value(w), rstd, None, &mut dw);
                }
                self.add_grad(w, |_, d| elementwise::accumulate(d, &dw));
            }
            Step::Activation(x, act) => {
                let (x, act) = (*x, *act);
                self.add_grad(x, |gr, d| {
                    launch(
                        "activation_backward",
                        Cost::elementwise(n, 3),
                        String::new,
                        || activation::backward(act, g, gr.value(x), d),
                    )
                });
            }
            Step::Softmax(x) => {
                let cols = self.last_dim(*x);
                let y = std::mem::take(&mut self.nodes[i].value);
                self.add_grad(*x, |_, d| softmax::backward(g, &y, cols, d));
                self.nodes[i].value = y;
            }
            Step::Attention(step) => self.backward_attention(step, g),
            Step::Frozen(step) => self.backward_frozen(step, g),
            Step::CrossEntropy {
                logits,
                targets,
                scored,
            } => {
                let vocab = self.last_dim(*logits);
                let l = *logits;
                self.add_grad(l, |gr, d| {
                    launch(
                        "cross_entropy_backward",
                        Cost::elementwise(d.len(), 3),
                        String::new,
                        || {
                            loss::cross_entropy_backward(
                                g[0],
                                gr.value(l),
                                targets,
                                vocab,
                                *scored,
                                d,
                            )
                        },
                    )
                });
            }
            Step::Grpo {
                logp,
                data,
                objective,
            } => {
                let (lp, objective) = (*logp, *objective);
                self.add_grad(lp, |gr, d| {
                    grpo::backward(g[0], gr.value(lp), &data.view(), objective, d)
                });
            }
            Step::Sum(x) => {
                self.add_grad(*x, |_, d| d.iter_mut().for_each(|d| *d += g[0]));
            }
            Step::Recurrent(step) => self.backward_recurrent(step, g),
            Step::LogProb { logits, targets } => {
                let vocab = self.last_dim(*logits);
                let l = *logits;
                self.add_grad(l, |gr, d| {
                    launch(
                        "logprob_backward",
                        Cost::elementwise(d.len(), 3),
                        String::new,
                        || loss::logprob_backward(g, gr.value(l), targets, vocab, d),
                    )
                });
            }
        }
        self.nodes[i].step = step;
    }
}
