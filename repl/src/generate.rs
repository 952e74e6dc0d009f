//! `monologue generate`: stream a continuation (or, later, a chat reply).

use crate::prompt::{ModelArgs, PromptArgs};
use clap::Args;
use monologue::generate::{Message, SamplerConfig, TextKind};
use serde_json::json;
use std::io::Write;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Render the prompt as one user message through the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// A system message (implies --chat).
    #[arg(long)]
    pub system: Option<String>,
    /// Open the reply with <think>: the model reasons first (implies --chat).
    #[arg(long)]
    pub think: bool,
    /// Most reasoning tokens; then </think> is forced and the answer follows.
    #[arg(long, value_name = "N")]
    pub think_budget: Option<usize>,
    /// Most answer tokens to generate.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// Stop when the text would contain this (not shown); repeatable.
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Print one JSON object at the end instead of streaming text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SamplingArgs {
    /// Always take the most likely token (same as --temperature 0).
    #[arg(long, conflicts_with_all = ["temperature", "top_k", "top_p", "min_p"])]
    pub greedy: bool,
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// 0 keeps every token.
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// 1 is off.
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Subtracted once from the logit of every token already seen (0 is off).
    #[arg(long, default_value_t = 0.0)]
    pub presence_penalty: f32,
    /// Subtracted per occurrence from the logit of every token seen (0 is off).
    #[arg(long, default_value_t = 0.0)]
    pub frequency_penalty: f32,
    /// Add BIAS to token ID's logit (`--logit-bias 13=-inf` bans it); repeatable.
    #[arg(long, value_name = "ID=BIAS", value_parser = parse_bias)]
    pub logit_bias: Vec<(u32, f32)>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn parse_bias(s: &str) -> Result<(u32, f32), String> {
    let (id, bias) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected ID=BIAS, e.g. 13=-2.5 or 13=-inf"))?;
    let id = id
        .trim()
        .parse()
        .map_err(|e| format!("`{s}`: token id: {e}"))?;
    let bias: f32 = bias
        .trim()
        .parse()
        .map_err(|e| format!("`{s}`: bias: {e}"))?;
    if bias.is_nan() {
        return Err(format!("`{s}`: the bias is not a number"));
    }
    Ok((id, bias))
}

impl SamplingArgs {
    pub fn config(&self) -> SamplerConfig {
        let config = SamplerConfig {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repetition_penalty: self.repeat_penalty,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            logit_bias: self.logit_bias.clone(),
            seed: self.seed,
            ..SamplerConfig::default()
        };
        if self.greedy {
            SamplerConfig {
                temperature: 0.0,
                ..config
            }
        } else {
            config
        }
    }
}

pub fn run(args: &GenerateArgs) -> Result<(), Box<dyn std::error::Error>> {
    let lm = args.model.load()?;
    let chat = args.chat || args.system.is_some() || args.think;
    let mut options = lm.options();
    let prompt = match args.prompt.ids(lm.model.info().vocab_size)? {
        Some(_) if chat => return Err("--chat needs a text prompt, not --ids-file".into()),
        Some(ids) => ids,
        None => {
            let text = args.prompt.text()?.unwrap_or_default();
            if chat {
                let mut messages = Vec::new();
                if let Some(system) = &args.system {
                    messages.push(Message::system(system));
                }
                messages.push(Message::user(text));
                let (rendered, inside) = lm.chat_prompt(&messages, args.think)?;
                options.starts_in_reasoning = inside;
                lm.encode(&rendered)
            } else {
                lm.encode(&text)
            }
        }
    };
    let mut state = lm.new_state(None)?;
    options.max_tokens = args.max_tokens;
    options.stop_strings = args.stop.clone();
    if let Some(&(id, _)) = args
        .sampling
        .logit_bias
        .iter()
        .find(|(id, _)| *id as usize >= lm.model.info().vocab_size)
    {
        return Err(format!(
            "--logit-bias: token id {id} is outside the vocabulary of {}",
            lm.model.info().vocab_size
        )
        .into());
    }
    options.think_budget = args.think_budget;
    options.sampler = args.sampling.config();

    let stdout = std::io::stdout();
    let dim = std::io::IsTerminal::is_terminal(&stdout);
    let mut print = |piece: &str, kind: TextKind| {
        if args.json {
            return;
        }
        let mut out = stdout.lock();
        // Reasoning is dimmed on a terminal; a closed pipe (`| head`) is not
        // an error worth reporting.
        let _ = match (kind, dim) {
            (TextKind::Reasoning, true) => write!(out, "\x1b[2m{piece}\x1b[0m"),
            _ => out.write_all(piece.as_bytes()),
        }
        .and_then(|_| out.flush());
    };
    let generation = lm.generate(&mut state, &prompt, &options, None, &mut print)?;
    if args.json {
        let t = &generation.timings;
        let report = json!({
            "prompt_tokens": prompt,
            "tokens": generation.tokens,
            "text": generation.text,
            "reasoning": generation.reasoning,
            "answer": generation.answer,
            "stop": generation.stop.name(),
            "timings": {
                "load_ms": lm.load_ms,
                "prefill_tok_s": t.prefill_tok_s(),
                "decode_tok_s": t.decode_tok_s(),
            },
        });
        println!("{report}");
    } else {
        println!();
    }
    Ok(())
}
