//! The chat the page talks to, in plain Rust (native tests drive it too).
//!
//! A reply is driven one token per [`WebChat::step`] call, so the Web
//! Worker returns to its event loop between tokens: a stop message gets
//! through, and progress reaches the page as it happens.

use monologue::chat_session::{ChatSession, Turn, TurnOptions};
use monologue::generate::{Message, TextKind};
use monologue::language_model::LanguageModel;
use monologue::model::adapter::AdapterSource;
use monologue::model::LoadOptions;
use monologue::profile::{self, SummaryRow};
use monologue::{Error, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

#[cfg(feature = "webgpu")]
mod webgpu;
#[cfg(feature = "webgpu")]
pub use webgpu::{PassTiming, Submitted};

/// What the page may set for one message: `think` and `profile` here, and
/// any of the engine's generation options (`temperature`, `max_tokens`,
/// `seed`, `think_budget`, …, with the engine's names and defaults; see
/// `GenerateOptions`). Missing keys take defaults; unknown keys are errors.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Open the reply with `<think>`.
    pub think: bool,
    /// Record per-kernel timing for this reply.
    pub profile: bool,
    /// The engine's generation options, as given.
    pub generate: serde_json::Map<String, serde_json::Value>,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            think: false,
            profile: true,
            generate: serde_json::Map::new(),
        }
    }
}

impl SendOptions {
    /// Splits the page's JSON object into its own keys and the engine's.
    pub fn from_json(text: &str) -> Result<SendOptions> {
        if text.trim().is_empty() {
            return Ok(SendOptions::default());
        }
        let mut generate: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text)
                .map_err(|e| Error::Invalid(format!("send options: not a JSON object: {e}")))?;
        let flag = |map: &mut serde_json::Map<_, _>, key: &str, default| match map.remove(key) {
            None => Ok(default),
            Some(serde_json::Value::Bool(b)) => Ok(b),
            Some(other) => Err(Error::Invalid(format!(
                "send options: `{key}` must be true or false, not {other}"
            ))),
        };
        Ok(SendOptions {
            think: flag(&mut generate, "think", false)?,
            profile: flag(&mut generate, "profile", true)?,
            generate,
        })
    }
}

/// One piece of streamed text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Piece {
    /// `reasoning` or `answer`.
    pub kind: &'static str,
    pub text: String,
}

/// What one step produced.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub pieces: Vec<Piece>,
    /// The reply is over: call [`WebChat::finish`].
    pub done: bool,
    pub tokens: usize,
    pub reasoning_tokens: usize,
}

/// The summary of a finished reply.
#[derive(Debug, Clone, Serialize)]
pub struct ReplyStats {
    pub stop: &'static str,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    pub reasoning_tokens: usize,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    /// The whole reply as token ids (what a test compares with the CLI).
    pub token_ids: Vec<u32>,
    pub answer: String,
    pub reasoning: String,
    /// Per-kernel totals, the most expensive first (empty unless profiled).
    pub kernels: Vec<SummaryRow>,
    pub backend: String,
}

/// The loaded model and a description for the page.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub name: String,
    /// The LoRA adapter merged in as it loaded, if any.
    pub adapter: Option<String>,
    pub architecture: String,
    pub layers: usize,
    pub d_model: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub vocab: usize,
    pub context: usize,
    pub load_ms: f64,
    pub backend: String,
    /// Threads the CPU kernels use (1 on the GPU path).
    pub threads: usize,
    /// The engine's generation options as they start (the page's settings
    /// show them).
    pub defaults: monologue::generate::GenerateOptions,
}

pub struct WebChat {
    lm: Arc<LanguageModel>,
    session: ChatSession,
    turn: Option<Turn>,
    /// Whether the turn in progress records kernel timings.
    profiling: bool,
    backend: String,
    /// Positions a conversation may hold.
    capacity: usize,
    /// The LoRA adapter merged in, by name.
    adapter: Option<String>,
}

/// A LoRA adapter (a `peft` folder's two files) as the page fetched it.
pub struct AdapterFiles {
    /// Where it came from, shown in messages and the summary.
    pub name: String,
    /// `adapter_config.json`'s text.
    pub config: String,
    /// `adapter_model.safetensors`'s bytes.
    pub weights: Vec<u8>,
}

