//! A model's own chat template: the Jinja program, shipped with the model,
//! that turns a conversation into the exact prompt text it was trained on.
//!
//! Templates come from GGUF metadata (`tokenizer.chat_template`) or from a
//! Hugging Face `tokenizer_config.json` (`chat_template`, a string or a list
//! of named templates). They are rendered the way Hugging Face
//! `transformers`' `apply_chat_template` renders them: Jinja with
//! `trim_blocks` and `lstrip_blocks`, `break`/`continue`, Python string and
//! dict methods (`.strip()`, `.startswith()`, `.items()`, …), a `tojson`
//! filter that writes JSON as Python's `json.dumps` does, and the globals
//! `raise_exception` and `strftime_now`. Variables: `messages`,
//! `add_generation_prompt`, `bos_token`, `eos_token`, `tools` and
//! `documents` (none unless given) and any extra ones the caller passes
//! (`enable_thinking`, `date_string`, …).
//!
//! A template is untrusted input from a file, so rendering is sandboxed: a
//! fuel budget bounds the work and the memory a render may use (an endless
//! loop stops with an error), the output has a size cap, and recursion is
//! limited. Every failure is an [`Error`], never a hang or a panic.
//!
//! Not supported: the `{% generation %}` tag (assistant-token masks for
//! training) and message contents that are lists of parts (images).

use std::fmt;
use std::io;

use minijinja::value::Value as JValue;
use minijinja::value::ValueKind;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as JsonValue};

use crate::error::{Error, Result};
use crate::io::Metadata;

use super::chat::Message;
use super::py_json::{python_float, tojson_filter};
use super::strftime::{strftime_now, NowGuard};

/// The name errors give the template.
const NAME: &str = "chat template";

/// Our own ChatML template, for models that ship none. ChatML
/// (`<|im_start|>role\n…<|im_end|>\n`) is what SmolLM2 and Qwen use; a model
/// trained on another format will follow it less well.
pub const DEFAULT_CHATML: &str = "{%- for message in messages %}\
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}\
{%- endfor %}\
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/// Our fallback for Gemma models whose file carries no template (Gemma 3
/// 270M's GGUF has none): `<start_of_turn>user` / `<start_of_turn>model`
/// turns, any system text put at the head of the next turn (Gemma has no
/// system role). BOS comes from the tokenizer, not the text.
pub const DEFAULT_GEMMA: &str = "{%- set ns = namespace(system='') %}\
{%- for message in messages %}\
{%- if message.role == 'system' %}{%- set ns.system = ns.system + message.content + '\n\n' %}\
{%- else %}\
{%- set role = 'model' if message.role == 'assistant' else message.role %}\
{{- '<start_of_turn>' + role + '\n' + ns.system + message.content + '<end_of_turn>\n' }}\
{%- set ns.system = '' %}\
{%- endif %}\
{%- endfor %}\
{%- if add_generation_prompt %}{{- '<start_of_turn>model\n' }}{%- endif %}";

/// How much work and output one render may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChatLimits {
    /// minijinja fuel: one unit per instruction, plus one per 64 bytes of
    /// data made or written. Bounds both time and memory.
    pub fuel: u64,
    /// The most bytes the rendered prompt may have.
    pub max_output_bytes: usize,
    /// How deep nesting (loops, calls, macros) may go.
    pub recursion_limit: usize,
}

impl Default for ChatLimits {
    /// 5 million fuel (about 5 million instructions, or 320 MB of data made
    /// in all): a few hundred times what a long real conversation takes.
    /// 16 MiB of output: more than any context window holds.
    fn default() -> Self {
        ChatLimits {
            fuel: 5_000_000,
            max_output_bytes: 16 << 20,
            recursion_limit: 200,
        }
    }
}

