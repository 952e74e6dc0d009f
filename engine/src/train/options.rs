//! How to train a model from scratch: one struct whose field names are the
//! option names of every face (`monologue train --layers 4`,
//! `train(#{ layers: 4 })`) and whose `Default` is every face's default.
//! The text to learn from, where to save and how to report stay with each
//! face.

use super::data::{byte_tokenizer, Dataset};
use super::gpt::GptConfig;
use super::net::Architecture;
use super::rnn::RnnConfig;
use super::{Run, TrainConfig};
use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct TrainOptions {
    /// The network: `gpt` or `rnn`.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().arch, value_parser = ["gpt", "rnn"]))]
    pub arch: String,
    /// `bytes` (one token per byte) or a tokenizer.json file.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().tokenizer))]
    pub tokenizer: String,
    /// Share of the data kept for validation (its end).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().val_fraction))]
    pub val_fraction: f64,
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().layers))]
    pub layers: usize,
    /// The GPT's width, or the RNN's hidden size.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().width))]
    pub width: usize,
    /// Attention heads (GPT) or WKV heads (RNN).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().heads))]
    pub heads: usize,
    /// RNN: token embedding size (default: the hidden size).
    #[cfg_attr(feature = "cli", arg(long))]
    pub embed: Option<usize>,
    /// RNN: experts per layer, counting the always-on expert 0.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().experts))]
    pub experts: usize,
    /// RNN: routed experts per token besides expert 0.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().top_k))]
    pub top_k: usize,
    /// RNN: inner size of each expert (default: twice the hidden size).
    #[cfg_attr(feature = "cli", arg(long))]
    pub expert_hidden: Option<usize>,
    /// RNN: no mixture-of-experts MLP (lighter, faster).
    #[cfg_attr(feature = "cli", arg(long))]
    pub fast: bool,
    /// RNN: RWKV linear attention feeding the GRU cells (`--no-rwkv` turns
    /// it off).
    #[cfg_attr(feature = "cli", arg(long = "no-rwkv", action = clap::ArgAction::SetFalse))]
    pub rwkv: bool,
    /// RNN: weight of the experts' load-balancing loss.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().balance))]
    pub balance: f32,
    /// Sequences per micro-batch.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().batch))]
    pub batch: usize,
    /// Tokens per sequence (the GPT's context; the RNN's BPTT window).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().seq))]
    pub seq: usize,
    /// Optimizer updates in the whole run (the schedule's length).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().steps))]
    pub steps: usize,
    /// Peak learning rate, reached after `warmup` steps.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().lr))]
    pub lr: f32,
    /// Where the cosine decay ends.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().min_lr))]
    pub min_lr: f32,
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().warmup))]
    pub warmup: usize,
    /// Largest gradient norm (0: no clipping).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().clip))]
    pub clip: f32,
    /// Micro-batches per optimizer step.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().accumulate))]
    pub accumulate: usize,
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().weight_decay))]
    pub weight_decay: f32,
    /// Validation loss every N steps (0: never).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().eval_every))]
    pub eval_every: usize,
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().eval_batches))]
    pub eval_batches: usize,
    #[cfg_attr(feature = "cli", arg(long, default_value_t = TrainOptions::default().seed))]
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        let run = TrainConfig::default();
        TrainOptions {
            arch: "gpt".into(),
            tokenizer: "bytes".into(),
            val_fraction: 0.1,
            layers: 4,
            width: 128,
            heads: 4,
            embed: None,
            experts: 4,
            top_k: 1,
            expert_hidden: None,
            fast: false,
            rwkv: true,
            balance: 0.01,
            batch: run.batch,
            seq: 128,
            steps: run.steps,
            lr: run.lr,
            min_lr: run.min_lr,
            warmup: run.warmup,
            clip: run.clip,
            accumulate: run.accumulate,
            weight_decay: run.adamw.weight_decay,
            eval_every: run.eval_every,
            eval_batches: run.eval_batches,
            seed: run.seed,
        }
    }
}

impl TrainOptions {
    /// The network these options describe (its vocabulary comes from the
    /// tokenizer when the run starts).
    pub fn architecture(&self) -> Result<Architecture> {
        Ok(match self.arch.as_str() {
            "gpt" => Architecture::Gpt(GptConfig {
                vocab: 0,
                context: self.seq,
                layers: self.layers,
                width: self.width,
                heads: self.heads,
            }),
            "rnn" => Architecture::Rnn(RnnConfig {
                vocab: 0,
                embed: self.embed.unwrap_or(self.width),
                hidden: self.width,
                layers: self.layers,
                heads: self.heads,
                experts: self.experts,
                top_k: self.top_k,
                expert_hidden: self.expert_hidden.unwrap_or(2 * self.width),
                fast: self.fast,
                rwkv: self.rwkv,
                balance: self.balance,
            }),
            other => {
                return Err(Error::Invalid(format!(
                    "arch {other:?}: choose \"gpt\" or \"rnn\""
                )))
            }
        })
    }

    /// The run's schedule and optimizer settings.
    pub fn config(&self) -> TrainConfig {
        let defaults = TrainConfig::default();
        TrainConfig {
            batch: self.batch,
            seq: self.seq,
            steps: self.steps,
            lr: self.lr,
            min_lr: self.min_lr,
            warmup: self.warmup,
            clip: self.clip,
            accumulate: self.accumulate,
            eval_every: self.eval_every,
            eval_batches: self.eval_batches,
            seed: self.seed,
            adamw: super::adamw::AdamWConfig {
                weight_decay: self.weight_decay,
                ..defaults.adamw
            },
        }
    }

    /// The tokenizer: bytes, or the tokenizer.json file named.
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        match self.tokenizer.as_str() {
            "bytes" => byte_tokenizer(),
            path => Tokenizer::from_json_file(path),
        }
        .map_err(|e| Error::Invalid(format!("tokenizer {}: {e}", self.tokenizer)))
    }

    /// A new run on `text`: the network checked before the data is split.
    pub fn start(&self, text: &str) -> Result<Run> {
        let arch = self.architecture()?;
        let data = Dataset::new(text, self.tokenizer()?, self.val_fraction)?;
        Run::new(arch, self.config(), data)
    }
}
