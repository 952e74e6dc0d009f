//! How to start a fine-tune, in the names every face uses
//! (`monologue finetune --lr …`, `finetune(#{lr: …})`).

use crate::error::Result;
use crate::train::adamw::AdamWConfig;
use crate::train::lora::LoraConfig;
use crate::train::run::TrainConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct FinetuneOptions {
    /// The model to start from: a short name, GGUF file or Hugging Face
    /// folder.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().model))]
    pub model: String,
    /// Rows per micro-batch.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().batch))]
    pub batch: usize,
    /// Tokens per row (conversations are packed into rows this long).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().seq))]
    pub seq: usize,
    /// Optimizer updates; 0: as many as `epochs` passes over the data take.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().steps))]
    pub steps: usize,
    /// Passes over the training rows, when `steps` is 0.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().epochs))]
    pub epochs: f64,
    /// Peak learning rate, reached after `warmup` steps.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().lr))]
    pub lr: f32,
    /// Where the cosine decay ends.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().min_lr))]
    pub min_lr: f32,
    /// Steps of linear warm-up.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().warmup))]
    pub warmup: usize,
    /// Largest gradient norm (0: no clipping).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().clip))]
    pub clip: f32,
    /// Micro-batches summed into one update.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().accumulate))]
    pub accumulate: usize,
    /// AdamW's decay of matrices towards zero.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().weight_decay))]
    pub weight_decay: f32,
    /// Validation loss every this many steps (0: never).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().eval_every))]
    pub eval_every: usize,
    /// Batches of the held-out share each validation reads.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().eval_batches))]
    pub eval_batches: usize,
    /// Share of the conversations held out for validation.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().validation))]
    pub validation: f64,
    /// LoRA's rank: adapters train beside frozen weights (0: every weight
    /// trains, in f32).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().lora_rank))]
    pub lora_rank: usize,
    /// LoRA's alpha: the adapters' output is scaled by alpha / rank.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().lora_alpha))]
    pub lora_alpha: f32,
    /// Dropout on the adapters' input.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().lora_dropout))]
    pub lora_dropout: f32,
    /// The projections that get adapters, comma-separated (`peft`'s names).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().lora_targets))]
    pub lora_targets: String,
    /// Seeds the held-out draw and the order of the rows.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = FinetuneOptions::default().seed))]
    pub seed: u64,
}

impl Default for FinetuneOptions {
    /// Settings that suit a small model and a few thousand conversations:
    /// a learning rate a tenth of pretraining's, no weight decay pulling
    /// the pretrained weights to zero, one epoch.
    fn default() -> Self {
        FinetuneOptions {
            model: crate::load::DEFAULT_MODEL.into(),
            batch: 4,
            seq: 512,
            steps: 0,
            epochs: 1.0,
            lr: 5e-5,
            min_lr: 5e-6,
            warmup: 10,
            clip: 1.0,
            accumulate: 1,
            weight_decay: 0.0,
            eval_every: 50,
            eval_batches: 4,
            validation: 0.05,
            lora_rank: 0,
            lora_alpha: 32.0,
            lora_dropout: 0.0,
            lora_targets: LoraConfig::default().targets.join(","),
            seed: 1337,
        }
    }
}

impl FinetuneOptions {
    /// The LoRA settings, when `lora_rank` asks for adapters.
    pub fn lora(&self) -> Result<Option<LoraConfig>> {
        if self.lora_rank == 0 {
            return Ok(None);
        }
        let lora = LoraConfig {
            rank: self.lora_rank,
            alpha: self.lora_alpha,
            dropout: self.lora_dropout,
            targets: self
                .lora_targets
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
            seed: self.seed,
        };
        lora.validate()?;
        Ok(Some(lora))
    }

    /// The training schedule, for data of `rows` training rows.
    pub fn config(&self, rows: usize) -> TrainConfig {
        let per_step = (self.batch * self.accumulate).max(1);
        let steps = match self.steps {
            0 => ((rows as f64 * self.epochs) / per_step as f64)
                .ceil()
                .max(1.0) as usize,
            n => n,
        };
        TrainConfig {
            batch: self.batch,
            seq: self.seq,
            steps,
            lr: self.lr,
            min_lr: self.min_lr,
            warmup: self.warmup.min(steps / 2),
            clip: self.clip,
            accumulate: self.accumulate,
            eval_every: self.eval_every,
            eval_batches: self.eval_batches,
            seed: self.seed,
            adamw: AdamWConfig {
                weight_decay: self.weight_decay,
                ..AdamWConfig::default()
            },
        }
    }
}