/// The variables of a render besides the messages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RenderOptions {
    /// `bos_token`, the text of the model's beginning-of-sequence token.
    pub bos_token: String,
    /// `eos_token`, the text of the model's end-of-sequence token.
    pub eos_token: String,
    /// More variables, e.g. `{"enable_thinking": false}`; they override the
    /// ones above (and `tools`, `documents`) when the names clash.
    pub extra: Map<String, JsonValue>,
    /// The time `strftime_now` reports, in seconds since 1970 (UTC). `None`:
    /// the system clock (an error on wasm32, which has none).
    pub now: Option<i64>,
}

impl RenderOptions {
    /// The BOS / EOS token texts named by GGUF metadata
    /// (`tokenizer.ggml.bos_token_id` into `tokenizer.ggml.tokens`); empty
    /// where the file names none.
    pub fn from_gguf(meta: &Metadata) -> Result<Self> {
        let token = |key: &str| -> Result<String> {
            if !meta.contains(key) {
                return Ok(String::new());
            }
            let id = meta.get_usize(key)?;
            let tokens = meta.get_str_array("tokenizer.ggml.tokens")?;
            tokens.get(id).cloned().ok_or_else(|| {
                Error::file(
                    meta.source(),
                    format!("{key} = {id} is outside the {} tokens", tokens.len()),
                )
            })
        };
        Ok(RenderOptions {
            bos_token: token("tokenizer.ggml.bos_token_id")?,
            eos_token: token("tokenizer.ggml.eos_token_id")?,
            ..RenderOptions::default()
        })
    }

    /// The BOS / EOS token texts of a `tokenizer_config.json`, where each is
    /// a string or an added-token object `{"content": "…", …}`.
    pub fn from_tokenizer_config(json: &str) -> Result<Self> {
        let config = parse_config(json)?;
        let token = |key: &str| -> String {
            match config.get(key) {
                Some(JsonValue::String(s)) => s.clone(),
                Some(JsonValue::Object(o)) => o
                    .get("content")
                    .and_then(JsonValue::as_str)
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            }
        };
        Ok(RenderOptions {
            bos_token: token("bos_token"),
            eos_token: token("eos_token"),
            ..RenderOptions::default()
        })
    }

    /// Adds (or replaces) one extra variable.
    pub fn with(mut self, name: &str, value: impl Into<JsonValue>) -> Self {
        self.extra.insert(name.to_string(), value.into());
        self
    }
}

/// A compiled chat template, ready to render conversations. Cheap to share
/// across threads (`&ChatTemplate` renders).
#[derive(Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    is_default: bool,
    limits: ChatLimits,
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source_bytes", &self.source.len())
            .field("is_default", &self.is_default)
            .field("limits", &self.limits)
            .finish()
    }
}

impl ChatTemplate {
    /// Compiles a template. A syntax error names the problem and the line.
    pub fn new(source: &str) -> Result<Self> {
        Self::with_limits(source, ChatLimits::default())
    }

