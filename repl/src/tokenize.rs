//! `monologue tokenize`, `monologue train-tokenizer` and
//! `monologue bench tokenizer`.

use clap::Args;
use monologue::tokenizer::{train, PreTokenizer, Tokenizer};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// A GGUF file, a tokenizer.json, a Hugging Face folder, or a short
    /// model name (smollm2, gemma3).
    #[arg(long)]
    pub model: PathBuf,
    /// Match special tokens such as <|im_start|> (otherwise they are text).
    #[arg(long)]
    pub special: bool,
    /// Never prepend the BOS token (by default: if the tokenizer asks for it).
    #[arg(long)]
    pub no_bos: bool,
    /// Read JSON strings, one per line, from stdin; print one id array per line.
    #[arg(long, conflicts_with = "text")]
    pub jsonl: bool,
    /// The text to tokenize; `-` reads stdin.
    #[arg(required_unless_present = "jsonl")]
    pub text: Option<String>,
}

pub fn tokenize(args: &TokenizeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let tok = open(&args.model)?;
    let bos = !args.no_bos && tok.add_bos_default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.jsonl {
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line?;
            let text: String = serde_json::from_str(&line)
                .map_err(|e| format!("stdin line {}: expected a JSON string: {e}", n + 1))?;
            let ids = tok.encode(&text, args.special, bos);
            writeln!(out, "{}", serde_json::to_string(&ids)?)?;
        }
    } else {
        let text = match args.text.as_deref() {
            Some("-") => {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            }
            Some(t) => t.to_string(),
            None => String::new(),
        };
        writeln!(
            out,
            "{}",
            serde_json::to_string(&tok.encode(&text, args.special, bos))?
        )?;
    }
    out.flush()?;
    Ok(())
}

/// The tokenizer of `model`: a path, or a short model name.
pub fn open(model: &std::path::Path) -> Result<Tokenizer, Box<dyn std::error::Error>> {
    let path = match model.to_str() {
        Some(name) => monologue::load::resolve_model_path(name)?,
        None => model.to_path_buf(),
    };
    Ok(Tokenizer::open(path)?)
}

#[derive(Args, Debug)]
pub struct TrainTokenizerArgs {
    /// Text files to learn from.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Vocabulary size: special tokens + 256 bytes + merges.
    #[arg(long)]
    pub vocab_size: usize,
    /// Stop merging when the best pair occurs fewer times than this.
    #[arg(long, default_value_t = 2)]
    pub min_frequency: u64,
    /// Special tokens (given the first ids).
    #[arg(long, num_args = 0..)]
    pub special: Vec<String>,
    /// Pre-tokenizer: a GGUF `tokenizer.ggml.pre` name (gpt2, llama3,
    /// qwen2, qwen35, smollm, deepseek-coder, ...).
    #[arg(long, default_value = "gpt2")]
    pub pre: String,
    /// Where to write the tokenizer.json.
    #[arg(long)]
    pub output: PathBuf,
}

pub fn train_tokenizer(args: &TrainTokenizerArgs) -> Result<(), Box<dyn std::error::Error>> {
    let texts = args
        .input
        .iter()
        .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())))
        .collect::<Result<Vec<_>, _>>()?;
    let options = train::TrainOptions {
        vocab_size: args.vocab_size,
        min_frequency: args.min_frequency,
        special_tokens: args.special.clone(),
        pre: PreTokenizer::from_gguf_name(&args.pre)?,
    };
    let start = std::time::Instant::now();
    let tok = train::train(texts.iter().map(String::as_str), &options)?;
    let tmp = args.output.with_extension("json.tmp");
    std::fs::write(&tmp, tok.to_json()?).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &args.output).map_err(|e| format!("{}: {e}", args.output.display()))?;
    eprintln!(
        "trained {} tokens on {:.1} MB in {:.2} s → {}",
        tok.vocab_size(),
        texts.iter().map(String::len).sum::<usize>() as f64 / 1e6,
        start.elapsed().as_secs_f64(),
        args.output.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct BenchTokenizerArgs {
    /// A GGUF file, a tokenizer.json, a Hugging Face folder, or a short
    /// model name (smollm2, gemma3).
    #[arg(long)]
    pub model: PathBuf,
    /// A text file to encode.
    #[arg(long)]
    pub input: PathBuf,
    /// The input holds one JSON string per line: each is one record of the
    /// batch, and the single-thread run encodes them joined.
    #[arg(long)]
    pub jsonl: bool,
    /// Match special tokens such as <|endoftext|> (as Hugging Face
    /// `tokenizers` always does); otherwise they are text.
    #[arg(long)]
    pub special: bool,
    /// Threads for batch encoding (1: the plain single-thread encoder).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Encode the file's lines as a batch even on one thread (to measure
    /// how batches scale with threads).
    #[arg(long)]
    pub batch: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn bench_tokenizer(args: &BenchTokenizerArgs) -> Result<(), Box<dyn std::error::Error>> {
    let tok = open(&args.model)?;
    let file = std::fs::read_to_string(&args.input)
        .map_err(|e| format!("{}: {e}", args.input.display()))?;
    let records: Vec<String> = if args.jsonl {
        file.lines()
            .enumerate()
            .map(|(n, line)| {
                serde_json::from_str(line).map_err(|e| {
                    format!(
                        "{} line {}: expected a JSON string: {e}",
                        args.input.display(),
                        n + 1
                    )
                })
            })
            .collect::<Result<_, _>>()?
    } else {
        // Batches are split at line ends so that each thread gets whole lines.
        file.split_inclusive('\n').map(str::to_string).collect()
    };
    let text = records.concat();
    let threads = args.threads.max(1);
    monologue::backend::cpu::pool::set_threads(threads);
    let mut tokens = 0;
    let seconds = monologue::bench::median_seconds(5, || {
        tokens = if threads == 1 && !args.batch {
            tok.encode(&text, args.special, false).len()
        } else {
            tok.encode_batch(&records, args.special, false)
                .iter()
                .map(Vec::len)
                .sum()
        };
    });
    let mb_per_s = text.len() as f64 / seconds * 1e-6;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"bytes": text.len(), "tokens": tokens, "seconds": seconds, "mb_per_s": mb_per_s, "threads": threads, "batch": args.batch || threads > 1})
        );
    } else {
        println!(
            "{} bytes → {tokens} tokens in {seconds:.3} s (median of 5): {mb_per_s:.1} MB/s, {threads} thread(s)",
            text.len()
        );
    }
    Ok(())
}
