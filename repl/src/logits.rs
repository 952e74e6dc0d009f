//! `monologue logits`: the model's logits for a prompt, as top-k lists or
//! full vectors (for comparing with other implementations).

use crate::prompt::{ModelArgs, PromptArgs};
use clap::Args;
use monologue::model::Logits;
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct LogitsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Report the K largest logits per position instead of full vectors.
    #[arg(long, value_name = "K")]
    pub top: Option<usize>,
    /// Every position of the prompt, not only the last.
    #[arg(long)]
    pub all: bool,
    /// Print JSON (the default prints a readable table; needs --top).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &LogitsArgs) -> Result<(), Box<dyn std::error::Error>> {
    let lm = args.model.load()?;
    let vocab = lm.model.info().vocab_size;
    let tokens = match args.prompt.ids(vocab)? {
        Some(ids) => ids,
        None => lm.encode(&args.prompt.text()?.unwrap_or_default()),
    };
    if tokens.is_empty() {
        return Err("the prompt has no tokens".into());
    }
    if !args.json && args.top.is_none() {
        return Err("without --json, give --top K (full vectors are only printed as JSON)".into());
    }
    let mut state = lm.new_state(Some(tokens.len()))?;
    let which = if args.all { Logits::All } else { Logits::Last };
    let logits = lm.model.forward(&mut state, &tokens, which)?;
    let rows = logits.len() / vocab;
    let positions: Vec<usize> = (tokens.len() - rows..tokens.len()).collect();

    let mut report = json!({ "tokens": tokens, "positions": positions });
    match args.top {
        Some(k) => {
            let tops: Vec<Value> = logits
                .chunks_exact(vocab)
                .map(|row| top_k_json(&lm, row, k))
                .collect();
            if args.json {
                report["top"] = Value::Array(tops);
            } else {
                for (pos, top) in positions.iter().zip(&tops) {
                    println!("position {pos}:");
                    for entry in top.as_array().into_iter().flatten() {
                        println!(
                            "  {:>7} {:<20} logit {:>8.3}  p {:.4}",
                            entry["id"],
                            entry["token"].to_string(),
                            entry["logit"].as_f64().unwrap_or(0.0),
                            entry["prob"].as_f64().unwrap_or(0.0)
                        );
                    }
                }
                return Ok(());
            }
        }
        None => {
            report["logits"] = Value::Array(logits.chunks_exact(vocab).map(|r| json!(r)).collect());
        }
    }
    println!("{report}");
    Ok(())
}

fn top_k_json(lm: &monologue::LanguageModel, row: &[f32], k: usize) -> Value {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = row.iter().map(|&l| ((l - max) as f64).exp()).sum();
    let mut ids: Vec<usize> = (0..row.len()).collect();
    let k = k.min(row.len());
    if k > 0 && k < ids.len() {
        ids.select_nth_unstable_by(k - 1, |&a, &b| row[b].total_cmp(&row[a]));
    }
    ids.truncate(k);
    ids.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    Value::Array(
        ids.into_iter()
            .map(|id| {
                json!({
                    "id": id,
                    "token": lm.tokenizer.token_display(id as u32).unwrap_or_default(),
                    "logit": row[id],
                    "prob": ((row[id] - max) as f64).exp() / sum,
                })
            })
            .collect(),
    )
}