    /// [`new`](Self::new) with other limits.
    pub fn with_limits(source: &str, limits: ChatLimits) -> Result<Self> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(false)
                .build()
                .map_err(|e| Error::Invalid(format!("{NAME}: {e}")))?,
        );
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_formatter(python_formatter);
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_fuel(Some(limits.fuel));
        env.set_recursion_limit(limits.recursion_limit);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson_filter(limits.max_output_bytes));
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| describe(&e, limits))?;
        Ok(ChatTemplate {
            env,
            source: source.to_string(),
            is_default: false,
            limits,
        })
    }

    /// Our ChatML fallback ([`DEFAULT_CHATML`]) for a model without a
    /// template of its own; [`is_default`](Self::is_default) says so.
    pub fn chatml() -> Self {
        let mut t = Self::new(DEFAULT_CHATML).expect("the default ChatML template compiles");
        t.is_default = true;
        t
    }

    /// The fallback for a model without a template of its own, chosen by
    /// its vocabulary as llama.cpp does: Gemma's turns where it has the
    /// token `<start_of_turn>`, ChatML otherwise.
    pub fn fallback(has_token: impl Fn(&str) -> bool) -> Self {
        if has_token("<start_of_turn>") {
            let mut t = Self::new(DEFAULT_GEMMA).expect("the default Gemma template compiles");
            t.is_default = true;
            return t;
        }
        Self::chatml()
    }

    /// The template of a GGUF file (`tokenizer.chat_template`); `None` when
    /// the file has none.
    pub fn from_gguf(meta: &Metadata) -> Result<Option<Self>> {
        Self::from_gguf_named(meta, None)
    }

    /// A named GGUF template (`tokenizer.chat_template.NAME`, e.g.
    /// `tool_use`), or the default one for `None`.
    pub fn from_gguf_named(meta: &Metadata, name: Option<&str>) -> Result<Option<Self>> {
        let key = match name {
            Some(n) => format!("tokenizer.chat_template.{n}"),
            None => "tokenizer.chat_template".to_string(),
        };
        if !meta.contains(&key) {
            return Ok(None);
        }
        let source = meta.get_str(&key)?;
        Self::new(source)
            .map(Some)
            .map_err(|e| Error::file(meta.source(), format!("{key}: {e}")))
    }

    /// The template of a `tokenizer_config.json`; `None` when it has none.
    /// Where `chat_template` is a list of named templates, the one named
    /// `default` is taken.
    pub fn from_tokenizer_config(json: &str) -> Result<Option<Self>> {
        Self::from_tokenizer_config_named(json, None)
    }

    /// [`from_tokenizer_config`](Self::from_tokenizer_config), picking a
    /// named template (e.g. `tool_use`) from a list; `None` picks `default`.
    pub fn from_tokenizer_config_named(json: &str, name: Option<&str>) -> Result<Option<Self>> {
        let config = parse_config(json)?;
        let source = match config.get("chat_template") {
            None | Some(JsonValue::Null) => return Ok(None),
            Some(JsonValue::String(s)) => {
                if let Some(n) = name.filter(|&n| n != "default") {
                    return Err(Error::NotFound(format!(
                        "tokenizer_config.json has a single chat template, not one named `{n}`"
                    )));
                }
                s.as_str()
            }
            Some(JsonValue::Array(list)) => {
                let wanted = name.unwrap_or("default");
                let mut names = Vec::new();
                let mut found = None;
                for (i, entry) in list.iter().enumerate() {
                    let entry_name = entry.get("name").and_then(JsonValue::as_str);
                    let template = entry.get("template").and_then(JsonValue::as_str);
                    let (Some(n), Some(t)) = (entry_name, template) else {
                        return Err(Error::Invalid(format!(
                            "tokenizer_config.json: chat_template[{i}] lacks a string `name` or `template`"
                        )));
                    };
                    names.push(n);
                    if n == wanted && found.is_none() {
                        found = Some(t);
                    }
                }
                found.ok_or_else(|| {
                    Error::NotFound(format!(
                        "tokenizer_config.json has no chat template named `{wanted}` (it has: {})",
                        names.join(", ")
                    ))
                })?
            }
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "tokenizer_config.json: chat_template is {}, expected a string or a list",
                    json_kind(other)
                )))
            }
        };
        Self::new(source)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("tokenizer_config.json: {e}")))
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether this is our ChatML fallback rather than the model's own.
    pub fn is_default(&self) -> bool {
        self.is_default
    }

    pub fn limits(&self) -> ChatLimits {
        self.limits
    }

    /// Renders a conversation. `add_generation_prompt` appends the opening
    /// of an assistant turn, for the model to continue.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        options: &RenderOptions,
    ) -> Result<String> {
        let mut context = Map::new();
        context.insert(
            "messages".into(),
            serde_json::to_value(messages)
                .map_err(|e| Error::Invalid(format!("{NAME}: messages: {e}")))?,
        );
        context.insert("tools".into(), JsonValue::Null);
        context.insert("documents".into(), JsonValue::Null);
        context.insert(
            "add_generation_prompt".into(),
            JsonValue::Bool(add_generation_prompt),
        );
        context.insert("bos_token".into(), options.bos_token.clone().into());
        context.insert("eos_token".into(), options.eos_token.clone().into());
        for (k, v) in &options.extra {
            context.insert(k.clone(), v.clone());
        }
        let context = JValue::from(minijinja::value::Serde(&context));

        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| describe(&e, self.limits))?;
        let mut out = CappedWriter {
            buf: Vec::new(),
            cap: self.limits.max_output_bytes,
            overflowed: false,
        };
        let now = options.now;
        let result = on_deep_stack(self.limits.fuel, || {
            let _now = NowGuard::set(now);
            template.render_captured_to(context, &mut out).map(|_| ())
        })?;
        if out.overflowed {
            return Err(Error::Invalid(format!(
                "{NAME}: the output exceeds the limit of {} bytes",
                self.limits.max_output_bytes
            )));
        }
        result.map_err(|e| describe(&e, self.limits))?;
        String::from_utf8(out.buf)
            .map_err(|_| Error::Invalid(format!("{NAME}: the output is not valid UTF-8")))
    }
}

