//! The prompt options that `generate`, `logits` and `bench` share, and
//! loading the model they name.

use clap::Args;
use monologue::model::LoadOptions;
use monologue::{DType, LanguageModel};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ModelArgs {
    /// A GGUF file, a Hugging Face folder, or `smollm2` (the default model).
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// Quantize float weights while loading (Q8_0 or Q4_1).
    #[arg(long, value_name = "TYPE")]
    pub quantize: Option<String>,
    #[command(flatten)]
    pub threads: monologue::backend::cpu::pool::ThreadOptions,
    /// Element type of the key/value cache: f32 (default) or f16.
    #[arg(long, value_name = "TYPE", default_value = "f32")]
    pub kv_cache: String,
    /// Where the forward pass runs: cpu, wgpu (the best GPU adapter),
    /// wgpu:NAME (an adapter whose name contains NAME), or wgpu-f32[:NAME]
    /// (no f16 arithmetic even where the GPU offers it).
    #[arg(long, default_value = "cpu")]
    pub backend: String,
}

impl ModelArgs {
    pub fn load(&self) -> Result<LanguageModel, Box<dyn std::error::Error>> {
        self.threads.apply()?;
        let quantize = match &self.quantize {
            None => None,
            Some(name) => match DType::from_name(name) {
                Some(d @ (DType::Q8_0 | DType::Q4_0 | DType::Q4_1)) => Some(d),
                _ => return Err(format!("--quantize {name}: use Q8_0, Q4_0 or Q4_1").into()),
            },
        };
        let kv_cache = match self.kv_cache.to_ascii_lowercase().as_str() {
            "f32" => DType::F32,
            "f16" => DType::F16,
            other => return Err(format!("--kv-cache {other}: use f32 or f16").into()),
        };
        let backend = self
            .backend
            .parse()
            .map_err(|e| format!("--backend: {e}"))?;
        let options = LoadOptions {
            quantize,
            kv_cache: Some(kv_cache),
            backend,
        };
        Ok(LanguageModel::load(&self.model, &options)?)
    }
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct PromptArgs {
    /// The prompt text (special tokens such as <|im_start|> are parsed).
    #[arg(long)]
    pub prompt: Option<String>,
    /// Read the prompt text from a file.
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,
    /// A JSON array of token ids, fed exactly as given.
    #[arg(long, value_name = "FILE")]
    pub ids_file: Option<PathBuf>,
}

impl PromptArgs {
    /// The prompt's text, if it was given as text.
    pub fn text(&self) -> Result<Option<String>, Box<dyn std::error::Error>> {
        if let Some(p) = &self.prompt {
            return Ok(Some(p.clone()));
        }
        if let Some(f) = &self.prompt_file {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            return Ok(Some(text));
        }
        Ok(None)
    }

    /// Ids from `--ids-file`, checked against the vocabulary.
    pub fn ids(&self, vocab_size: usize) -> Result<Option<Vec<u32>>, Box<dyn std::error::Error>> {
        let Some(f) = &self.ids_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let ids: Vec<u32> = serde_json::from_str(&text)
            .map_err(|e| format!("{}: expected a JSON array of token ids: {e}", f.display()))?;
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab_size) {
            return Err(format!(
                "{}: token id {bad} is outside the vocabulary of {vocab_size}",
                f.display()
            )
            .into());
        }
        Ok(Some(ids))
    }
}
