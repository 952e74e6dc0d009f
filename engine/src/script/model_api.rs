//! Models in scripts: `load_model`, tokenizing, generating (streamed to the
//! session's sink), chat sessions that keep their KV cache, logits and
//! top-k predictions.

use super::convert::{engine_err, int_array, runtime, token_ids, ScriptResult};
use super::options::{chat_request, generate_request, turn_request};
use super::register::{func, getter};
use super::Shared;
use crate::chat_session::{ChatSession, TurnOptions};
use crate::generate::{GenerateOptions, Generation, Message};
use crate::inspect::{Hooked, Intervention, Interventions};
use crate::model::{LoadOptions, Logits, Model};
use crate::tensor::Tensor;
use crate::LanguageModel;
use rhai::{Array, Dynamic, Engine, Map, FLOAT, INT};
use std::sync::{Arc, Mutex};

/// A loaded model, shared by every script value that names it.
#[derive(Clone)]
pub struct ModelHandle {
    pub lm: Arc<LanguageModel>,
    /// Interventions active inside `m.with_hooks(...)`, applied to every
    /// forward pass this model's calls make.
    pub(crate) hooks: Arc<Mutex<Vec<Intervention>>>,
}

/// A conversation with a model (`m.chat_session(...)`).
#[derive(Clone)]
pub struct ChatHandle {
    session: Arc<Mutex<ChatSession>>,
    turn: TurnOptions,
    /// The model the session talks to (its hooks apply to every turn).
    model: ModelHandle,
}

impl ChatHandle {
    /// A one-line summary: messages so far and positions cached.
    pub fn describe(&self) -> String {
        let s = self.session.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "Chat({} messages, {} positions cached)",
            s.messages().len(),
            s.position()
        )
    }
}

impl ModelHandle {
    pub(crate) fn load(name: &str, options: &LoadOptions) -> crate::Result<Self> {
        Ok(ModelHandle {
            lm: Arc::new(LanguageModel::load(name, options)?),
            hooks: Arc::default(),
        })
    }

    /// Run `f` with the network, wrapped in the active interventions if
    /// there are any.
    pub(crate) fn with_model<R>(&self, f: impl FnOnce(&dyn Model) -> R) -> R {
        let active = self.hooks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if active.is_empty() {
            return f(&*self.lm.model);
        }
        let mut hooks = Interventions(active);
        f(&Hooked::new(&*self.lm.model, &mut hooks))
    }

    fn describe(&self) -> String {
        let info = self.lm.model.info();
        let name = self
            .lm
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.lm.path.display().to_string());
        format!(
            "Model({name}: {}, {} layers, d_model {}, {} heads, vocab {}, context {})",
            info.architecture,
            info.n_layers,
            info.d_model,
            info.n_heads,
            info.vocab_size,
            info.context_length
        )
    }

    /// How a token reads (spaces shown as they are, bytes as <0xNN>).
    pub(crate) fn token_text(&self, id: u32) -> String {
        self.lm.tokenizer.token_display(id).unwrap_or_default()
    }

    /// Generation defaults: the model's end tokens, everything else as the
    /// engine's defaults.
    pub(crate) fn defaults(&self) -> GenerateOptions {
        self.lm.options()
    }

    /// What `m.generate(prompt, opts)` runs: the prompt's ids (rendered
    /// through the chat template when asked), the options, and a state big
    /// enough for the prompt, the answer and any reasoning budget.
    pub(crate) fn prepare(
        &self,
        prompt: &str,
        opts: &Map,
    ) -> ScriptResult<(Vec<u32>, GenerateOptions, crate::model::State)> {
        let request = generate_request(opts, self.defaults())?;
        let mut options = request.generate;
        let text = if request.chat {
            let mut messages = Vec::new();
            if let Some(system) = &request.system {
                messages.push(Message::system(system));
            }
            messages.push(Message::user(prompt));
            let (rendered, inside) = self
                .lm
                .chat_prompt(&messages, request.think)
                .map_err(engine_err)?;
            options.starts_in_reasoning = inside;
            rendered
        } else {
            prompt.to_string()
        };
        let ids = self.lm.encode(&text);
        if ids.is_empty() {
            return Err(runtime("generate: the prompt has no tokens"));
        }
        let capacity = (ids.len() + options.max_tokens + options.think_budget.unwrap_or(0) + 2)
            .min(self.lm.model.info().context_length);
        let state = self.lm.new_state(Some(capacity)).map_err(engine_err)?;
        Ok((ids, options, state))
    }

    fn generate(&self, shared: &Shared, prompt: &str, opts: &Map) -> ScriptResult<Generation> {
        let (ids, options, mut state) = self.prepare(prompt, opts)?;
        self.with_model(|model| {
            crate::generate::generate(
                model,
                &self.lm.tokenizer,
                &mut state,
                &ids,
                &options,
                Some(&shared.cancel),
                &mut |piece, kind| shared.emit_text(piece, kind),
            )
        })
        .map_err(engine_err)
    }

    /// Logits of every position of `text` (`[positions, vocab]`), or of the
    /// last one.
    fn logits(&self, text: &str, which: Logits) -> ScriptResult<(Vec<u32>, Vec<f32>)> {
        let ids = self.lm.encode(text);
        if ids.is_empty() {
            return Err(runtime("logits: the text has no tokens"));
        }
        let mut state = self.lm.new_state(Some(ids.len())).map_err(engine_err)?;
        let logits = self
            .with_model(|model| model.forward(&mut state, &ids, which))
            .map_err(engine_err)?;
        Ok((ids, logits))
    }
}

