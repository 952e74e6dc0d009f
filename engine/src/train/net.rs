//! The models a run can train, behind one face: build, loss, logits.

use super::gpt::{Gpt, GptConfig};
use super::graph::{Graph, Var};
use super::rnn::{Rnn, RnnConfig, RnnState};
use crate::error::Result;
use crate::generate::Rng;
use serde::{Deserialize, Serialize};

/// Which model, and its shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "architecture", rename_all = "lowercase")]
pub enum Architecture {
    Gpt(GptConfig),
    Rnn(RnnConfig),
}

impl Architecture {
    /// The name `--arch` and checkpoints use.
    pub fn name(&self) -> &'static str {
        match self {
            Architecture::Gpt(_) => "gpt",
            Architecture::Rnn(_) => "rnn",
        }
    }

    pub fn vocab(&self) -> usize {
        match self {
            Architecture::Gpt(c) => c.vocab,
            Architecture::Rnn(c) => c.vocab,
        }
    }

    /// The same shape for another vocabulary (the data's tokenizer's).
    pub fn with_vocab(self, vocab: usize) -> Architecture {
        match self {
            Architecture::Gpt(c) => Architecture::Gpt(GptConfig { vocab, ..c }),
            Architecture::Rnn(c) => Architecture::Rnn(RnnConfig { vocab, ..c }),
        }
    }

    /// The longest sequence the model takes (None: any length).
    pub fn context(&self) -> Option<usize> {
        match self {
            Architecture::Gpt(c) => Some(c.context),
            Architecture::Rnn(_) => None,
        }
    }

    /// A one-line description for progress output.
    pub fn describe(&self) -> String {
        match self {
            Architecture::Gpt(c) => format!(
                "GPT: {} layers, width {}, {} heads, vocabulary {}",
                c.layers, c.width, c.heads, c.vocab
            ),
            Architecture::Rnn(c) => format!(
                "GRU+RWKV RNN: {} layers, hidden {}, embedding {}, {} heads, {}, vocabulary {}",
                c.layers,
                c.hidden,
                c.embed,
                c.heads,
                if c.fast {
                    "no MoE (fast)".to_string()
                } else {
                    format!("{} experts (top-{} + expert 0)", c.experts, c.top_k)
                },
                c.vocab
            ),
        }
    }
}

/// A model on the tape.
pub enum Net {
    Gpt(Gpt),
    Rnn(Rnn),
}

impl Net {
    pub fn new(arch: Architecture, g: &mut Graph, rng: &mut Rng) -> Result<Net> {
        Ok(match arch {
            Architecture::Gpt(c) => Net::Gpt(Gpt::new(c, g, rng)?),
            Architecture::Rnn(c) => Net::Rnn(Rnn::new(c, g, rng)?),
        })
    }

    pub fn architecture(&self) -> Architecture {
        match self {
            Net::Gpt(m) => Architecture::Gpt(m.config),
            Net::Rnn(m) => Architecture::Rnn(m.config),
        }
    }

    /// The training loss of `batch` windows.
    pub fn loss(&self, g: &mut Graph, ids: &[u32], targets: &[u32], batch: usize) -> Result<Var> {
        match self {
            Net::Gpt(m) => m.loss(g, ids, targets, batch),
            Net::Rnn(m) => m.loss(g, ids, targets, batch),
        }
    }

    /// Logits `[batch · seq, vocab]` of `batch` sequences read from the
    /// start.
    pub fn forward(&self, g: &mut Graph, ids: &[u32], batch: usize) -> Result<Var> {
        match self {
            Net::Gpt(m) => m.forward(g, ids, batch),
            Net::Rnn(m) => {
                let mut state = RnnState::zeros(&m.config, batch);
                Ok(m.forward(g, ids, &mut state)?.logits)
            }
        }
    }
}
