//! Fine-tuning a pretrained model (any model the inference path loads) on
//! conversations, every weight in f32 or through LoRA adapters, then GRPO.
//! This layer sits above [`crate::load`] and [`crate::language_model`]: a
//! fine-tune starts from what the front door opens, chat template and all.
//!
//! ```text
//! FineTune::start ─► Pretrained::load (the model on the tape) + its chat template and tokenizer
//!                 ─► sft: conversations → tokens (assistant's scored) → packed rows; some held out
//! FineTune::step  ─► `accumulate` micro-batches of `batch` rows: loss, backward
//!                 ─► clip ─► AdamW ─► StepRecord (loss, validation loss, lr, tokens/s)
//! checkpoint::save ─► the model in its own format (GGUF or a Hugging Face folder) + optimizer + state
//! ```

pub mod arithmetic;
pub mod checkpoint;
pub mod merge;
pub mod model_file;
mod options;
pub mod peft;
pub mod pretrained;
pub mod reinforce;
pub mod rl;
pub mod sft;
pub mod trainer;

pub use options::FinetuneOptions;

use crate::error::{Error, Result};
use crate::generate::chat_template::{ChatTemplate, RenderOptions};
use crate::generate::Rng;
use crate::tokenizer::Tokenizer;
use crate::train::adamw::{clip_grad_norm, learning_rate, AdamW};
use crate::train::lora::LoraConfig;
use crate::train::run::{StepRecord, TrainConfig};
use pretrained::Pretrained;
use sft::{pack, ChatEncoder, Conversation, Encoded, PackStats, Row};
use std::path::Path;
use std::sync::Arc;

/// The text side of the model: what renders and tokenizes conversations,
/// and what a saved model carries for generation.
pub struct ChatText {
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub options: RenderOptions,
    pub add_bos: bool,
}

impl ChatText {
    pub fn encoder(&self) -> ChatEncoder<'_> {
        ChatEncoder {
            tokenizer: &self.tokenizer,
            template: &self.template,
            options: &self.options,
            add_bos: self.add_bos,
        }
    }
}

/// The packed training and validation rows.
pub struct Data {
    pub train: Vec<Row>,
    pub validation: Vec<Row>,
    pub train_stats: PackStats,
    pub validation_stats: PackStats,
}

pub struct FineTune {
    /// The model the run started from (a resumed run keeps its first).
    pub base: String,
    pub model: Pretrained,
    pub text: ChatText,
    pub optimizer: AdamW,
    pub config: TrainConfig,
    pub data: Data,
    /// The share of conversations held out for validation.
    pub validation: f64,
    /// Updates done.
    pub step: usize,
    pub history: Vec<StepRecord>,
    /// Shuffles each epoch's rows; saved with checkpoints.
    pub rng: Rng,
    /// This epoch's order of the training rows, and how far it has got.
    pub order: Vec<usize>,
    pub cursor: usize,
}

impl FineTune {
    /// A run as `options` describe it, on `conversations`; the number of
    /// steps follows from the data when the options give epochs.
    pub fn from_options(
        options: &FinetuneOptions,
        conversations: &[Conversation],
    ) -> Result<FineTune> {
        let (model, text) = open(&options.model, options.lora()?)?;
        let data = prepare(
            &text,
            conversations,
            options.seq,
            options.seed,
            options.validation,
        )?;
        let config = options.config(data.train.len());
        FineTune::with_data(
            base_name(&options.model),
            model,
            text,
            data,
            config,
            options.validation,
        )
    }

    /// `model` (a name, GGUF file or Hugging Face folder) ready to learn
    /// `conversations`, a `validation` share of them held out.
    pub fn start(
        model: &str,
        lora: Option<LoraConfig>,
        conversations: &[Conversation],
        config: TrainConfig,
        validation: f64,
    ) -> Result<FineTune> {
        let (pretrained, text) = open(model, lora)?;
        let data = prepare(&text, conversations, config.seq, config.seed, validation)?;
        FineTune::with_data(base_name(model), pretrained, text, data, config, validation)
    }

