//! The option maps of `m.generate(prompt, #{ ... })` and
//! `m.chat_session(#{ ... })`: every key checked, every value typed, unknown
//! keys refused with the list of known ones.

use super::convert::{boolean, check_keys, non_negative, string, strings};
use super::convert::{runtime, ScriptResult};
use crate::generate::GenerateOptions;
use rhai::{Array, Map};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `m.generate` options: sampling plus how the prompt is built.
pub struct GenerateRequest {
    pub generate: GenerateOptions,
    /// Render the prompt as one user message through the chat template.
    pub chat: bool,
    pub system: Option<String>,
    pub think: bool,
}

pub fn generate_request(map: &Map, defaults: GenerateOptions) -> ScriptResult<GenerateRequest> {
    let call_keys = ["chat", "system", "think"];
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
        generate: generation(map, &defaults, &call_keys, "generate options")?,
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
    let call_keys = ["system", "think", "context"];
    let generate = generation(map, &defaults, &call_keys, "chat_session options")?;
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
        generate,
    })
}

/// Options of one chat turn: sampling and `think`.
pub fn turn_request(
    map: &Map,
    defaults: GenerateOptions,
    think: bool,
) -> ScriptResult<(GenerateOptions, bool)> {
    let generate = generation(map, &defaults, &["think"], "say options")?;
    let think = map
        .get("think")
        .map(|v| boolean(v, "think"))
        .transpose()?
        .unwrap_or(think);
    Ok((generate, think))
}

/// Rhai's "Output type incorrect: string (expecting usize)" as a person
/// would say it: "expected an integer, not a string".
fn plain_type_error(e: &rhai::EvalAltResult) -> String {
    match e {
        rhai::EvalAltResult::ErrorMismatchOutputType(expected, actual, _) => {
            let expected = match expected.as_str() {
                "usize" | "u64" | "u32" | "i64" | "INT" => "an integer",
                "f32" | "f64" | "FLOAT" => "a number",
                "bool" => "true or false",
                "String" | "str" | "string" | "char" => "a string",
                other
                    if other.contains("seq")
                        || other.contains("Vec")
                        || other.contains("array") =>
                {
                    "an array"
                }
                other => other,
            };
            format!("expected {expected}, not {actual}")
        }
        other => {
            let text = other.to_string();
            text.strip_prefix("Syntax error: ")
                .unwrap_or(&text)
                .to_string()
        }
    }
}

/// `base` with the map's options applied: the keys are the engine
/// struct's field names (its one vocabulary), plus `call_keys`, which the
/// caller reads itself. Rhai values go straight into the struct, so a
/// `-1.0 / 0.0` bias stays −inf.
pub fn apply_map<T: Serialize + DeserializeOwned>(
    base: &T,
    map: &Map,
    call_keys: &[&str],
    what: &str,
) -> ScriptResult<T> {
    let mut merged: Map = rhai::serde::to_dynamic(base)
        .ok()
        .and_then(|d| d.try_cast::<Map>())
        .ok_or_else(|| runtime(format!("{what}: the defaults are not a map")))?;
    let known: Vec<String> = merged
        .keys()
        .map(|k| k.to_string())
        .chain(call_keys.iter().map(|k| k.to_string()))
        .collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    check_keys(map, &known, what)?;
    for (key, value) in map {
        if call_keys.contains(&key.as_str()) {
            continue;
        }
        merged.insert(key.clone(), value.clone());
        // Applied one at a time, so that a bad value's error names its key.
        rhai::serde::from_dynamic::<T>(&merged.clone().into())
            .map_err(|e| runtime(format!("{what}: {key}: {}", plain_type_error(&e))))?;
    }
    rhai::serde::from_dynamic(&merged.into()).map_err(|e| runtime(format!("{what}: {e}")))
}

/// `base` with the map's generation options applied (see [`apply_map`]),
/// keeping what no map sets and checking the sampler as a whole.
fn generation(
    map: &Map,
    base: &GenerateOptions,
    call_keys: &[&str],
    what: &str,
) -> ScriptResult<GenerateOptions> {
    let mut options = apply_map(base, map, call_keys, what)?;
    options.keep_unsettable(base);
    options
        .sampler
        .validate()
        .map_err(|e| runtime(format!("{what}: {e}")))?;
    Ok(options)
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
