//! A model ready to talk: the network, its tokenizer and its end-of-turn
//! tokens, loaded from one name or path. This is what the command line, the
//! scripting API and the browser hold.

use crate::error::{Error, Result};
use crate::generate::reasoning::ThinkTags;
use crate::generate::{
    self, ChatTemplate, GenerateOptions, Generation, Message, RenderOptions, TextKind,
};
use crate::io::{Format, ModelFile};
use crate::load;
use crate::model::adapter::AdapterSource;
use crate::model::{LoadOptions, Model, State};
use crate::tokenizer::Tokenizer;
use std::path::{Path, PathBuf};

/// Tokens that end an assistant turn in the chat formats we know, used in
/// addition to the tokenizer's own end-of-sequence id.
const END_OF_TURN: [&str; 7] = [
    "<|im_end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|end|>",
    "</s>",
];

pub struct LanguageModel {
    /// Where the model was loaded from.
    pub path: PathBuf,
    pub model: Box<dyn Model>,
    pub tokenizer: Tokenizer,
    /// Tokens that end generation.
    pub stop_ids: Vec<u32>,
    /// Whether prompts start with the BOS token (the file says).
    pub add_bos: bool,
    /// The model's own chat template, or our ChatML default if it has none.
    pub chat_template: ChatTemplate,
    /// BOS/EOS strings and other variables the template is rendered with.
    pub render_options: RenderOptions,
    /// Wall time of the load, in milliseconds.
    pub load_ms: f64,
    /// Element type of the key/value caches this model's states get.
    pub kv_dtype: crate::DType,
}

impl LanguageModel {
    /// Load by path (a GGUF file, a Hugging Face folder) or by the name
    /// `smollm2` (the default model that `scripts/fetch-model.sh` fetches).
    pub fn load(name_or_path: &str, options: &LoadOptions) -> Result<Self> {
        let start = crate::profile::now_ns();
        let path = load::resolve_model_path(name_or_path)?;
        let mut lm = match load::adapter_base(&path)? {
            // A LoRA adapter: its base's file, text side and all, with the
            // adapters merged in as the weights load.
            Some(base) => {
                let file = ModelFile::open(&base)?;
                Self::build(
                    &file,
                    base.clone(),
                    options,
                    Some(&AdapterSource::Folder(&path)),
                )?
            }
            None => Self::from_file(&ModelFile::open(&path)?, path, options)?,
        };
        lm.load_ms = crate::profile::now_ns().saturating_sub(start) as f64 * 1e-6;
        Ok(lm)
    }

    /// Build from a model file already opened (or received as bytes, as in
    /// the browser); `path` names where it came from.
    pub fn from_file(file: &ModelFile, path: PathBuf, options: &LoadOptions) -> Result<Self> {
        Self::build(file, path, options, None)
    }

    /// [`LanguageModel::from_file`] with LoRA adapters (a `peft` folder, or
    /// its files' contents as a page receives them) merged in as the
    /// weights load: no merged copy of the model is ever written.
    pub fn from_file_with_adapter(
        file: &ModelFile,
        path: PathBuf,
        options: &LoadOptions,
        adapter: &AdapterSource,
    ) -> Result<Self> {
        Self::build(file, path, options, Some(adapter))
    }

    fn build(
        file: &ModelFile,
        path: PathBuf,
        options: &LoadOptions,
        adapter: Option<&AdapterSource>,
    ) -> Result<Self> {
        let start = crate::profile::now_ns();
        // The network and the tokenizer are independent: build them side by
        // side (the tokenizer's tables take most of a load).
        let (model, text) = crate::backend::cpu::pool::join(
            || match adapter {
                Some(source) => load::model_with_adapter(file, &path, options, source),
                None => load::model_from_file(file, &path, options),
            },
            || Self::load_text(file, &path),
        );
        let (model, (tokenizer, template, render_options)) = (model?, text?);
        let stop_ids = Self::stop_ids_of(&tokenizer);
        let add_bos = tokenizer.add_bos_default();
        let chat_template = template.unwrap_or_else(|| {
            ChatTemplate::fallback(|name| tokenizer.token_to_id(name).is_some())
        });
        Ok(LanguageModel {
            path,
            model,
            tokenizer,
            stop_ids,
            add_bos,
            chat_template,
            render_options,
            load_ms: crate::profile::now_ns().saturating_sub(start) as f64 * 1e-6,
            kv_dtype: options.kv_cache.unwrap_or(crate::DType::F32),
        })
    }

    /// The tokens that end generation: EOS and the special end-of-turn
    /// tokens the vocabulary has.
    pub fn stop_ids_of(tokenizer: &Tokenizer) -> Vec<u32> {
        let mut stop_ids: Vec<u32> = tokenizer.eos_id().into_iter().collect();
        for name in END_OF_TURN {
            if let Some(id) = tokenizer.token_to_id(name) {
                if tokenizer.is_special(id) && !stop_ids.contains(&id) {
                    stop_ids.push(id);
                }
            }
        }
        stop_ids
    }