/// Most positions a browser conversation holds: the KV cache lives in the
/// page's memory (SmolLM2 at 4096 positions: 4096 × 30 layers × 2 × 192
/// floats = 189 MB in f32).
const MAX_CONTEXT: usize = 4096;

impl WebChat {
    /// Load a GGUF file's bytes (`name` is shown in messages) for the CPU.
    pub fn load(bytes: &[u8], name: &str) -> Result<Self> {
        Self::load_with(
            bytes,
            name,
            &LoadOptions::default(),
            cpu_backend_name(),
            None,
        )
    }

    /// Load for the backend `options` name (`backend` describes it to the
    /// page), with a LoRA adapter's files merged in as the weights load
    /// when given. On the GPU, replies are stepped with
    /// [`submit_step`](Self::submit_step) and [`accept_step`](Self::accept_step).
    pub fn load_with(
        bytes: &[u8],
        name: &str,
        options: &LoadOptions,
        backend: String,
        adapter: Option<&AdapterFiles>,
    ) -> Result<Self> {
        let start = profile::now_ns();
        let file = monologue::io::ModelFile::from_bytes(bytes, name)?;
        let path = PathBuf::from(name);
        let mut lm = match adapter {
            Some(files) => {
                let source = AdapterSource::Contents {
                    name: &files.name,
                    config: &files.config,
                    weights: &files.weights,
                };
                LanguageModel::from_file_with_adapter(&file, path, options, &source)?
            }
            None => LanguageModel::from_file(&file, path, options)?,
        };
        lm.load_ms = profile::now_ns().saturating_sub(start) as f64 * 1e-6;
        let lm = Arc::new(lm);
        let capacity = lm.model.info().context_length.min(MAX_CONTEXT);
        let session = ChatSession::new(lm.clone(), None, Some(capacity))?;
        Ok(WebChat {
            adapter: adapter.map(|a| a.name.clone()),
            lm,
            session,
            turn: None,
            profiling: false,
            backend,
            capacity,
        })
    }

    /// Whether forward passes run on the GPU (step with
    /// [`submit_step`](Self::submit_step) then).
    pub fn on_gpu(&self) -> bool {
        #[cfg(feature = "webgpu")]
        return self.lm.model.gpu_submit().is_some();
        #[cfg(not(feature = "webgpu"))]
        false
    }

    /// The conversation so far, to carry over to another backend.
    pub fn messages(&self) -> Vec<Message> {
        self.session.messages().to_vec()
    }

    /// Continue `messages` (from [`messages`](Self::messages) of another
    /// chat) here.
    pub fn restore(&mut self, messages: Vec<Message>) {
        self.abandon_reply();
        self.session.restore(messages);
    }

    pub fn summary(&self) -> ModelSummary {
        let info = self.lm.model.info();
        ModelSummary {
            name: self.lm.path.display().to_string(),
            adapter: self.adapter.clone(),
            architecture: info.architecture.clone(),
            layers: info.n_layers,
            d_model: info.d_model,
            heads: info.n_heads,
            kv_heads: info.n_kv_heads,
            vocab: info.vocab_size,
            context: self.capacity,
            load_ms: self.lm.load_ms,
            backend: self.backend.clone(),
            threads: if self.on_gpu() {
                1
            } else {
                monologue::backend::cpu::pool::global().threads()
            },
            defaults: self.lm.options(),
        }
    }

    /// A new conversation, with an optional system message. A reply in
    /// progress is dropped.
    pub fn new_chat(&mut self, system: Option<&str>) -> Result<()> {
        self.abandon_reply();
        let system = system.map(str::trim).filter(|s| !s.is_empty());
        self.session = ChatSession::new(self.lm.clone(), system, Some(self.capacity))?;
        Ok(())
    }

    /// Forget the conversation, keeping its system message. A reply in
    /// progress is dropped.
    pub fn reset(&mut self) {
        self.abandon_reply();
        self.session.reset();
    }

    /// Ends a reply in progress inside the conversation it belongs to, so
    /// that nothing of it reaches the next one.
    fn abandon_reply(&mut self) {
        if let Some(mut turn) = self.turn.take() {
            turn.cancel();
            self.session.end(turn, &mut |_, _| {});
            self.end_profile();
        }
    }

