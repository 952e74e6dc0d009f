//! The option maps of `m.generate(prompt, #{ ... })` and
//! `m.chat_session(#{ ... })`: every key checked, every value typed, unknown
//! keys refused with the list of known ones.

use super::convert::{boolean, check_keys, non_negative, number, string, strings};
use super::convert::{runtime, ScriptResult};
use crate::generate::GenerateOptions;
use rhai::{Array, Map};

/// Keys that shape sampling and stopping; both calls accept them.
const SAMPLING_KEYS: [&str; 12] = [
    "max_tokens",
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "seed",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "think_budget",
    "top_logprobs",
];

/// `m.generate` options: sampling plus how the prompt is built.
pub struct GenerateRequest {
    pub generate: GenerateOptions,
    /// Render the prompt as one user message through the chat template.
    pub chat: bool,
    pub system: Option<String>,
    pub think: bool,
}

pub fn generate_request(map: &Map, defaults: GenerateOptions) -> ScriptResult<GenerateRequest> {
    let known: Vec<&str> = SAMPLING_KEYS
        .iter()
        .copied()
        .chain(["chat", "system", "think"])
        .collect();
    check_keys(map, &known, "generate options")?;
    let system = map.get("system").map(|v| string(v, "system")).transpose()?;
    let think = map
        .get("think")
        .map(|v| boolean(v, "think"))
        .transpose()?
        .unwrap_or(false);
    let chat = map
        .get("chat")
        .map(|v| boolean(v, "chat"))
        .transpose()?
        .unwrap_or(false)
        || system.is_some()
        || think;
    Ok(GenerateRequest {
        generate: sampling(map, defaults)?,
        chat,
        system,
        think,
    })
}

/// `m.chat_session` options: a system message, whether turns think, and
/// the sampling every turn uses (`c.say(text, #{...})` can override it).
pub struct ChatRequest {
    pub system: Option<String>,
    pub think: bool,
    pub generate: GenerateOptions,
    /// Positions the session's cache holds.
    pub context: Option<usize>,
}

pub fn chat_request(map: &Map, defaults: GenerateOptions) -> ScriptResult<ChatRequest> {
    let known: Vec<&str> = SAMPLING_KEYS
        .iter()
        .copied()
        .chain(["system", "think", "context"])
        .collect();
    check_keys(map, &known, "chat_session options")?;
    Ok(ChatRequest {
        system: map.get("system").map(|v| string(v, "system")).transpose()?,
        think: map
            .get("think")
            .map(|v| boolean(v, "think"))
            .transpose()?
            .unwrap_or(false),
        context: map
            .get("context")
            .map(|v| non_negative(v, "context"))
            .transpose()?,
        generate: sampling(map, defaults)?,
    })
}

/// Options of one chat turn: sampling and `think`.
pub fn turn_request(
    map: &Map,
    defaults: GenerateOptions,
    think: bool,
) -> ScriptResult<(GenerateOptions, bool)> {
    let known: Vec<&str> = SAMPLING_KEYS.iter().copied().chain(["think"]).collect();
    check_keys(map, &known, "say options")?;
    let think = map
        .get("think")
        .map(|v| boolean(v, "think"))
        .transpose()?
        .unwrap_or(think);
    Ok((sampling(map, defaults)?, think))
}

fn sampling(map: &Map, mut o: GenerateOptions) -> ScriptResult<GenerateOptions> {
    let s = &mut o.sampler;
    for (key, value) in map {
        let key = key.as_str();
        match key {
            "max_tokens" => o.max_tokens = non_negative(value, key)?,
            "think_budget" => o.think_budget = Some(non_negative(value, key)?),
            "top_logprobs" => o.record_top_k = non_negative(value, key)?,
            "temperature" => s.temperature = number(value, key)? as f32,
            "top_k" => s.top_k = non_negative(value, key)?,
            "top_p" => s.top_p = number(value, key)? as f32,
            "min_p" => s.min_p = number(value, key)? as f32,
            "seed" => s.seed = non_negative(value, key)? as u64,
            "repeat_penalty" => s.repetition_penalty = number(value, key)? as f32,
            "presence_penalty" => s.presence_penalty = number(value, key)? as f32,
            "frequency_penalty" => s.frequency_penalty = number(value, key)? as f32,
            "stop" => {
                o.stop_strings = match value.clone().try_cast::<Array>() {
                    Some(a) => strings(&a, key)?,
                    None => vec![string(value, key)?],
                }
            }
            _ => {}
        }
    }
    o.sampler
        .validate()
        .map_err(|e| runtime(format!("generate options: {e}")))?;
    Ok(o)
}

/// Plot options: title, axis labels, size, and for heatmaps the labels of
/// rows and columns.
pub struct PlotOptions {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub size: Option<(u32, u32)>,
    pub row_labels: Option<Vec<String>>,
    pub col_labels: Option<Vec<String>>,
    pub name: Option<String>,
}

pub fn plot_options(map: &Map, what: &str) -> ScriptResult<PlotOptions> {
    check_keys(
        map,
        &[
            "title",
            "x_label",
            "y_label",
            "width",
            "height",
            "row_labels",
            "col_labels",
            "name",
        ],
        what,
    )?;
    let text = |key: &str| -> ScriptResult<String> {
        map.get(key)
            .map(|v| string(v, key))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let labels = |key: &str| -> ScriptResult<Option<Vec<String>>> {
        map.get(key)
            .map(|v| match v.clone().try_cast::<Array>() {
                Some(a) => strings(&a, key),
                None => Err(runtime(format!("{key}: expected an array of strings"))),
            })
            .transpose()
    };
    let dimension = |key: &str, default: u32| -> ScriptResult<u32> {
        match map.get(key) {
            None => Ok(default),
            Some(v) => {
                let n = non_negative(v, key)?;
                if !(64..=8192).contains(&n) {
                    return Err(runtime(format!("{key}: {n} pixels is outside 64..=8192")));
                }
                Ok(n as u32)
            }
        }
    };
    let size = (map.contains_key("width") || map.contains_key("height"))
        .then(|| -> ScriptResult<(u32, u32)> {
            Ok((dimension("width", 720)?, dimension("height", 420)?))
        })
        .transpose()?;
    Ok(PlotOptions {
        title: text("title")?,
        x_label: text("x_label")?,
        y_label: text("y_label")?,
        size,
        row_labels: labels("row_labels")?,
        col_labels: labels("col_labels")?,
        name: map.get("name").map(|v| string(v, "name")).transpose()?,
    })
}
