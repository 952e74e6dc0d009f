//! A training run: the model on its tape, the optimizer, the data and the
//! record of every step. `step()` does one optimizer update; the faces
//! (CLI, scripts, notebooks) drive it and watch `history`.

use super::adamw::{clip_grad_norm, learning_rate, AdamW, AdamWConfig};
use super::data::{Dataset, Split};
use super::gpt::GptConfig;
use super::graph::{Graph, Var};
use super::net::{Architecture, Net};
use super::rnn::RnnState;
use crate::error::{Error, Result};
use crate::generate::Rng;
use serde::{Deserialize, Serialize};

/// How to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Sequences per micro-batch.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq: usize,
    /// Optimizer updates in the whole run (the schedule's length).
    pub steps: usize,
    /// Peak learning rate, reached after `warmup` steps.
    pub lr: f32,
    /// Where the cosine decay ends.
    pub min_lr: f32,
    pub warmup: usize,
    /// Largest gradient norm (0: no clipping).
    pub clip: f32,
    /// Micro-batches whose gradients are summed into one update.
    pub accumulate: usize,
    /// Validation loss every this many steps (0: never).
    pub eval_every: usize,
    pub eval_batches: usize,
    pub seed: u64,
    pub adamw: AdamWConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch: 8,
            seq: 64,
            steps: 1000,
            lr: 1e-3,
            min_lr: 1e-4,
            warmup: 50,
            clip: 1.0,
            accumulate: 1,
            eval_every: 100,
            eval_batches: 4,
            seed: 1337,
            adamw: AdamWConfig::default(),
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::Invalid(format!("training config: {what}")));
        if self.batch == 0 || self.seq == 0 || self.accumulate == 0 {
            return bad("batch, seq and accumulate must be positive");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) || self.min_lr < 0.0 || self.min_lr > self.lr {
            return bad(&format!(
                "need 0 ≤ min_lr ≤ lr and lr > 0 (lr {}, min_lr {})",
                self.lr, self.min_lr
            ));
        }
        Ok(())
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: usize,
    pub loss: f32,
    /// At `eval_every` steps.
    pub val_loss: Option<f32>,
    pub lr: f32,
    /// Before clipping.
    pub grad_norm: f32,
    pub tok_s: f64,
}

/// Truncated back-propagation through time for the RNN: each batch row
/// reads its own stream through the data, and the recurrent state at the
/// end of one window starts the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Carry {
    /// Where each row's stream reads next (`usize::MAX`: not started).
    pub cursors: Vec<usize>,
    pub state: RnnState,
}

pub struct Run {
    pub model: Net,
    /// The RNN's carried streams (None for the GPT).
    pub carry: Option<Carry>,
    pub graph: Graph,
    pub optimizer: AdamW,
    pub data: Dataset,
    pub config: TrainConfig,
    /// Updates done.
    pub step: usize,
    pub history: Vec<StepRecord>,
    /// Draws the training batches; saved with checkpoints so a resumed
    /// run draws what the uninterrupted one would have.
    pub rng: Rng,
}

impl Run {
    /// A new GPT of `shape` (its vocabulary taken from the data's
    /// tokenizer) ready to train on `data`.
    pub fn new_gpt(shape: GptConfig, config: TrainConfig, data: Dataset) -> Result<Run> {
        Run::new(Architecture::Gpt(shape), config, data)
    }

    /// A new model of `arch` (its vocabulary taken from the data's
    /// tokenizer) ready to train on `data`.
    pub fn new(arch: Architecture, config: TrainConfig, data: Dataset) -> Result<Run> {
        config.validate()?;
        let arch = arch.with_vocab(data.tokenizer.vocab_size());
        if let Some(context) = arch.context().filter(|&c| config.seq > c) {
            return Err(Error::Invalid(format!(
                "sequences of {} do not fit the model's context of {context}",
                config.seq
            )));
        }
        data.check_fits(Split::Train, config.seq)?;
        let mut rng = Rng::new(config.seed);
        let mut graph = Graph::new();
        let model = Net::new(arch, &mut graph, &mut rng)?;
        let carry = match &model {
            Net::Rnn(m) => Some(Carry {
                cursors: vec![usize::MAX; config.batch],
                state: RnnState::zeros(&m.config, config.batch),
            }),
            Net::Gpt(_) => None,
        };
        let optimizer = AdamW::new(config.adamw, &graph.params);
        Ok(Run {
            model,
            carry,
            graph,
            optimizer,
            data,
            config,
            step: 0,
            history: Vec::new(),
            rng,
        })
    }