    /// A run of `model` on packed `data`; `base` names where it started.
    pub fn with_data(
        base: String,
        model: Pretrained,
        text: ChatText,
        data: Data,
        config: TrainConfig,
        validation: f64,
    ) -> Result<FineTune> {
        config.validate()?;
        let context = model.info().context_length;
        if config.seq > context {
            return Err(Error::Invalid(format!(
                "rows of {} tokens do not fit the model's context of {context}",
                config.seq
            )));
        }
        if data.train.len() < config.batch {
            return Err(Error::Invalid(format!(
                "the conversations pack into {} rows of {} tokens, fewer than a batch of {}: lower the batch or the sequence length",
                data.train.len(),
                config.seq,
                config.batch
            )));
        }
        let mut rng = Rng::new(config.seed);
        let order = shuffled(data.train.len(), &mut rng);
        let optimizer = AdamW::new(config.adamw, &model.graph.params);
        Ok(FineTune {
            base,
            model,
            text,
            optimizer,
            config,
            data,
            validation,
            step: 0,
            history: Vec::new(),
            rng,
            order,
            cursor: 0,
        })
    }

    /// The next `batch` training rows, joined; a new epoch reshuffles.
    fn next_batch(&mut self) -> Batch {
        let mut rows = Vec::with_capacity(self.config.batch);
        for _ in 0..self.config.batch {
            if self.cursor == self.order.len() {
                self.order = shuffled(self.data.train.len(), &mut self.rng);
                self.cursor = 0;
            }
            rows.push(self.order[self.cursor]);
            self.cursor += 1;
        }
        Batch::of(rows.iter().map(|&r| &self.data.train[r]))
    }

    /// One optimizer update over `accumulate` micro-batches.
    pub fn step(&mut self) -> Result<StepRecord> {
        let start = crate::profile::now_ns();
        let c = self.config.clone();
        let (mut loss, mut tokens) = (0.0, 0);
        for _ in 0..c.accumulate {
            let batch = self.next_batch();
            let l = self.model.loss_packed(
                &batch.ids,
                &batch.targets,
                c.batch,
                batch.starts,
                Some(&mut self.rng),
            )?;
            loss += self.model.graph.value(l)[0] / c.accumulate as f32;
            self.model
                .graph
                .backward_with(l, 1.0 / c.accumulate as f32)?;
            self.model.graph.clear();
            tokens += batch.ids.len();
        }
        let graph = &mut self.model.graph;
        if !loss.is_finite() {
            graph.zero_grads();
            return Err(Error::Invalid(format!(
                "the loss is {loss} at step {}: lower the learning rate",
                self.step
            )));
        }
        let grad_norm = clip_grad_norm(&mut graph.params, c.clip);
        if !grad_norm.is_finite() {
            graph.zero_grads();
            return Err(Error::Invalid(format!(
                "the gradient is {grad_norm} at step {}: nothing was applied",
                self.step
            )));
        }
        let lr = learning_rate(self.step, c.steps, c.warmup, c.lr, c.min_lr);
        self.optimizer.step(&mut graph.params, lr);
        graph.zero_grads();
        self.step += 1;
        let val_loss = match c.eval_every > 0 && self.step.is_multiple_of(c.eval_every) {
            true => self.evaluate()?,
            false => None,
        };
        let seconds = crate::profile::now_ns().saturating_sub(start) as f64 * 1e-9;
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

    /// The mean loss over the validation rows (the first `eval_batches`
    /// batches of them, the same at every call); None without any.
    pub fn evaluate(&mut self) -> Result<Option<f32>> {
        let c = &self.config;
        let rows = &self.data.validation;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut total = 0.0;
        let mut batches = 0;
        for chunk in rows.chunks(c.batch).take(c.eval_batches.max(1)) {
            let batch = Batch::of(chunk.iter());
            let l = self.model.loss_packed(
                &batch.ids,
                &batch.targets,
                chunk.len(),
                batch.starts,
                None,
            )?;
            total += self.model.graph.value(l)[0];
            self.model.graph.clear();
            batches += 1;
        }
        Ok(Some(total / batches as f32))
    }

    /// Saves a checkpoint under `dir` (see [`checkpoint::save`]).
    pub fn save(&self, dir: &Path) -> Result<std::path::PathBuf> {
        checkpoint::save(self, dir)
    }
}

/// Rows joined into one micro-batch.
struct Batch {
    ids: Vec<u32>,
    targets: Vec<u32>,
    starts: Arc<Vec<usize>>,
}

impl Batch {
    fn of<'r>(rows: impl Iterator<Item = &'r Row>) -> Batch {
        let (mut ids, mut targets, mut starts) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            ids.extend_from_slice(&row.ids);
            targets.extend_from_slice(&row.targets);
            starts.extend_from_slice(&row.starts);
        }
        Batch {
            ids,
            targets,
            starts: Arc::new(starts),
        }
    }
}

