//! GRPO on a pretrained chat model (LoRA or every weight), with verifiable
//! rewards.
//!
//! ```text
//! step ─► the policy as an inference model (its current weights; KV cache, sampler)
//!      ─► per problem: the chat prompt once, `group` completions sampled from it
//!      ─► rewards (the answer checked, or any function) ─► advantages within each group
//!      ─► on the tape: the policy's log-probabilities (sampling time = "old"), and the
//!         reference's (the trained parameters' starting values swapped in)
//!      ─► `updates` × (clipped objective + k3 KL to the reference) ─► AdamW
//! ```
//! The objective and its statistics are the ones the from-scratch GRPO
//! uses (`kernels::grpo`); only where completions come from differs.

use super::pretrained::Pretrained;
use super::{model_file, ChatText};
use crate::error::{Error, Result};
use crate::generate::{Message, Rng, Sampler, SamplerConfig};
use crate::model::{Logits, Model};
use crate::train::adamw::{clip_grad_norm, AdamW, AdamWConfig};
use crate::train::graph::GrpoTokens;
use crate::train::grpo::{GrpoConfig, GrpoRecord};
use crate::train::kernels::grpo::{advantages, Objective};
use crate::train::kernels::loss::IGNORE;

/// One problem: the conversation the model answers, and the answer a
/// reward checks its reply against.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatProblem {
    pub messages: Vec<Message>,
    pub answer: String,
}

/// A reward: the reply's text (its reasoning included) and the problem's
/// answer give a score; the advantages normalise within each group.
pub type Reward<'a> = dyn FnMut(&str, &str) -> Result<f64> + 'a;

pub struct ChatGrpo {
    pub policy: Pretrained,
    pub text: ChatText,
    pub optimizer: AdamW,
    pub config: GrpoConfig,
    /// Open each reply with `<think>` (the model reasons first).
    pub think: bool,
    /// When scoring held-out problems: reasoning tokens allowed before
    /// `</think>` is written for the model, which then answers (None: no
    /// limit but `max_new`). Practice replies are never cut this way: the
    /// forced tokens would be trained on as the policy's own.
    pub think_budget: Option<usize>,
    pub step: usize,
    pub history: Vec<GrpoRecord>,
    /// The starting values of the trained parameters (every weight, or a
    /// LoRA model's adapters), empty for frozen ones: the reference the KL
    /// keeps the policy near. (An adapter that arrives trained, after
    /// SFT, is its own reference: not the base without it.)
    reference: Vec<Vec<f32>>,
    rng: Rng,
    stops: Vec<u32>,
}

impl ChatGrpo {
    pub fn new(policy: Pretrained, text: ChatText, config: GrpoConfig, seed: u64) -> Result<Self> {
        if config.group < 2 || config.prompts == 0 || config.max_new == 0 {
            return Err(Error::Invalid(format!(
                "GRPO needs groups of at least 2, at least one prompt and one new token (group {}, prompts {}, max_new {})",
                config.group, config.prompts, config.max_new
            )));
        }
        let reference = policy
            .graph
            .params
            .iter()
            .map(|p| match p.trainable {
                true => p.value.clone(),
                false => Vec::new(),
            })
            .collect();
        let adamw = AdamWConfig {
            weight_decay: 0.0,
            ..AdamWConfig::default()
        };
        let optimizer = AdamW::new(adamw, &policy.graph.params);
        let stops = crate::LanguageModel::stop_ids_of(&text.tokenizer);
        if stops.is_empty() {
            return Err(Error::Invalid(
                "the tokenizer has no end-of-sequence token to end a reply".into(),
            ));
        }
        Ok(ChatGrpo {
            policy,
            text,
            optimizer,
            config,
            think: false,
            think_budget: None,
            step: 0,
            history: Vec::new(),
            reference,
            rng: Rng::new(seed),
            stops,
        })
    }

