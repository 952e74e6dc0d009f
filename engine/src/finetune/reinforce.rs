//! What the faces drive in reinforcement learning, whatever the policy: a
//! model trained here on a toy task ([`GrpoRun`]) or a pretrained chat
//! model practising additions ([`ChatAddition`]). Scripts and notebooks
//! hold either behind one value (`rlvr(#{…})`) with the same methods;
//! `monologue rlvr` drives them the same way.

use super::arithmetic;
use super::rl::{ChatGrpo, ChatProblem, Reward};
use crate::error::Result;
use crate::generate::Rng;
use crate::train::grpo::{GrpoRecord, GrpoRun};
use crate::train::tasks::Problem;
use std::path::{Path, PathBuf};

/// Held-out problems come from their own stream (the seed mixed with
/// this), never the one practice problems are drawn from.
const HELD_OUT: u64 = 0x0e7a1;
const PRACTICE: u64 = 0x9a11;

pub trait Reinforcer: Send {
    /// One GRPO step, rewarded by the task, or by `reward(completion,
    /// answer)` when one is given.
    fn step(&mut self, reward: Option<&mut Reward>) -> Result<GrpoRecord>;
    /// The share of `n` held-out problems (the same ones at every call)
    /// answered right, greedily.
    fn exact_match(&mut self, n: usize) -> Result<f64>;
    fn history(&self) -> &[GrpoRecord];
    /// Saves the policy under `dir` as a checkpoint any face loads;
    /// returns its folder.
    fn save(&self, dir: &Path) -> Result<PathBuf>;
    /// What is being trained, in a line.
    fn describe(&self) -> String;
}

impl Reinforcer for GrpoRun {
    fn step(&mut self, reward: Option<&mut Reward>) -> Result<GrpoRecord> {
        match reward {
            Some(reward) => self.step_with(reward),
            None => GrpoRun::step(self),
        }
    }
    fn exact_match(&mut self, n: usize) -> Result<f64> {
        let problems = held_out_problems(self, n);
        GrpoRun::exact_match(self, &problems)
    }
    fn history(&self) -> &[GrpoRecord] {
        &self.history
    }
    fn save(&self, dir: &Path) -> Result<PathBuf> {
        crate::train::checkpoint::save(&self.policy, dir)
    }
    fn describe(&self) -> String {
        self.policy.model.architecture().describe()
    }
}

/// `n` held-out problems of a toy task, from the fixed held-out stream.
pub fn held_out_problems(run: &GrpoRun, n: usize) -> Vec<Problem> {
    let mut rng = Rng::new(HELD_OUT);
    (0..n)
        .map(|_| run.task.problem(&mut rng, run.config.max_len))
        .collect()
}

/// GRPO on a chat model with the addition task: practice problems drawn
/// from one stream, held-out ones from another, both set by the seed.
pub struct ChatAddition {
    pub grpo: ChatGrpo,
    pub digits: usize,
    practice: Vec<ChatProblem>,
    seed: u64,
}

impl ChatAddition {
    /// How many practice problems GRPO draws from.
    const PRACTICE_SIZE: usize = 10_000;

    pub fn new(grpo: ChatGrpo, digits: usize, seed: u64) -> Self {
        let practice =
            arithmetic::problems(&mut Rng::new(seed ^ PRACTICE), Self::PRACTICE_SIZE, digits);
        ChatAddition {
            grpo,
            digits,
            practice,
            seed,
        }
    }

    /// The first `n` held-out problems (the same at every call).
    pub fn held_out(&self, n: usize) -> Vec<ChatProblem> {
        arithmetic::problems(&mut Rng::new(self.seed ^ HELD_OUT), n, self.digits)
    }
}

/// The task's own reward: the answer after the reasoning, checked.
fn addition_reward(reply: &str, answer: &str) -> Result<f64> {
    Ok(arithmetic::reward(reply, answer))
}

impl Reinforcer for ChatAddition {
    fn step(&mut self, reward: Option<&mut Reward>) -> Result<GrpoRecord> {
        match reward {
            Some(reward) => self.grpo.step(&self.practice, reward),
            None => self.grpo.step(&self.practice, &mut addition_reward),
        }
    }
    fn exact_match(&mut self, n: usize) -> Result<f64> {
        let problems = self.held_out(n);
        self.grpo.accuracy(&problems, &mut addition_reward)
    }
    fn history(&self) -> &[GrpoRecord] {
        &self.grpo.history
    }
    fn save(&self, dir: &Path) -> Result<PathBuf> {
        self.grpo.save(dir)
    }
    fn describe(&self) -> String {
        let what = match self.grpo.policy.lora {
            Some(ref l) => format!("LoRA rank {}", l.rank),
            None => "every weight".to_string(),
        };
        format!(
            "{} ({what}) on {}-digit additions",
            self.grpo.policy.path.display(),
            self.digits
        )
    }
}
