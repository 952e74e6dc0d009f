//! Moving values between rhai and the engine: errors, numbers, arrays and
//! option maps, each with a message that says what was expected.

use rhai::{Array, Dynamic, EvalAltResult, Map, Position, FLOAT, INT};

pub type ScriptResult<T> = Result<T, Box<EvalAltResult>>;

/// An engine error as a rhai runtime error (rhai adds the call's position).
pub fn engine_err(e: crate::Error) -> Box<EvalAltResult> {
    runtime(e.to_string())
}

pub fn runtime(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        message.into().into(),
        Position::NONE,
    ))
}

/// A number from a rhai value that may be an integer or a float.
pub fn number(value: &Dynamic, what: &str) -> ScriptResult<f64> {
    if let Some(x) = value.clone().try_cast::<FLOAT>() {
        return Ok(x);
    }
    if let Some(i) = value.clone().try_cast::<INT>() {
        return Ok(i as f64);
    }
    Err(runtime(format!(
        "{what}: expected a number, got {}",
        value.type_name()
    )))
}

pub fn non_negative(value: &Dynamic, what: &str) -> ScriptResult<usize> {
    match value.clone().try_cast::<INT>() {
        Some(i) if i >= 0 => Ok(i as usize),
        Some(i) => Err(runtime(format!("{what}: expected 0 or more, got {i}"))),
        None => Err(runtime(format!(
            "{what}: expected an integer, got {}",
            value.type_name()
        ))),
    }
}

pub fn index(i: INT, what: &str) -> ScriptResult<usize> {
    usize::try_from(i).map_err(|_| runtime(format!("{what}: expected 0 or more, got {i}")))
}

pub fn boolean(value: &Dynamic, what: &str) -> ScriptResult<bool> {
    value
        .as_bool()
        .map_err(|t| runtime(format!("{what}: expected true or false, got {t}")))
}

pub fn string(value: &Dynamic, what: &str) -> ScriptResult<String> {
    value
        .clone()
        .into_string()
        .map_err(|t| runtime(format!("{what}: expected a string, got {t}")))
}

/// Numbers from an array of integers and floats.
pub fn floats(array: &Array, what: &str) -> ScriptResult<Vec<f64>> {
    array
        .iter()
        .enumerate()
        .map(|(i, v)| number(v, &format!("{what}[{i}]")))
        .collect()
}

pub fn strings(array: &Array, what: &str) -> ScriptResult<Vec<String>> {
    array
        .iter()
        .enumerate()
        .map(|(i, v)| string(v, &format!("{what}[{i}]")))
        .collect()
}

/// Token ids from an array of integers.
pub fn token_ids(array: &Array, vocab: usize) -> ScriptResult<Vec<u32>> {
    array
        .iter()
        .enumerate()
        .map(|(i, v)| match v.clone().try_cast::<INT>() {
            Some(id) if id >= 0 && (id as usize) < vocab => Ok(id as u32),
            Some(id) => Err(runtime(format!(
                "token id {id} at [{i}] is outside the vocabulary of {vocab}"
            ))),
            None => Err(runtime(format!(
                "token ids: [{i}] is a {}, not an integer",
                v.type_name()
            ))),
        })
        .collect()
}

pub fn int_array(values: impl IntoIterator<Item = u32>) -> Array {
    values
        .into_iter()
        .map(|v| Dynamic::from(v as INT))
        .collect()
}

/// Reject keys of an option map that are not in `known`, naming them and
/// listing what is allowed (a typo must not be silently ignored).
pub fn check_keys(map: &Map, known: &[&str], what: &str) -> ScriptResult<()> {
    let unknown: Vec<&str> = map
        .keys()
        .map(|k| k.as_str())
        .filter(|k| !known.contains(k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(runtime(format!(
        "{what}: unknown option{} {} (known: {})",
        if unknown.len() > 1 { "s" } else { "" },
        unknown.join(", "),
        known.join(", ")
    )))
}
