//! The prompt options that `generate`, `logits` and `bench` share, and
//! loading the model they name.

use clap::Args;
use monologue::model::LoadOptions;
use monologue::LanguageModel;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ModelArgs {
    /// A GGUF file, a Hugging Face folder, or `smollm2` (the default model).
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// The engine's load options (quantize, kv-cache, backend).
    #[command(flatten)]
    pub load: LoadOptions,
    #[command(flatten)]
    pub threads: monologue::backend::cpu::pool::ThreadOptions,
}

impl ModelArgs {
    pub fn load(&self) -> Result<LanguageModel, Box<dyn std::error::Error>> {
        self.threads.apply()?;
        Ok(LanguageModel::load(&self.model, &self.load)?)
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