    /// One optimizer update on freshly drawn batches: random windows for
    /// the GPT, the next window of each stream for the RNN.
    pub fn step(&mut self) -> Result<StepRecord> {
        let c = self.config.clone();
        let mut micro = Vec::new();
        for _ in 0..c.accumulate {
            micro.push(match &mut self.carry {
                Some(carry) => {
                    let (ids, targets, restarted) =
                        self.data
                            .stream_windows(&mut carry.cursors, c.seq, &mut self.rng)?;
                    (ids, targets, Some(restarted))
                }
                None => {
                    let (ids, targets) =
                        self.data
                            .batch(Split::Train, c.batch, c.seq, &mut self.rng)?;
                    (ids, targets, None)
                }
            });
        }
        self.update(&micro, crate::profile::now_ns())
    }

    /// One optimizer update on the given micro-batches (ids, targets),
    /// each window read from a fresh state.
    pub fn step_on(&mut self, micro: &[(Vec<u32>, Vec<u32>)]) -> Result<StepRecord> {
        let start = crate::profile::now_ns();
        let micro: Vec<_> = micro
            .iter()
            .map(|(i, t)| (i.clone(), t.clone(), None))
            .collect();
        self.update(&micro, start)
    }

    /// The loss of one micro-batch: from the carried state where the
    /// windows continue streams (`restarted` says which rows begin anew).
    fn micro_loss(
        &mut self,
        ids: &[u32],
        targets: &[u32],
        restarted: Option<&[bool]>,
    ) -> Result<Var> {
        let batch = self.config.batch;
        match (&self.model, &mut self.carry, restarted) {
            (Net::Rnn(m), Some(carry), Some(restarted)) => {
                let rows = restarted
                    .iter()
                    .enumerate()
                    .filter(|(_, &r)| r)
                    .map(|(b, _)| b);
                carry.state.reset_rows(rows);
                m.loss_from(&mut self.graph, ids, targets, &mut carry.state)
            }
            _ => self.model.loss(&mut self.graph, ids, targets, batch),
        }
    }

    /// Averages the micro-batches' gradients, clips and applies them.
    #[allow(clippy::type_complexity)]
    fn update(
        &mut self,
        micro: &[(Vec<u32>, Vec<u32>, Option<Vec<bool>>)],
        start: u64,
    ) -> Result<StepRecord> {
        let c = self.config.clone();
        let mut loss = 0.0;
        let mut tokens = 0;
        for (ids, targets, restarted) in micro {
            let l = self.micro_loss(ids, targets, restarted.as_deref())?;
            loss += self.graph.value(l)[0] / micro.len() as f32;
            self.graph.backward_with(l, 1.0 / micro.len() as f32)?;
            self.graph.clear();
            tokens += ids.len();
        }
        if !loss.is_finite() {
            self.graph.zero_grads();
            return Err(Error::Invalid(format!(
                "the loss is {loss} at step {}: lower the learning rate",
                self.step
            )));
        }
        let grad_norm = clip_grad_norm(&mut self.graph.params, c.clip);
        let lr = learning_rate(self.step, c.steps, c.warmup, c.lr, c.min_lr);
        self.optimizer.step(&mut self.graph.params, lr);
        self.graph.zero_grads();
        self.step += 1;
        let val_loss = if c.eval_every > 0 && self.step.is_multiple_of(c.eval_every) {
            Some(self.evaluate(c.eval_batches)?)
        } else {
            None
        };
        let seconds = (crate::profile::now_ns() - start) as f64 * 1e-9;
        let record = StepRecord {
            step: self.step,
            loss,
            val_loss,
            lr,
            grad_norm,
            tok_s: tokens as f64 / seconds.max(1e-9),
        };
        self.history.push(record.clone());
        Ok(record)
    }

    /// Mean loss over `batches` validation batches (the same ones at every
    /// call, so the curve compares like with like). Falls back to the
    /// training data when the validation part is too short.
    pub fn evaluate(&mut self, batches: usize) -> Result<f32> {
        let c = &self.config;
        let split = match self.data.check_fits(Split::Validation, c.seq) {
            Ok(()) => Split::Validation,
            Err(_) => Split::Train,
        };
        let mut rng = Rng::new(c.seed ^ 0x5eed);
        let mut total = 0.0;
        for _ in 0..batches.max(1) {
            let (ids, targets) = self.data.batch(split, c.batch, c.seq, &mut rng)?;
            let l = self.model.loss(&mut self.graph, &ids, &targets, c.batch)?;
            total += self.graph.value(l)[0];
            self.graph.clear();
        }
        Ok(total / batches.max(1) as f32)
    }
}
