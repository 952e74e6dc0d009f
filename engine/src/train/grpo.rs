//! GRPO (group relative policy optimisation) with verifiable rewards: for
//! each prompt, sample a group of completions, reward them, and push up the
//! log-probability of those better than their group's mean, within a
//! clipped ratio and near a frozen reference model.

use super::adamw::clip_grad_norm;
use super::graph::{Graph, GrpoTokens};
use super::kernels::grpo::{advantages, Objective};
use super::kernels::loss::IGNORE;
use super::net::Net;
use super::run::Run;
use super::tasks::{exact, reward, Problem, Task};
use crate::error::{Error, Result};
use crate::generate::{Rng, Sampler, SamplerConfig};
use serde::{Deserialize, Serialize};

/// How GRPO samples and updates: the option names and defaults of every
/// face (`monologue rlvr --group 8`, `rlvr(#{ group: 8 })`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct GrpoConfig {
    /// Completions sampled per prompt.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GrpoConfig::default().group))]
    pub group: usize,
    /// Prompts per step.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GrpoConfig::default().prompts))]
    pub prompts: usize,
    /// Learning rate (small: GRPO sharpens a trained model; 5e-4 already
    /// undoes a tiny copy model's warm-up).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GrpoConfig::default().lr))]
    pub lr: f32,
    /// ε of the clipped probability ratio.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GrpoConfig::default().clip))]
    pub clip: f32,
    /// β of the KL penalty to the starting model (0: none).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GrpoConfig::default().beta))]
    pub beta: f32,
    /// Sampling temperature of the completions.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GrpoConfig::default().temperature))]
    pub temperature: f32,
    /// Most tokens per completion.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GrpoConfig::default().max_new))]
    pub max_new: usize,
    /// Optimizer updates per sampled batch (more than one makes the
    /// ratio move away from 1, where clipping acts).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GrpoConfig::default().updates))]
    pub updates: usize,
    /// Longest task string (letters, for copy and reverse).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = GrpoConfig::default().max_len))]
    pub max_len: usize,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        GrpoConfig {
            group: 8,
            prompts: 4,
            lr: 5e-5,
            clip: 0.2,
            beta: 0.02,
            temperature: 1.0,
            max_new: 8,
            updates: 2,
            max_len: 5,
        }
    }
}

/// What one step saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrpoRecord {
    pub step: usize,
    /// Mean reward of the sampled completions.
    pub reward: f64,
    /// Share of groups whose rewards all tie (they teach nothing).
    pub frac_zero_std: f64,
    pub clip_ratio: f64,
    pub kl: f64,
    /// Mean length of the sampled completions, in tokens.
    #[serde(default)]
    pub completion_len: f64,
}

/// Samples `group` completions of `prompt` from `model` at `temperature`,
/// each ending at `stop` (included) or after `max_new` tokens, through the
/// engine's sampler with nothing filtered (no top-k, top-p or min-p: the
/// policy gradient needs draws from the policy itself). No cache: each
/// token reruns the (short) sequences.
#[allow(clippy::too_many_arguments)]
pub fn sample(
    model: &Net,
    g: &mut Graph,
    prompt: &[u32],
    group: usize,
    max_new: usize,
    temperature: f32,
    stop: u32,
    rng: &mut Rng,
) -> Result<Vec<Vec<u32>>> {
    let arch = model.architecture();
    let (vocab, context) = (arch.vocab(), arch.context().unwrap_or(usize::MAX));
    let mut sampler = Sampler::new(SamplerConfig {
        temperature: temperature.max(0.0),
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        seed: rng.next_u64(),
        ..SamplerConfig::default()
    })?;
    let mut seqs: Vec<Vec<u32>> = vec![prompt.to_vec(); group];
    let mut done = vec![false; group];
    for _ in 0..max_new {
        let len = seqs[0].len();
        if len >= context || done.iter().all(|&d| d) {
            break;
        }
        let ids: Vec<u32> = seqs.iter().flatten().copied().collect();
        let logits = model.forward(g, &ids, group)?;
        let values = g.value(logits).to_vec();
        g.clear();
        for (s, seq) in seqs.iter_mut().enumerate() {
            let row = &values[(s * len + len - 1) * vocab..][..vocab];
            let next = if done[s] {
                stop
            } else {
                sampler.sample(&mut row.to_vec(), &[])?
            };
            done[s] |= next == stop;
            seq.push(next);
        }
    }
    Ok(seqs
        .into_iter()
        .map(|s| s[prompt.len()..].to_vec())
        .collect())
}