/// Stack bytes one level of a nested template value may take when it is
/// dropped (measured: 56–70 on x86-64), with room to spare.
#[cfg(not(target_arch = "wasm32"))]
const STACK_PER_LEVEL: usize = 80;

/// Runs `render` on a thread whose stack can drop the deepest value the
/// fuel lets a template build. minijinja drops nested lists recursively,
/// and a template can nest one level per unit of fuel or so
/// (`{% set ns.x = [[[ns.x]]] %}` in a loop): 160,000 levels overflowed the
/// 8 MiB main stack and killed the process after rendering. The stack is
/// reserved address space; only what is used is ever touched. wasm32 has
/// no threads to spare, so the browser renders in place.
fn on_deep_stack<R: Send>(fuel: u64, render: impl FnOnce() -> R + Send) -> Result<R> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let stack = (8 << 20) + (fuel as usize).saturating_mul(STACK_PER_LEVEL);
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("chat template".into())
                .stack_size(stack)
                .spawn_scoped(scope, render)
                .map_err(|e| {
                    Error::Invalid(format!(
                        "{NAME}: could not start a render thread with a {} MiB stack: {e}",
                        stack >> 20
                    ))
                })?;
            worker
                .join()
                .map_err(|_| Error::Invalid(format!("{NAME}: the render panicked")))
        })
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = fuel;
        Ok(render())
    }
}

fn parse_config(json: &str) -> Result<Map<String, JsonValue>> {
    match serde_json::from_str::<JsonValue>(json) {
        Ok(JsonValue::Object(map)) => Ok(map),
        Ok(other) => Err(Error::Invalid(format!(
            "tokenizer_config.json is {}, expected an object",
            json_kind(&other)
        ))),
        Err(e) => Err(Error::Invalid(format!("tokenizer_config.json: {e}"))),
    }
}

fn json_kind(v: &JsonValue) -> &'static str {
    match v {
        JsonValue::Null => "null",
        JsonValue::Bool(_) => "a bool",
        JsonValue::Number(_) => "a number",
        JsonValue::String(_) => "a string",
        JsonValue::Array(_) => "a list",
        JsonValue::Object(_) => "an object",
    }
}

