//! An ordered key → value map with typed getters. Order is the file's, so
//! that `inspect` lists keys as the file does; lookups go through a hash
//! index, so a file with a million keys costs no quadratic time.

use super::value::{Array, Value};
use crate::error::{Error, Result};
use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// Named in every error: the file the metadata came from.
    source: String,
    entries: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

impl Metadata {
    pub fn new(source: impl Into<String>) -> Self {
        Metadata {
            source: source.into(),
            ..Metadata::default()
        }
    }

    /// Append an entry; a key that is already present is refused.
    pub fn insert(&mut self, key: String, value: Value) -> Result<()> {
        if self.index.contains_key(&key) {
            return Err(Error::file(
                &self.source,
                format!("metadata key `{key}` appears twice"),
            ));
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
        Ok(())
    }

    /// The file the metadata came from, as errors name it.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn entries(&self) -> &[(String, Value)] {
        &self.entries
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    /// The value, or an error naming the missing key.
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key)
            .ok_or_else(|| Error::file(&self.source, format!("metadata key `{key}` is missing")))
    }

    pub fn get_u32(&self, key: &str) -> Result<u32> {
        self.integer(key, "u32")
    }

    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.integer(key, "u64")
    }

    pub fn get_usize(&self, key: &str) -> Result<usize> {
        self.integer(key, "usize")
    }

    pub fn get_i32(&self, key: &str) -> Result<i32> {
        self.integer(key, "i32")
    }

    pub fn get_i64(&self, key: &str) -> Result<i64> {
        self.integer(key, "i64")
    }

    /// A float of either width; integers are accepted too, since writers
    /// sometimes store a round number such as `rope.freq_base` as one.
    pub fn get_f64(&self, key: &str) -> Result<f64> {
        let value = self.require(key)?;
        value
            .as_float()
            .or_else(|| value.as_integer().map(|i| i as f64))
            .ok_or_else(|| self.wrong_type(key, value, "a number"))
    }

    pub fn get_f32(&self, key: &str) -> Result<f32> {
        self.get_f64(key).map(|x| x as f32)
    }

    pub fn get_bool(&self, key: &str) -> Result<bool> {
        match self.require(key)? {
            Value::Bool(b) => Ok(*b),
            other => Err(self.wrong_type(key, other, "a bool")),
        }
    }

    pub fn get_str(&self, key: &str) -> Result<&str> {
        let value = self.require(key)?;
        value
            .as_str()
            .ok_or_else(|| self.wrong_type(key, value, "a string"))
    }

    pub fn get_array(&self, key: &str) -> Result<&Array> {
        let value = self.require(key)?;
        value
            .as_array()
            .ok_or_else(|| self.wrong_type(key, value, "an array"))
    }

    pub fn get_str_array(&self, key: &str) -> Result<&[String]> {
        match self.get_array(key)? {
            Array::String(v) => Ok(v),
            other => Err(self.wrong_array(key, other, "strings")),
        }
    }

    pub fn get_f32_array(&self, key: &str) -> Result<&[f32]> {
        match self.get_array(key)? {
            Array::F32(v) => Ok(v),
            other => Err(self.wrong_array(key, other, "f32")),
        }
    }

    pub fn get_i32_array(&self, key: &str) -> Result<&[i32]> {
        match self.get_array(key)? {
            Array::I32(v) => Ok(v),
            other => Err(self.wrong_array(key, other, "i32")),
        }
    }

    /// Any stored integer width, converted to `T` when it fits.
    fn integer<T: TryFrom<i128>>(&self, key: &str, type_name: &str) -> Result<T> {
        let value = self.require(key)?;
        let Some(wide) = value.as_integer() else {
            return Err(self.wrong_type(key, value, "an integer"));
        };
        T::try_from(wide).map_err(|_| {
            Error::file(
                &self.source,
                format!("metadata key `{key}` = {wide} does not fit in {type_name}"),
            )
        })
    }

    fn wrong_type(&self, key: &str, found: &Value, expected: &str) -> Error {
        Error::file(
            &self.source,
            format!(
                "metadata key `{key}` is {}, expected {expected}",
                describe(found)
            ),
        )
    }

    fn wrong_array(&self, key: &str, found: &Array, expected: &str) -> Error {
        Error::file(
            &self.source,
            format!(
                "metadata key `{key}` is an array of {}, expected an array of {expected}",
                found.elem_type().name()
            ),
        )
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Array(a) => format!("an array of {}", a.elem_type().name()),
        other => format!("a {}", other.value_type().name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        let mut m = Metadata::new("test.gguf");
        m.insert("count".into(), Value::U64(30)).unwrap();
        m.insert("negative".into(), Value::I32(-1)).unwrap();
        m.insert("base".into(), Value::F32(1e5)).unwrap();
        m.insert("name".into(), Value::String("llama".into()))
            .unwrap();
        m.insert(
            "tokens".into(),
            Value::Array(Array::String(vec!["a".into()])),
        )
        .unwrap();
        m
    }

    #[test]
    fn getters_convert_and_explain() {
        let m = sample();
        assert_eq!(m.get_u32("count").unwrap(), 30);
        assert_eq!(m.get_i64("negative").unwrap(), -1);
        assert_eq!(m.get_f32("base").unwrap(), 1e5);
        assert_eq!(m.get_f64("count").unwrap(), 30.0);
        assert_eq!(m.get_str("name").unwrap(), "llama");
        assert_eq!(m.get_str_array("tokens").unwrap(), ["a"]);
        let err = |r: Result<_>| -> String { r.map(|_: ()| ()).unwrap_err().to_string() };
        assert_eq!(
            err(m.get_u32("negative").map(drop)),
            "test.gguf: metadata key `negative` = -1 does not fit in u32"
        );
        assert_eq!(
            err(m.get_u32("missing").map(drop)),
            "test.gguf: metadata key `missing` is missing"
        );
        assert_eq!(
            err(m.get_str("count").map(drop)),
            "test.gguf: metadata key `count` is a u64, expected a string"
        );
        assert_eq!(
            err(m.get_f32_array("tokens").map(drop)),
            "test.gguf: metadata key `tokens` is an array of string, expected an array of f32"
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let mut m = sample();
        let e = m.insert("name".into(), Value::Bool(true)).unwrap_err();
        assert!(e.to_string().contains("`name` appears twice"), "{e}");
        assert_eq!(m.len(), 5);
    }
}