pub fn register(engine: &mut Engine, shared: &Arc<Shared>) {
    engine.register_type_with_name::<ModelHandle>("Model");
    engine.register_type_with_name::<ChatHandle>("Chat");
    register_loading(engine);
    register_tokens(engine);
    register_generation(engine, shared);
    register_chat(engine, shared);
    register_predictions(engine);
}

fn register_loading(engine: &mut Engine) {
    func(
        "load_model",
        "Load a model: \"smollm2\" (the default model), a .gguf file or a Hugging Face folder.\nWeights are memory-mapped: loading is quick.",
    )
    .register_into_engine(engine, |name: &str| {
        ModelHandle::load(name, &LoadOptions::default()).map_err(engine_err)
    });
    func(
        "load_model",
        "Load a model with options: #{ quantize: \"Q8_0\" } quantizes float weights while loading (any block format: Q8_0, Q4_K, Q5_0, …);\n#{ kv_cache: \"F16\" } stores the key/value cache in f16 (default F32);\n#{ backend: \"wgpu\" } runs the forward pass on the GPU (\"wgpu:NAME\" picks an adapter, \"wgpu-f32\" never computes in f16; default \"cpu\").",
    )
    .register_into_engine(engine, |name: &str, opts: Map| {
        let options =
            super::options::apply_map(&LoadOptions::default(), &opts, &[], "load_model options")?;
        ModelHandle::load(name, &options).map_err(engine_err)
    });
    for name in ["to_string", "to_debug"] {
        func(name, "A one-line description of the model.")
            .register_into_engine(engine, |m: &mut ModelHandle| m.describe());
    }
    getter("info", "The model's architecture and sizes, as a map.").register_into_engine(
        engine,
        |m: &mut ModelHandle| -> Map {
            let i = m.lm.model.info();
            let mut map = Map::new();
            map.insert("architecture".into(), i.architecture.clone().into());
            map.insert("vocab_size".into(), (i.vocab_size as INT).into());
            map.insert("context_length".into(), (i.context_length as INT).into());
            map.insert("n_layers".into(), (i.n_layers as INT).into());
            map.insert("d_model".into(), (i.d_model as INT).into());
            map.insert("n_heads".into(), (i.n_heads as INT).into());
            map.insert("path".into(), m.lm.path.display().to_string().into());
            map.insert("load_ms".into(), (m.lm.load_ms as FLOAT).into());
            map
        },
    );
    getter("vocab_size", "Number of tokens in the vocabulary.")
        .register_into_engine(engine, |m: &mut ModelHandle| {
            m.lm.model.info().vocab_size as INT
        });
    getter("n_layers", "Number of transformer blocks.")
        .register_into_engine(engine, |m: &mut ModelHandle| {
            m.lm.model.info().n_layers as INT
        });
    getter(
        "context_length",
        "Most positions the model was trained for.",
    )
    .register_into_engine(engine, |m: &mut ModelHandle| {
        m.lm.model.info().context_length as INT
    });
}