/// Per-token log-probabilities of `completions` after `prompt` under the
/// parameters in `g`, with the ids and targets they were scored on (IGNORE
/// rows, the prompt and padding, give 0).
fn logprobs(
    model: &Net,
    g: &mut Graph,
    prompt: &[u32],
    completions: &[Vec<u32>],
    pad: u32,
) -> Result<(Vec<f32>, Vec<u32>, Vec<u32>)> {
    let width = prompt.len() + completions.iter().map(Vec::len).max().unwrap_or(0);
    let (mut ids, mut targets) = (Vec::new(), Vec::new());
    for c in completions {
        let mut seq = prompt.to_vec();
        seq.extend(c);
        seq.resize(width, pad);
        for i in 0..width - 1 {
            ids.push(seq[i]);
            let scored = i + 1 >= prompt.len() && i + 1 < prompt.len() + c.len();
            targets.push(if scored { seq[i + 1] } else { IGNORE });
        }
    }
    let logits = model.forward(g, &ids, completions.len())?;
    let lp = g.logprob(logits, &targets)?;
    let values = g.value(lp).to_vec();
    g.clear();
    Ok((values, ids, targets))
}

/// The completion up to its stop token, as text.
fn text_of(run: &Run, completion: &[u32], stop: u32) -> Result<String> {
    let end = completion
        .iter()
        .position(|&t| t == stop)
        .unwrap_or(completion.len());
    // Sampled bytes need not be valid UTF-8; wrong ones just earn less.
    let mut text = run.data.tokenizer.decode_lossy(&completion[..end])?;
    if end < completion.len() {
        text.push('\n');
    }
    Ok(text)
}

pub struct GrpoRun {
    pub policy: Run,
    /// The frozen starting point, for the KL penalty.
    pub reference: Graph,
    pub task: Task,
    pub config: GrpoConfig,
    pub step: usize,
    pub history: Vec<GrpoRecord>,
    rng: Rng,
    stop: u32,
}

impl GrpoRun {
    /// GRPO on `task` starting from `policy` (a supervised run).
    pub fn new(policy: Run, task: Task, config: GrpoConfig, seed: u64) -> Result<GrpoRun> {
        let stop = *policy
            .data
            .tokenizer
            .encode("\n", false, false)
            .first()
            .ok_or_else(|| Error::Invalid("the tokenizer cannot write a newline".into()))?;
        let mut reference = Graph::new();
        for p in &policy.graph.params {
            let mut frozen = p.clone();
            frozen.trainable = false;
            reference.params.push(frozen);
        }
        Ok(GrpoRun {
            policy,
            reference,
            task,
            config,
            step: 0,
            history: Vec::new(),
            rng: Rng::new(seed),
            stop,
        })
    }

    /// GRPO on `task` starting from the model saved in `checkpoint` (a
    /// supervised run's folder or one checkpoint), with a fresh optimizer.
    pub fn from_checkpoint(
        checkpoint: &std::path::Path,
        task: Task,
        config: GrpoConfig,
        seed: u64,
    ) -> Result<GrpoRun> {
        // The run needs data to stand on; the task's own lines serve.
        let text = task.corpus(&mut Rng::new(seed ^ 0xc0de), 400, config.max_len);
        let mut policy = super::checkpoint::resume(checkpoint, &text, 0.0)?;
        policy.optimizer = super::adamw::AdamW::new(policy.config.adamw, &policy.graph.params);
        GrpoRun::new(policy, task, config, seed)
    }

    fn encode(&self, text: &str) -> Vec<u32> {
        self.policy.data.tokenizer.encode(text, false, false)
    }

    /// One GRPO step: sample, reward, then `updates` optimizer updates.
    pub fn step(&mut self) -> Result<GrpoRecord> {
        self.step_with(&mut |completion, answer| Ok(reward(completion, answer)))
    }