    /// The prompt's token ids: the conversation through the chat template,
    /// the assistant's turn opened (with `<think>` when asked).
    pub fn prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        let options = self
            .text
            .options
            .clone()
            .with("enable_thinking", self.think);
        let mut prompt = self.text.template.render(messages, true, &options)?;
        if self.think && !prompt.trim_end().ends_with("<think>") {
            prompt.push_str("<think>\n");
        }
        let mut ids = self.text.tokenizer.encode(&prompt, true, false);
        if let Some(bos) = self.text.tokenizer.bos_id().filter(|_| self.text.add_bos) {
            if ids.first() != Some(&bos) {
                ids.insert(0, bos);
            }
        }
        Ok(ids)
    }

    /// `group` replies to `prompt` from `model`, at `temperature` (0:
    /// greedy), each ending with a stop token (kept) or after `max_new`;
    /// with a `budget`, reasoning still open after that many tokens is
    /// closed for the model (`</think>` fed as if written), which answers.
    fn sample(
        &mut self,
        model: &dyn Model,
        prompt: &[u32],
        group: usize,
        temperature: f32,
        budget: Option<usize>,
    ) -> Result<Vec<Vec<u32>>> {
        let max_new = self.config.max_new;
        let close = match budget {
            Some(_) => self.text.tokenizer.encode("\n</think>\n", false, false),
            None => Vec::new(),
        };
        let mut sampler = Sampler::new(SamplerConfig {
            temperature: temperature.max(0.0),
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed: self.rng.next_u64(),
            ..SamplerConfig::default()
        })?;
        let mut state = model.new_state(prompt.len() + max_new + close.len() + 1)?;
        let first = model.forward(&mut state, prompt, Logits::Last)?;
        let mut out = Vec::with_capacity(group);
        for _ in 0..group {
            state.truncate(prompt.len());
            let mut logits = first.clone();
            let mut reply = Vec::new();
            let mut reasoning = self.think;
            loop {
                let next = sampler.sample(&mut logits, &reply)?;
                reply.push(next);
                if self.stops.contains(&next) || reply.len() >= max_new {
                    break;
                }
                let mut feed = vec![next];
                if reasoning && self.closes_reasoning(&reply)? {
                    reasoning = false;
                }
                if reasoning && budget.is_some_and(|b| reply.len() >= b) {
                    reply.extend(&close);
                    feed.extend(&close);
                    reasoning = false;
                }
                logits = model.forward(&mut state, &feed, Logits::Last)?;
            }
            out.push(reply);
        }
        Ok(out)
    }

    /// Whether the reply's last tokens just wrote `</think>`.
    fn closes_reasoning(&self, reply: &[u32]) -> Result<bool> {
        let tail = &reply[reply.len().saturating_sub(4)..];
        Ok(self.text.tokenizer.decode_lossy(tail)?.contains("</think>"))
    }

    /// A reply's text, up to its stop token.
    fn reply_text(&self, reply: &[u32]) -> Result<String> {
        let end = reply
            .iter()
            .position(|t| self.stops.contains(t))
            .unwrap_or(reply.len());
        let mut text = self.text.tokenizer.decode_lossy(&reply[..end])?;
        if self.think {
            text.insert_str(0, "<think>\n");
        }
        Ok(text)
    }

    /// Per-token log-probabilities of `replies` after `prompt` (0 where not
    /// scored), with the ids and targets they were scored on.
    fn logprobs(
        &mut self,
        prompt: &[u32],
        replies: &[Vec<u32>],
        reference: bool,
    ) -> Result<(Vec<f32>, Vec<u32>, Vec<u32>)> {
        let width = prompt.len() + replies.iter().map(Vec::len).max().unwrap_or(0);
        let pad = self.stops[0];
        let (mut ids, mut targets) = (Vec::new(), Vec::new());
        for r in replies {
            let mut seq = prompt.to_vec();
            seq.extend(r);
            seq.resize(width, pad);
            for i in 0..width - 1 {
                ids.push(seq[i]);
                let scored = i + 1 >= prompt.len() && i + 1 < prompt.len() + r.len();
                targets.push(if scored { seq[i + 1] } else { IGNORE });
            }
        }
        if reference {
            self.swap_reference();
        }
        let result = (|| {
            let logits = self.policy.forward(&ids, replies.len())?;
            let lp = self.policy.graph.logprob(logits, &targets)?;
            Ok(self.policy.graph.value(lp).to_vec())
        })();
        self.policy.graph.clear();
        if reference {
            self.swap_reference();
        }
        Ok((result?, ids, targets))
    }

    /// Swaps the trained parameters with their starting values (twice
    /// restores them).
    fn swap_reference(&mut self) {
        let params = self.policy.graph.params.iter_mut();
        for (p, r) in params.zip(self.reference.iter_mut()) {
            if !r.is_empty() {
                std::mem::swap(&mut p.value, r);
            }
        }
    }

    /// One GRPO step over `problems` (`config.prompts` of them are drawn),
    /// each reply scored by `reward`.
    pub fn step(&mut self, problems: &[ChatProblem], reward: &mut Reward) -> Result<GrpoRecord> {
        if problems.is_empty() {
            return Err(Error::Invalid("GRPO: no problems to practise on".into()));
        }
        let c = self.config.clone();
        let model = model_file::inference_model(&self.policy)?;
        let (mut total, mut count, mut tied, mut tokens) = (0.0, 0, 0, 0);
        let mut batches = Vec::new();
        for _ in 0..c.prompts {
            let problem = &problems[self.rng.below(problems.len())];
            let prompt = self.prompt(&problem.messages)?;
            let replies = self.sample(&*model, &prompt, c.group, c.temperature, None)?;
            let rewards = replies
                .iter()
                .map(|r| reward(&self.reply_text(r)?, &problem.answer))
                .collect::<Result<Vec<f64>>>()?;
            if let Some(bad) = rewards.iter().find(|r| !r.is_finite()) {
                return Err(Error::Invalid(format!(
                    "a reward of {bad}: rewards must be finite"
                )));
            }
            total += rewards.iter().sum::<f64>();
            count += rewards.len();
            tokens += replies.iter().map(Vec::len).sum::<usize>();
            if rewards.iter().all(|&r| r == rewards[0]) {
                tied += 1;
                continue;
            }
            batches.push((prompt, replies, advantages(&rewards, c.group)));
        }
        drop(model);
        let mut prepared = Vec::new();
        for (prompt, replies, adv) in &batches {
            let (old, ids, targets) = self.logprobs(prompt, replies, false)?;
            let (reference, _, _) = self.logprobs(prompt, replies, true)?;
            let data = GrpoTokens::for_rows(old, reference, &targets, adv);
            prepared.push((ids, targets, replies.len(), data));
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
            for (ids, targets, group, data) in &prepared {
                let logits = self.policy.forward(ids, *group)?;
                let g = &mut self.policy.graph;
                let lp = g.logprob(logits, targets)?;
                let (loss, stats) = g.grpo(lp, data.clone(), objective)?;
                g.backward_with(loss, 1.0 / prepared.len() as f32)?;
                g.clear();
                clip_sum += stats.clip_ratio;
                kl_sum += stats.kl;
                measured += 1;
            }
            let g = &mut self.policy.graph;
            let norm = clip_grad_norm(&mut g.params, 1.0);
            if !norm.is_finite() {
                g.zero_grads();
                return Err(Error::Invalid(format!(
                    "GRPO: the gradient is {norm}; nothing was applied"
                )));
            }
            self.optimizer.step(&mut g.params, c.lr);
            g.zero_grads();
        }
        self.step += 1;
        let record = GrpoRecord {
            step: self.step,
            reward: total / count.max(1) as f64,
            frac_zero_std: tied as f64 / c.prompts as f64,
            clip_ratio: clip_sum / measured.max(1) as f64,
            kl: kl_sum / measured.max(1) as f64,
            completion_len: tokens as f64 / count.max(1) as f64,
        };
        self.history.push(record.clone());
        Ok(record)
    }

    /// The share of `problems` whose greedy reply earns a reward of 1.
    pub fn accuracy(&mut self, problems: &[ChatProblem], reward: &mut Reward) -> Result<f64> {
        let model = model_file::inference_model(&self.policy)?;
        let mut right = 0;
        for p in problems {
            let prompt = self.prompt(&p.messages)?;
            let reply = self.sample(&*model, &prompt, 1, 0.0, self.think_budget)?;
            if reward(&self.reply_text(&reply[0])?, &p.answer)? >= 1.0 {
                right += 1;
            }
        }
        Ok(right as f64 / problems.len().max(1) as f64)
    }
}

impl ChatGrpo {
    /// Saves the policy under `dir` as a checkpoint any face loads (`step-N`
    /// with `latest` naming it): a LoRA policy's adapters as a `peft`
    /// folder on its base, a full one as a model in its own format, with
    /// the step records beside it.
    pub fn save(&self, dir: &std::path::Path) -> Result<std::path::PathBuf> {
        crate::train::checkpoint::save_with(dir, self.step, |partial| {
            match self.policy.lora {
                Some(_) => {
                    let base = std::fs::canonicalize(&self.policy.path)
                        .unwrap_or_else(|_| self.policy.path.clone());
                    super::peft::write(&self.policy, partial, &base.display().to_string())?
                }
                None => {
                    model_file::write(&self.policy, partial)?;
                }
            }
            let records = serde_json::to_vec_pretty(&self.history)
                .map_err(|e| Error::Invalid(format!("GRPO records: {e}")))?;
            crate::io::atomic::write_synced(&partial.join("grpo.json"), &records)
        })
    }
}