fn register_tokens(engine: &mut Engine) {
    func(
        "encode",
        "Token ids of a text (special tokens such as <|im_start|> are parsed; BOS added if the model asks).",
    )
    .register_into_engine(engine, |m: &mut ModelHandle, text: &str| {
        int_array(m.lm.encode(text))
    });
    func("decode", "The text of an array of token ids.").register_into_engine(
        engine,
        |m: &mut ModelHandle, ids: Array| {
            let ids = token_ids(&ids, m.lm.tokenizer.vocab_size())?;
            m.lm.tokenizer.decode_lossy(&ids).map_err(engine_err)
        },
    );
    func(
        "tokens",
        "The tokens of a text as a person reads them (spaces shown as they are, bytes as <0xNN>).",
    )
    .register_into_engine(engine, |m: &mut ModelHandle, text: &str| -> Array {
        m.lm.encode(text)
            .into_iter()
            .map(|id| Dynamic::from(m.lm.tokenizer.token_display(id).unwrap_or_default()))
            .collect()
    });
    engine.register_type_with_name::<crate::rich::TokenView>("Tokens");
    func(
        "show_tokens",
        "The tokens of a text with their boundaries visible (coloured spans in notebooks, a list in the REPL).",
    )
    .register_into_engine(engine, |m: &mut ModelHandle, text: &str| m.lm.show_tokens(text));
    for name in ["to_string", "to_debug"] {
        func(name, "The tokens as a list.")
            .register_into_engine(engine, |t: &mut crate::rich::TokenView| t.text());
    }
    func("token", "The display string of one token id.").register_into_engine(
        engine,
        |m: &mut ModelHandle, id: INT| {
            u32::try_from(id)
                .ok()
                .and_then(|id| m.lm.tokenizer.token_display(id))
                .ok_or_else(|| {
                    runtime(format!(
                        "token id {id} is outside the vocabulary of {}",
                        m.lm.tokenizer.vocab_size()
                    ))
                })
        },
    );
}

fn register_generation(engine: &mut Engine, shared: &Arc<Shared>) {
    let s = shared.clone();
    func(
        "generate",
        "Generate a continuation of the prompt, streaming it as it comes; returns the text.\nDefaults: max_tokens 256, temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, seed 0.",
    )
    .register_into_engine(engine, move |m: &mut ModelHandle, prompt: &str| {
        m.generate(&s, prompt, &Map::new()).map(|g| g.text)
    });
    let s = shared.clone();
    func(
        "generate",
        "Generate with options #{ max_tokens, temperature, top_k, top_p, min_p, seed, repeat_penalty,\npresence_penalty, frequency_penalty, stop: [strings], chat: bool, system: \"...\", think: bool, think_budget };\nchat renders the prompt as a user message through the model's chat template; temperature 0 is greedy.",
    )
    .register_into_engine(engine, move |m: &mut ModelHandle, prompt: &str, opts: Map| {
        m.generate(&s, prompt, &opts).map(|g| g.text)
    });
}