/// `0..n` in a random order.
fn shuffled(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

/// How a run names the model it starts from: an existing path made
/// absolute (an adapter's config must find it from anywhere), else the
/// short name as given.
fn base_name(model: &str) -> String {
    std::fs::canonicalize(model)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| model.to_string())
}

/// A model on the tape (with LoRA adapters, or every weight trained),
/// with its chat template and tokenizer. A LoRA adapter (a `peft` folder or
/// a LoRA run) opens as its base with those adapters, to train on.
pub fn open(model: &str, lora: Option<LoraConfig>) -> Result<(Pretrained, ChatText)> {
    let resolved = crate::load::resolve_model_path(model)?;
    if let Some(base) = crate::load::adapter_base(&resolved)? {
        let (rank, alpha, dropout, targets) = crate::model::adapter::shape_of(&resolved)?;
        let lora = LoraConfig {
            rank,
            alpha,
            dropout,
            targets,
            ..LoraConfig::default()
        };
        let base = base
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| Error::Invalid(format!("{}: not a UTF-8 path", base.display())))?;
        let (mut pretrained, text) = open(&base, Some(lora))?;
        peft::read(&mut pretrained, &resolved)?;
        return Ok((pretrained, text));
    }
    let (file, path, recipe) = crate::load::recipe(model)?;
    let (tokenizer, template, options) = crate::LanguageModel::chat_text(&file, &path)?;
    let add_bos = tokenizer.add_bos_default();
    let text = ChatText {
        tokenizer,
        template,
        options,
        add_bos,
    };
    Ok((Pretrained::from_recipe(&file, recipe, path, lora)?, text))
}

/// Encodes the conversations, holds out a `validation` share of them
/// (drawn by the seed, so a resumed run holds out the same), and packs
/// both parts into rows of `seq` tokens.
pub fn prepare(
    text: &ChatText,
    conversations: &[Conversation],
    seq: usize,
    seed: u64,
    validation: f64,
) -> Result<Data> {
    if !(0.0..1.0).contains(&validation) {
        return Err(Error::Invalid(format!(
            "the validation share must be in [0, 1), not {validation}"
        )));
    }
    let encoder = text.encoder();
    let encoded = conversations
        .iter()
        .enumerate()
        .map(|(i, c)| {
            encoder
                .encode(&c.messages)
                .map_err(|e| Error::Invalid(format!("conversation {}: {e}", i + 1)))
        })
        .collect::<Result<Vec<Encoded>>>()?;
    let held = match conversations.len() {
        0 | 1 => 0,
        n => ((n as f64 * validation).ceil() as usize).min(n - 1),
    };
    let order = shuffled(encoded.len(), &mut Rng::new(seed ^ 0x7a11d));
    let (held_out, kept) = order.split_at(held);
    let pick =
        |ids: &[usize]| -> Vec<Encoded> { ids.iter().map(|&i| encoded[i].clone()).collect() };
    let pad = text.tokenizer.eos_id().unwrap_or(0);
    let (train, train_stats) = pack(&pick(kept), seq, pad)?;
    let (validation, validation_stats) = match held_out.is_empty() {
        true => (Vec::new(), PackStats::default()),
        false => pack(&pick(held_out), seq, pad)?,
    };
    Ok(Data {
        train,
        validation,
        train_stats,
        validation_stats,
    })
}