    /// The user says `text`; the reply then comes through [`step`](Self::step).
    pub fn send(&mut self, text: &str, options: &SendOptions) -> Result<()> {
        if self.turn.is_some() {
            return Err(Error::Invalid(
                "a reply is still being written: stop it or let it finish first".into(),
            ));
        }
        let generate = self.lm.options().with_json(&options.generate)?;
        let turn_options = TurnOptions {
            generate,
            think: options.think,
        };
        self.profiling = options.profile;
        if self.profiling {
            profile::start();
        }
        match self.session.begin(text, &turn_options) {
            Ok(turn) => {
                self.turn = Some(turn);
                Ok(())
            }
            Err(e) => {
                self.end_profile();
                Err(e)
            }
        }
    }

    /// One token of the reply (the first call also reads the prompt).
    pub fn step(&mut self) -> Result<StepReport> {
        let Some(turn) = self.turn.as_mut() else {
            return Err(Error::Invalid(
                "no reply in progress: send a message first".into(),
            ));
        };
        let mut pieces = Vec::new();
        if !turn.is_done() {
            let result = self.session.step(turn, &mut |text, kind| {
                pieces.push(piece(text, kind));
            });
            if let Err(e) = result {
                return Err(self.failed(e));
            }
        }
        Ok(report(turn, pieces))
    }

    /// A step failed: the session took the message back and the turn is over.
    fn failed(&mut self, e: Error) -> Error {
        self.turn = None;
        self.end_profile();
        e
    }

    /// Ends the reply after the token already streamed.
    pub fn stop(&mut self) {
        if let Some(turn) = self.turn.as_mut() {
            turn.cancel();
        }
    }

    /// Closes the reply: the last held-back text, and its numbers.
    pub fn finish(&mut self) -> Result<(Vec<Piece>, ReplyStats)> {
        let Some(turn) = self.turn.take() else {
            return Err(Error::Invalid("no reply in progress".into()));
        };
        let mut pieces = Vec::new();
        let generation = self.session.end(turn, &mut |text, kind| {
            pieces.push(piece(text, kind));
        });
        let kernels = self.end_profile();
        let t = &generation.timings;
        let stats = ReplyStats {
            stop: generation.stop.name(),
            prompt_tokens: t.prompt_tokens,
            generated_tokens: t.generated_tokens,
            reasoning_tokens: generation.reasoning_tokens,
            prefill_ms: t.prefill_ms,
            decode_ms: t.decode_ms,
            prefill_tok_s: t.prefill_tok_s(),
            decode_tok_s: t.decode_tok_s(),
            token_ids: generation.tokens.clone(),
            answer: generation.answer,
            reasoning: generation.reasoning,
            kernels,
            backend: self.backend.clone(),
        };
        Ok((pieces, stats))
    }

    fn end_profile(&mut self) -> Vec<SummaryRow> {
        if !std::mem::take(&mut self.profiling) {
            return Vec::new();
        }
        profile::stop().summary()
    }
}

fn piece(text: &str, kind: TextKind) -> Piece {
    Piece {
        kind: match kind {
            TextKind::Reasoning => "reasoning",
            TextKind::Answer => "answer",
        },
        text: text.to_string(),
    }
}

/// What a step reports once `pieces` have streamed.
fn report(turn: &Turn, pieces: Vec<Piece>) -> StepReport {
    let progress = turn.progress();
    StepReport {
        pieces,
        done: turn.is_done(),
        tokens: progress.tokens.len(),
        reasoning_tokens: progress.reasoning_tokens,
    }
}

/// The CPU path and its instruction set, as the page shows it.
pub fn cpu_backend_name() -> String {
    if cfg!(target_arch = "wasm32") {
        let simd = if cfg!(target_feature = "simd128") {
            ", SIMD128"
        } else {
            ""
        };
        match monologue::backend::cpu::pool::global().threads() {
            1 => format!("cpu (wasm{simd})"),
            n => format!("cpu (wasm{simd}, {n} threads)"),
        }
    } else {
        "cpu (native)".into()
    }
}