fn register_chat(engine: &mut Engine, shared: &Arc<Shared>) {
    let new_chat = |m: &ModelHandle, opts: &Map| -> ScriptResult<ChatHandle> {
        let request = chat_request(opts, m.defaults())?;
        let session = ChatSession::new(m.lm.clone(), request.system.as_deref(), request.context)
            .map_err(engine_err)?;
        Ok(ChatHandle {
            session: Arc::new(Mutex::new(session)),
            turn: TurnOptions {
                generate: request.generate,
                think: request.think,
            },
            model: m.clone(),
        })
    };
    func(
        "chat_session",
        "A conversation that keeps its KV cache between turns.",
    )
    .register_into_engine(engine, move |m: &mut ModelHandle| new_chat(m, &Map::new()));
    func(
        "chat_session",
        "A conversation with options #{ system: \"...\", think: bool, context: positions, and any generate sampling option }.",
    )
    .register_into_engine(engine, move |m: &mut ModelHandle, opts: Map| new_chat(m, &opts));

    let say = |shared: &Shared, c: &ChatHandle, text: &str, opts: &Map| -> ScriptResult<String> {
        let (generate, think) = turn_request(opts, c.turn.generate.clone(), c.turn.think)?;
        let mut session = c.session.lock().unwrap_or_else(|e| e.into_inner());
        let g = c
            .model
            .with_model(|model| {
                session.say_through(
                    model,
                    text,
                    &TurnOptions { generate, think },
                    Some(&shared.cancel),
                    &mut |piece, kind| shared.emit_text(piece, kind),
                )
            })
            .map_err(engine_err)?;
        Ok(g.answer.trim().to_string())
    };
    let s = shared.clone();
    func(
        "say",
        "Say something; the reply streams and is returned (its answer; reasoning is kept aside).",
    )
    .register_into_engine(engine, move |c: &mut ChatHandle, text: &str| {
        say(&s, c, text, &Map::new())
    });
    let s = shared.clone();
    func("say", "Say something, with this turn's sampling options.")
        .register_into_engine(engine, move |c: &mut ChatHandle, text: &str, opts: Map| {
            say(&s, c, text, &opts)
        });
    getter(
        "messages",
        "The conversation so far: an array of #{ role, content }.",
    )
    .register_into_engine(engine, |c: &mut ChatHandle| -> Array {
        let session = c.session.lock().unwrap_or_else(|e| e.into_inner());
        session
            .messages()
            .iter()
            .map(|m| {
                let mut map = Map::new();
                map.insert("role".into(), m.role.clone().into());
                map.insert("content".into(), m.content.clone().into());
                Dynamic::from(map)
            })
            .collect()
    });
    getter(
        "position",
        "Positions of the context in use (the KV cache's length).",
    )
    .register_into_engine(engine, |c: &mut ChatHandle| {
        c.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .position() as INT
    });
    func(
        "reset",
        "Forget the conversation (the system message stays).",
    )
    .register_into_engine(engine, |c: &mut ChatHandle| {
        c.session.lock().unwrap_or_else(|e| e.into_inner()).reset();
    });
    for name in ["to_string", "to_debug"] {
        func(name, "A summary of the conversation.")
            .register_into_engine(engine, |c: &mut ChatHandle| c.describe());
    }
}

fn register_predictions(engine: &mut Engine) {
    func(
        "logits",
        "The logits of the text's last position, a tensor [vocab].",
    )
    .register_into_engine(engine, |m: &mut ModelHandle, text: &str| {
        let (_, logits) = m.logits(text, Logits::Last)?;
        let n = logits.len();
        Tensor::from_vec(logits, [n]).map_err(engine_err)
    });
    func(
        "top_k",
        "The k most likely next tokens after the text: an array of #{ id, token, logit, prob }, most likely first.",
    )
    .register_into_engine(engine, |m: &mut ModelHandle, text: &str, k: INT| {
        let k = super::convert::index(k, "k")?;
        let (_, logits) = m.logits(text, Logits::Last)?;
        Ok::<Array, Box<rhai::EvalAltResult>>(top_k_maps(m, &logits, k))
    });
}

/// The `k` largest logits with their softmax probabilities over the whole
/// vocabulary.
pub(crate) fn top_k_maps(m: &ModelHandle, logits: &[f32], k: usize) -> Array {
    let d = crate::generate::Distribution::of(logits);
    d.top(logits, k)
        .into_iter()
        .map(|c| {
            let mut map = Map::new();
            map.insert("id".into(), (c.id as INT).into());
            map.insert("token".into(), m.token_text(c.id).into());
            map.insert("logit".into(), (c.logit as FLOAT).into());
            map.insert("prob".into(), (c.prob as FLOAT).into());
            Dynamic::from(map)
        })
        .collect()
}
