//! What the faces drive, whatever trains: a model from scratch ([`Run`])
//! or a pretrained one being fine-tuned ([`FineTune`]). Scripts and
//! notebooks hold either behind one value with the same methods (`steps`,
//! `live`, `plot`, `save`, …).

use super::FineTune;
use crate::error::Result;
use crate::train::run::{Run, StepRecord};
use std::path::{Path, PathBuf};

pub trait Trainer: Send {
    /// One optimizer update.
    fn step(&mut self) -> Result<StepRecord>;
    fn history(&self) -> &[StepRecord];
    /// Updates done, and the schedule's length.
    fn steps_done(&self) -> usize;
    fn total_steps(&self) -> usize;
    /// The mean validation loss (None without validation data).
    fn evaluate(&mut self) -> Result<Option<f32>>;
    /// Saves a checkpoint under `dir`; returns its folder.
    fn save(&self, dir: &Path) -> Result<PathBuf>;
    /// What is being trained, in a line.
    fn describe(&self) -> String;
}

impl Trainer for Run {
    fn step(&mut self) -> Result<StepRecord> {
        Run::step(self)
    }
    fn history(&self) -> &[StepRecord] {
        &self.history
    }
    fn steps_done(&self) -> usize {
        self.step
    }
    fn total_steps(&self) -> usize {
        self.config.steps
    }
    fn evaluate(&mut self) -> Result<Option<f32>> {
        let batches = self.config.eval_batches;
        Run::evaluate(self, batches).map(Some)
    }
    fn save(&self, dir: &Path) -> Result<PathBuf> {
        crate::train::checkpoint::save(self, dir)
    }
    fn describe(&self) -> String {
        self.model.architecture().describe()
    }
}

impl Trainer for FineTune {
    fn step(&mut self) -> Result<StepRecord> {
        FineTune::step(self)
    }
    fn history(&self) -> &[StepRecord] {
        &self.history
    }
    fn steps_done(&self) -> usize {
        self.step
    }
    fn total_steps(&self) -> usize {
        self.config.steps
    }
    fn evaluate(&mut self) -> Result<Option<f32>> {
        FineTune::evaluate(self)
    }
    fn save(&self, dir: &Path) -> Result<PathBuf> {
        FineTune::save(self, dir)
    }
    fn describe(&self) -> String {
        let info = self.model.info();
        match &self.model.lora {
            Some(l) => format!(
                "{} ({}), LoRA rank {}",
                self.base, info.architecture, l.rank
            ),
            None => format!("{} ({}), every weight", self.base, info.architecture),
        }
    }
}
