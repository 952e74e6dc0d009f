//! A pretrained model on the tape: any Llama-family or GPT-2 file the
//! inference path loads (GGUF or a Hugging Face folder), with its weights
//! as f32 parameters, ready to fine-tune.
//!
//! ```text
//! load::recipe(path) ─► Llama::load / Gpt2::load onto a Tape ─► Graph of parameters
//! forward(ids) ─► the model file's body and head through TapeExec ─► logits [B·T, vocab]
//! ```

use crate::error::{Error, Result};
use crate::generate::Rng;
use crate::io::{Format, ModelFile};
use crate::model::exec::{Architecture, Dims, Slot};
use crate::model::{Gpt2, Llama, ModelInfo, Recipe, Weights};
use crate::train::graph::{Graph, Var};
use crate::train::lora::{AdapterInfo, LoraConfig};
use crate::train::tape::{Tape, TapeExec};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The architecture, loaded onto the tape.
enum Body {
    Llama(Box<Llama<Tape>>),
    Gpt2(Box<Gpt2<Tape>>),
}

pub struct Pretrained {
    /// The parameters (the file's tensors, by their names in it) and, during
    /// a step, the activations.
    pub graph: Graph,
    body: Body,
    /// Where the weights came from, and in which format.
    pub path: PathBuf,
    pub format: Format,
    /// The LoRA adapters, when the model trains through them.
    pub adapters: Vec<AdapterInfo>,
    pub lora: Option<LoraConfig>,
    /// What loading added to every norm weight (Gemma's checkpoints store
    /// `w` for a scale of `1 + w`); saving takes it off again.
    pub norm_offset: f32,
}

impl Pretrained {
    /// The model at `path`: a short name, a GGUF file or a Hugging Face
    /// folder, as [`crate::load::model`] takes it.
    pub fn load(path: impl AsRef<Path>) -> Result<Pretrained> {
        let (file, path, recipe) = crate::load::recipe(path)?;
        Self::from_recipe(&file, recipe, path, None)
    }

    /// The model a recipe describes, every weight trained, or (with `lora`)
    /// frozen as loaded with adapters beside the targeted projections.
    pub fn from_recipe(
        file: &ModelFile,
        recipe: Recipe,
        path: PathBuf,
        lora: Option<LoraConfig>,
    ) -> Result<Pretrained> {
        let weights = Weights {
            file,
            quantize: None,
            patch: None,
        };
        let tape = match (&lora, &recipe) {
            (None, _) => Tape::new(),
            (Some(l), Recipe::Llama(_, naming)) => Tape::with_lora(l.clone(), *naming)?,
            (Some(_), Recipe::Gpt2(..)) => {
                return Err(Error::Invalid(
                    "LoRA adapts Llama-family models; GPT-2 fine-tunes in full".into(),
                ))
            }
        };
        if let (Some(_), Recipe::Llama(config, _)) = (&lora, &recipe) {
            if config.traits.fused {
                return Err(Error::Invalid(format!(
                    "LoRA on {}'s fused projections is not supported; fine-tune it in full",
                    config.arch
                )));
            }
        }
        let norm_offset = match &recipe {
            Recipe::Llama(config, _) => config.norm_offset,
            Recipe::Gpt2(..) => 0.0,
        };
        let body = match recipe {
            Recipe::Llama(config, naming) => {
                Body::Llama(Box::new(Llama::load(config, &weights, naming, &tape)?))
            }
            Recipe::Gpt2(config, naming) => {
                Body::Gpt2(Box::new(Gpt2::load(config, &weights, naming, &tape)?))
            }
        };
        let (graph, adapters) = tape.finish();
        Ok(Pretrained {
            graph,
            adapters,
            lora,
            body,
            path,
            format: file.format(),
            norm_offset,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        match &self.body {
            Body::Llama(m) => m.info(),
            Body::Gpt2(m) => m.info(),
        }
    }

    /// Logits `[batch · seq, vocab]` of `batch` sequences (`ids`, row after
    /// row), each read from position 0.
    pub fn forward(&mut self, ids: &[u32], batch: usize) -> Result<Var> {
        self.forward_packed(ids, batch, Arc::default(), None)
    }

    /// [`Pretrained::forward`] of sequences packed from several documents:
    /// `starts` gives, for each token, where its document begins in its
    /// sequence; each document is read as if alone. `dropout` draws LoRA's
    /// dropout masks (training); None reads without dropout.
    pub fn forward_packed(
        &mut self,
        ids: &[u32],
        batch: usize,
        starts: Arc<Vec<usize>>,
        dropout: Option<&mut Rng>,
    ) -> Result<Var> {
        let info = self.info();
        let seq = ids.len() / batch.max(1);
        if seq > info.context_length {
            return Err(Error::Invalid(format!(
                "forward: sequences of {seq} tokens exceed the model's context of {}",
                info.context_length
            )));
        }
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= info.vocab_size) {
            return Err(Error::Invalid(format!(
                "forward: token {bad} is outside the vocabulary of {}",
                info.vocab_size
            )));
        }
        let dims = Dims::of(info);
        let mut exec = TapeExec::new(&mut self.graph, dims, ids, batch, starts)?;
        if let Some(rng) = dropout {
            exec = exec.with_dropout(rng);
        }
        match &self.body {
            Body::Llama(m) => run(&**m, &mut exec)?,
            Body::Gpt2(m) => run(&**m, &mut exec)?,
        }
        exec.get(Slot::Logits)
    }

    /// [`Pretrained::loss`] of sequences packed from several documents (see
    /// [`Pretrained::forward_packed`]).
    pub fn loss_packed(
        &mut self,
        ids: &[u32],
        targets: &[u32],
        batch: usize,
        starts: Arc<Vec<usize>>,
        dropout: Option<&mut Rng>,
    ) -> Result<Var> {
        let logits = self.forward_packed(ids, batch, starts, dropout)?;
        self.graph.cross_entropy(logits, targets)
    }

    /// Mean next-token cross-entropy of `batch` sequences against
    /// `targets` (one per token; `IGNORE` leaves a position unscored).
    pub fn loss(&mut self, ids: &[u32], targets: &[u32], batch: usize) -> Result<Var> {
        let logits = self.forward(ids, batch)?;
        self.graph.cross_entropy(logits, targets)
    }
}

fn run(arch: &impl Architecture<Tape>, exec: &mut TapeExec) -> Result<()> {
    arch.body(exec)?;
    arch.head(exec)
}