/// An output buffer that refuses to grow past `cap` bytes.
struct CappedWriter {
    buf: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl io::Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.cap {
            self.overflowed = true;
            return Err(io::Error::other("chat template output limit reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Marks the errors `raise_exception` makes, to tell them from the engine's.
#[derive(Debug)]
struct Raised;

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("raised by the template")
    }
}

impl std::error::Error for Raised {}

/// A minijinja error as one of ours, worded for someone holding the template.
fn describe(e: &minijinja::Error, limits: ChatLimits) -> Error {
    use std::error::Error as _;
    let line = e.line().map(|l| format!(" (line {l})")).unwrap_or_default();
    let detail = e.detail().unwrap_or_default();
    let raised = e
        .source()
        .is_some_and(|s| s.downcast_ref::<Raised>().is_some());
    let message = if raised {
        format!("{NAME} raised an exception{line}: {detail}")
    } else {
        match e.kind() {
            ErrorKind::SyntaxError => format!("{NAME} has a syntax error{line}: {detail}"),
            ErrorKind::OutOfFuel => format!(
                "{NAME} ran out of fuel{line}: it used up its budget of {} (a step, or 64 bytes \
                 of data, each): an endless loop, or a runaway string or list?",
                limits.fuel
            ),
            ErrorKind::UnknownFunction => {
                format!("{NAME} calls an unknown function{line}: {detail}")
            }
            ErrorKind::UnknownFilter => format!("{NAME} uses an unknown filter{line}: {detail}"),
            ErrorKind::UnknownTest => format!("{NAME} uses an unknown test{line}: {detail}"),
            ErrorKind::UnknownMethod => format!("{NAME} calls an unknown method{line}: {detail}"),
            _ if detail.contains("recursion limit") => format!(
                "{NAME} nests too deeply{line}: more than {} levels",
                limits.recursion_limit
            ),
            kind => {
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                };
                format!("{NAME} failed{line}: {kind}{detail}")
            }
        }
    };
    Error::Invalid(message)
}

fn raise_exception(message: String) -> std::result::Result<JValue, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message).with_source(Raised))
}

/// Writes `{{ value }}` as Python's `str()` does for the scalars where
/// minijinja differs: `True`/`False`, `None`, floats (`1e+20`). Lists and
/// maps keep minijinja's form, and `~` / `| string` are not affected.
fn python_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &JValue,
) -> std::result::Result<(), minijinja::Error> {
    let text = match value.kind() {
        ValueKind::Bool => Some(if value.is_true() { "True" } else { "False" }.to_string()),
        ValueKind::None => Some("None".to_string()),
        // Integers print alike; floats (written with `.`, `e`, `inf` or
        // `NaN` by minijinja) go through Python's repr.
        ValueKind::Number if value.to_string().contains(['.', 'e', 'i', 'N']) => {
            f64::try_from(value.clone()).ok().map(python_float)
        }
        _ => None,
    };
    match text {
        Some(t) => out
            .write_str(&t)
            .map_err(|_| minijinja::Error::new(ErrorKind::WriteFailure, "could not write output")),
        None => minijinja::escape_formatter(out, state, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shareable() {
        fn check<T: Send + Sync + Clone>() {}
        check::<ChatTemplate>();
    }

    #[test]
    fn gemma_vocabularies_fall_back_to_gemma_turns() {
        let t = ChatTemplate::fallback(|name| name == "<start_of_turn>");
        assert!(t.is_default());
        let messages = vec![
            Message::new("system", "Be brief."),
            Message::new("user", "Hi"),
            Message::new("assistant", "Hello."),
            Message::new("user", "Bye"),
        ];
        let text = t
            .render(&messages, true, &RenderOptions::default())
            .unwrap();
        assert_eq!(
            text,
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n\
             <start_of_turn>model\nHello.<end_of_turn>\n\
             <start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
        );
        assert!(ChatTemplate::fallback(|_| false)
            .render(&messages, true, &RenderOptions::default())
            .unwrap()
            .starts_with("<|im_start|>system"));
    }

    #[test]
    fn default_template_is_chatml() {
        let t = ChatTemplate::chatml();
        assert!(t.is_default());
        let out = t
            .render(
                &[Message::user("hi"), Message::assistant("hello")],
                true,
                &RenderOptions::default(),
            )
            .unwrap();
        assert_eq!(
            out,
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
