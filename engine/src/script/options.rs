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

/// A value's type error for `key` as a person would say it: "key:
/// expected an integer, not string \"many\"", or "`key` must be true or
/// false".
fn plain_type_error(key: &str, e: &rhai::EvalAltResult) -> String {
    let text = e.to_string();
    let text = text.strip_prefix("Syntax error: ").unwrap_or(&text);
    let Some((actual, expected)) = text
        .strip_prefix("invalid type: ")
        .and_then(|t| t.split_once(", expected "))
    else {
        return format!("{key}: {text}");
    };
    let expected = match expected.trim() {
        "a boolean" => return format!("`{key}` must be true or false"),
        "usize" | "u64" | "u32" | "u16" | "u8" | "i64" | "i32" => "an integer",
        "f32" | "f64" => "a number",
        other => other,
    };
    format!("{key}: expected {expected}, not {actual}")
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
        lenient::<T>(&merged)
            .map_err(|e| runtime(format!("{what}: {}", plain_type_error(key, &e))))?;
    }
    lenient(&merged).map_err(|e| runtime(format!("{what}: {e}")))
}

/// `T` from a rhai map, with numbers converted as serde converts them (an
/// integer where a float is wanted, an f64 into an f32): the map goes
/// through serde's buffered representation, as a flattened struct does.
fn lenient<T: DeserializeOwned>(map: &Map) -> Result<T, Box<rhai::EvalAltResult>> {
    #[derive(serde::Deserialize)]
    #[serde(bound = "T: DeserializeOwned")]
    struct Buffered<T> {
        #[serde(flatten)]
        inner: T,
    }
    rhai::serde::from_dynamic::<Buffered<T>>(&map.clone().into()).map(|b| b.inner)
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