    /// [`GrpoRun::step`] with another reward: `reward(completion, answer)`
    /// scores each sampled completion (its text up to the newline) against
    /// the problem's answer. A reward outside [0, 1] is allowed; the
    /// advantages normalise within each group anyway.
    pub fn step_with(
        &mut self,
        reward: &mut dyn FnMut(&str, &str) -> Result<f64>,
    ) -> Result<GrpoRecord> {
        let c = self.config.clone();
        let model = &self.policy.model;
        let mut batches = Vec::new();
        let (mut total_reward, mut tied, mut count, mut tokens) = (0.0, 0, 0, 0);
        for _ in 0..c.prompts {
            let problem = self.task.problem(&mut self.rng, c.max_len);
            let prompt = self.encode(&problem.prompt);
            let completions = sample(
                model,
                &mut self.policy.graph,
                &prompt,
                c.group,
                c.max_new,
                c.temperature,
                self.stop,
                &mut self.rng,
            )?;
            let rewards: Vec<f64> = completions
                .iter()
                .map(|comp| reward(&text_of(&self.policy, comp, self.stop)?, &problem.answer))
                .collect::<Result<_>>()?;
            if let Some(bad) = rewards.iter().find(|r| !r.is_finite()) {
                return Err(Error::Invalid(format!(
                    "a reward of {bad}: rewards must be finite"
                )));
            }
            total_reward += rewards.iter().sum::<f64>();
            count += rewards.len();
            tokens += completions.iter().map(Vec::len).sum::<usize>();
            if rewards.iter().all(|&r| r == rewards[0]) {
                tied += 1;
                continue;
            }
            let adv = advantages(&rewards, c.group);
            batches.push((prompt, completions, adv));
        }
        // The sampling policy's and the reference's log-probabilities.
        let mut prepared = Vec::new();
        for (prompt, completions, adv) in &batches {
            let model = &self.policy.model;
            let (old, ids, targets) = logprobs(
                model,
                &mut self.policy.graph,
                prompt,
                completions,
                self.stop,
            )?;
            // The reference holds the same parameters in the same order,
            // so the model's handles index it too.
            let (reference, _, _) =
                logprobs(model, &mut self.reference, prompt, completions, self.stop)?;
            let data = GrpoTokens::for_rows(old, reference, &targets, adv);
            prepared.push((ids, targets, completions.len(), data));
        }
        let objective = Objective {
            clip: c.clip as f64,
            beta: c.beta as f64,
        };
        let (mut clip_sum, mut kl_sum, mut measured) = (0.0, 0.0, 0);
        for _ in 0..c.updates {
            if prepared.is_empty() {
                break;
            }
            let g = &mut self.policy.graph;
            for (ids, targets, group, data) in &prepared {
                let logits = self.policy.model.forward(g, ids, *group)?;
                let lp = g.logprob(logits, targets)?;
                let (loss, stats) = g.grpo(lp, data.clone(), objective)?;
                g.backward_with(loss, 1.0 / prepared.len() as f32)?;
                g.clear();
                clip_sum += stats.clip_ratio;
                kl_sum += stats.kl;
                measured += 1;
            }
            clip_grad_norm(&mut g.params, 1.0);
            self.policy.optimizer.step(&mut g.params, c.lr);
            g.zero_grads();
        }
        self.step += 1;
        let record = GrpoRecord {
            step: self.step,
            reward: total_reward / count.max(1) as f64,
            frac_zero_std: tied as f64 / c.prompts.max(1) as f64,
            clip_ratio: clip_sum / measured.max(1) as f64,
            kl: kl_sum / measured.max(1) as f64,
            completion_len: tokens as f64 / count.max(1) as f64,
        };
        self.history.push(record.clone());
        Ok(record)
    }

    /// Exact-match rate of greedy answers on `problems`.
    pub fn exact_match(&mut self, problems: &[Problem]) -> Result<f64> {
        let mut right = 0;
        for p in problems {
            let prompt = self.encode(&p.prompt);
            let out = sample(
                &self.policy.model,
                &mut self.policy.graph,
                &prompt,
                1,
                self.config.max_new,
                0.0,
                self.stop,
                &mut self.rng,
            )?;
            if exact(&text_of(&self.policy, &out[0], self.stop)?, &p.answer) {
                right += 1;
            }
        }
        Ok(right as f64 / problems.len().max(1) as f64)
    }
}