    /// The tokenizer, chat template (the model's own, or our default when
    /// it has none) and template variables of a model file.
    pub fn chat_text(
        file: &ModelFile,
        path: &Path,
    ) -> Result<(Tokenizer, ChatTemplate, RenderOptions)> {
        let (tokenizer, template, options) = Self::load_text(file, path)?;
        let template = template.unwrap_or_else(|| {
            ChatTemplate::fallback(|name| tokenizer.token_to_id(name).is_some())
        });
        Ok((tokenizer, template, options))
    }

    /// The tokenizer, chat template and template variables of a model file
    /// (from GGUF metadata, or the files beside a Hugging Face checkpoint).
    fn load_text(
        file: &ModelFile,
        path: &Path,
    ) -> Result<(Tokenizer, Option<ChatTemplate>, RenderOptions)> {
        Ok(match file.format() {
            Format::Gguf => (
                Tokenizer::from_gguf(file.metadata())?,
                ChatTemplate::from_gguf(file.metadata())?,
                RenderOptions::from_gguf(file.metadata())?,
            ),
            Format::Safetensors => {
                let dir = if path.is_dir() {
                    path
                } else {
                    path.parent().unwrap_or(Path::new("."))
                };
                let config = dir.join("tokenizer_config.json");
                let (template, options) = match crate::io::read_text(&config) {
                    Ok(json) => (
                        ChatTemplate::from_tokenizer_config(&json)
                            .map_err(|e| Error::file(config.display(), e))?,
                        RenderOptions::from_tokenizer_config(&json)
                            .map_err(|e| Error::file(config.display(), e))?,
                    ),
                    // Only a missing file means no template; an unreadable
                    // one (a FIFO, far too large) is an error.
                    Err(_) if !config.exists() => (None, RenderOptions::default()),
                    Err(e) => return Err(e),
                };
                (Tokenizer::from_hf_dir(dir)?, template, options)
            }
        })
    }

    /// Token ids of `text`, special tokens parsed, with BOS if the model
    /// asks for one.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text, true, self.add_bos)
    }

    /// The tokens of `text` (special tokens parsed, BOS as the model
    /// wants), shown as coloured spans in notebooks.
    pub fn show_tokens(&self, text: &str) -> crate::rich::TokenView {
        crate::rich::TokenView {
            tokens: self
                .encode(text)
                .into_iter()
                .map(|id| (id, self.tokenizer.token_display(id).unwrap_or_default()))
                .collect(),
        }
    }

    /// The `k` most likely tokens after `text`, with their probabilities.
    pub fn top_k(&self, text: &str, k: usize) -> Result<crate::rich::TopK> {
        let ids = self.encode(text);
        if ids.is_empty() {
            return Err(Error::Invalid("top_k: the text has no tokens".into()));
        }
        let mut state = self.new_state(Some(ids.len()))?;
        let logits = self
            .model
            .forward(&mut state, &ids, crate::model::Logits::Last)?;
        let d = generate::Distribution::of(&logits);
        Ok(crate::rich::TopK {
            rows: d
                .top(&logits, k)
                .into_iter()
                .map(|c| {
                    let text = self.tokenizer.token_display(c.id).unwrap_or_default();
                    (c, text)
                })
                .collect(),
        })
    }

    /// A fresh state for `capacity` positions (the model's full context if
    /// `None`, capped at 8192 to keep the KV cache modest).
    pub fn new_state(&self, capacity: Option<usize>) -> Result<State> {
        let context = self.model.info().context_length;
        self.model
            .new_state_with(capacity.unwrap_or(context.min(8192)), self.kv_dtype)
    }

    /// Generation options with this model's end tokens filled in.
    pub fn options(&self) -> GenerateOptions {
        GenerateOptions {
            stop_ids: self.stop_ids.clone(),
            ..GenerateOptions::default()
        }
    }

    /// The prompt text for `messages` through the model's chat template,
    /// ending with the assistant's turn opened. With `think`, the turn opens
    /// with `<think>` (unless the template already did that itself, e.g. on
    /// `enable_thinking`); the returned flag says whether the prompt ends
    /// inside reasoning.
    pub fn chat_prompt(&self, messages: &[Message], think: bool) -> Result<(String, bool)> {
        let options = self.render_options.clone().with("enable_thinking", think);
        let mut prompt = self.chat_template.render(messages, true, &options)?;
        let tags = ThinkTags::default();
        let opened = |p: &str| {
            let trimmed = p.trim_end();
            trimmed.ends_with(&tags.open)
        };
        if think && !opened(&prompt) {
            prompt.push_str(&tags.open);
            prompt.push('\n');
        }
        let inside = opened(&prompt);
        Ok((prompt, inside))
    }

    /// Generate from `prompt` ids, continuing `state`.
    pub fn generate(
        &self,
        state: &mut State,
        prompt: &[u32],
        options: &GenerateOptions,
        cancel: Option<&std::sync::atomic::AtomicBool>,
        on_text: &mut dyn FnMut(&str, TextKind),
    ) -> Result<Generation> {
        generate::generate(
            self.model.as_ref(),
            &self.tokenizer,
            state,
            prompt,
            options,
            cancel,
            on_text,
        )
    }
}
