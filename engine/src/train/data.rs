//! Training data: a text tokenized once, split into training and validation
//! parts, and drawn from as random fixed-length windows.

use crate::error::{Error, Result};
use crate::generate::Rng;
use crate::tokenizer::{train as bpe, PreTokenizer, Tokenizer};

/// The end-of-text token every tokenizer made here starts with (id 0).
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// A byte-level tokenizer with no merges: one token per byte (a
/// character-level model for ASCII text), plus `<|endoftext|>`. It is an
/// ordinary BPE tokenizer, so it saves and loads like any other.
pub fn byte_tokenizer() -> Result<Tokenizer> {
    bpe::train(
        std::iter::empty(),
        &bpe::TrainOptions {
            vocab_size: 257,
            min_frequency: 1,
            special_tokens: vec![END_OF_TEXT.into()],
            pre: PreTokenizer::Gpt2,
        },
    )
}

/// Which part of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
}

pub struct Dataset {
    pub tokenizer: Tokenizer,
    pub train: Vec<u32>,
    pub validation: Vec<u32>,
}

impl Dataset {
    /// Tokenizes `text` (special tokens such as `<|endoftext|>` are read
    /// as such) and keeps its last `validation_fraction` for validation.
    pub fn new(text: &str, tokenizer: Tokenizer, validation_fraction: f64) -> Result<Dataset> {
        if !(0.0..1.0).contains(&validation_fraction) {
            return Err(Error::Invalid(format!(
                "the validation fraction must be in [0, 1), not {validation_fraction}"
            )));
        }
        let ids = tokenizer.encode(text, true, false);
        let cut = ids.len() - (ids.len() as f64 * validation_fraction) as usize;
        Ok(Dataset {
            validation: ids[cut..].to_vec(),
            train: ids[..cut].to_vec(),
            tokenizer,
        })
    }

    fn tokens(&self, split: Split) -> &[u32] {
        match split {
            Split::Train => &self.train,
            Split::Validation => &self.validation,
        }
    }

    /// Checks that `split` holds at least one window of `seq` + 1 tokens.
    pub fn check_fits(&self, split: Split, seq: usize) -> Result<()> {
        let have = self.tokens(split).len();
        if have < seq + 1 {
            return Err(Error::Invalid(format!(
                "the {} data has {have} tokens, fewer than one sequence of {seq} plus its next token",
                match split {
                    Split::Train => "training",
                    Split::Validation => "validation",
                }
            )));
        }
        Ok(())
    }

    /// `batch` random windows of `split`: the inputs and, one token later,
    /// the targets, each `batch · seq` ids.
    pub fn batch(
        &self,
        split: Split,
        batch: usize,
        seq: usize,
        rng: &mut Rng,
    ) -> Result<(Vec<u32>, Vec<u32>)> {
        self.check_fits(split, seq)?;
        let tokens = self.tokens(split);
        let starts = tokens.len() - seq;
        let (mut ids, mut targets) = (Vec::new(), Vec::new());
        for _ in 0..batch {
            let at = rng.below(starts);
            ids.extend_from_slice(&tokens[at..at + seq]);
            targets.extend_from_slice(&tokens[at + 1..at + seq + 1]);
        }
        Ok((ids, targets))
    }

    /// The next window of each of `cursors.len()` streams through the
    /// training data (truncated back-propagation through time reads the
    /// data in order): row `b` reads `seq` tokens from `cursors[b]`, which
    /// then moves on by `seq`. A stream that would run past the end (or
    /// has not started: `usize::MAX`) restarts at a random place, and
    /// `restarted[b]` says so, for its carried state to be reset.
    pub fn stream_windows(
        &self,
        cursors: &mut [usize],
        seq: usize,
        rng: &mut Rng,
    ) -> Result<(Vec<u32>, Vec<u32>, Vec<bool>)> {
        self.check_fits(Split::Train, seq)?;
        let tokens = &self.train;
        let (mut ids, mut targets, mut restarted) = (Vec::new(), Vec::new(), Vec::new());
        for at in cursors.iter_mut() {
            let fresh = at.checked_add(seq + 1).is_none_or(|end| end > tokens.len());
            if fresh {
                *at = rng.below(tokens.len() - seq);
            }
            ids.extend_from_slice(&tokens[*at..*at + seq]);
            targets.extend_from_slice(&tokens[*at + 1..*at + seq + 1]);
            restarted.push(fresh);
            *at += seq;
        }
        Ok((ids, targets, restarted))
    }
}
