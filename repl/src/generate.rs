//! `monologue generate`: stream a continuation (or, later, a chat reply).

use crate::prompt::{ModelArgs, PromptArgs};
use clap::Args;
use monologue::generate::{GenerateOptions, Message, TextKind};
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
    /// Always take the most likely token (same as --temperature 0).
    #[arg(long, conflicts_with_all = ["temperature", "top_k", "top_p", "min_p"])]
    pub greedy: bool,
    /// The engine's generation options, with the engine's names and defaults.
    #[command(flatten)]
    pub generate: GenerateOptions,
    /// Print one JSON object at the end instead of streaming text.
    #[arg(long)]
    pub json: bool,
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
    let mut options = GenerateOptions {
        stop_ids: options.stop_ids,
        starts_in_reasoning: options.starts_in_reasoning,
        ..args.generate.clone()
    };
    if args.greedy {
        options.sampler.temperature = 0.0;
    }
    options.sampler.validate()?;
    if let Some(&(id, _)) = options
        .sampler
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
