//! Options from key/value maps: the browser's JSON here, a script's
//! `#{...}` in `script::options` (the same steps on rhai values). The keys
//! are the option structs' field names, one vocabulary for every face; a
//! key that names no option is an error listing those that exist, and each
//! value is checked as it is applied, so an error names its key.

use super::GenerateOptions;
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

/// The error for a key that names no option.
pub fn unknown_option(what: &str, key: &str, valid: &[&str]) -> Error {
    Error::Invalid(format!(
        "{what}: unknown option `{key}` (known: {})",
        valid.join(", ")
    ))
}

/// `base` with `settings` applied over it; `what` names the options in
/// errors ("generate options").
pub fn apply_json<T: Serialize + DeserializeOwned>(
    base: &T,
    settings: &Map<String, Value>,
    what: &str,
) -> Result<T> {
    let Ok(Value::Object(mut merged)) = serde_json::to_value(base) else {
        return Err(Error::Invalid(format!(
            "{what}: not a set of named options"
        )));
    };
    let valid: Vec<String> = merged.keys().cloned().collect();
    for (key, value) in settings {
        if !merged.contains_key(key) {
            let valid: Vec<&str> = valid.iter().map(String::as_str).collect();
            return Err(unknown_option(what, key, &valid));
        }
        merged.insert(key.clone(), value.clone());
        // Applied one at a time, so that a bad value's error names its key.
        serde_json::from_value::<T>(Value::Object(merged.clone()))
            .map_err(|e| Error::Invalid(format!("{what}: `{key}`: {e}")))?;
    }
    serde_json::from_value(Value::Object(merged))
        .map_err(|e| Error::Invalid(format!("{what}: {e}")))
}

impl GenerateOptions {
    /// These options with `settings` (option name → value) applied, checked
    /// as a whole. What no map can set (the model's stop tokens, a prompt
    /// that ends inside `<think>`) is kept.
    pub fn with_json(&self, settings: &Map<String, Value>) -> Result<GenerateOptions> {
        let mut options = apply_json(self, settings, "generate options")?;
        options.keep_unsettable(self);
        options.sampler.validate()?;
        Ok(options)
    }

    /// Copies from `from` the fields that maps cannot set.
    pub fn keep_unsettable(&mut self, from: &GenerateOptions) {
        self.stop_ids = from.stop_ids.clone();
        self.starts_in_reasoning = from.starts_in_reasoning;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn keys_set_their_options_and_the_rest_keep_their_values() {
        let base = GenerateOptions {
            stop_ids: vec![2],
            ..GenerateOptions::default()
        };
        let o = base
            .with_json(&settings(
                json!({"temperature": 0, "max_tokens": 7, "stop": ["\n"], "repeat_penalty": 1.1}),
            ))
            .unwrap();
        assert_eq!(o.sampler.temperature, 0.0);
        assert_eq!(o.max_tokens, 7);
        assert_eq!(o.stop, ["\n"]);
        assert_eq!(o.sampler.repeat_penalty, 1.1);
        assert_eq!(o.sampler.top_k, base.sampler.top_k);
        assert_eq!(o.stop_ids, [2]);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_that_name_them() {
        let base = GenerateOptions::default();
        let err = base
            .with_json(&settings(json!({"repetition_penalty": 1.1})))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown option `repetition_penalty`"), "{err}");
        assert!(
            err.contains("repeat_penalty") && err.contains("max_tokens"),
            "{err}"
        );
        let err = base
            .with_json(&settings(json!({"top_k": -1})))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`top_k`"), "{err}");
        let err = base
            .with_json(&settings(json!({"top_p": 2.0})))
            .unwrap_err()
            .to_string();
        assert!(err.contains("top_p must be in (0, 1]"), "{err}");
    }
}
