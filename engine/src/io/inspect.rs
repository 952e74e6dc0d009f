//! Describing a model file for people (`monologue inspect`) and for
//! programs (`monologue inspect --json`).

use super::{Array, ModelFile, Value};
use crate::error::printable;
use serde_json::{json, Map, Value as Json};
use std::fmt::Write;

/// Arrays longer than this are abbreviated in the text view.
const SHOWN_ITEMS: usize = 3;
/// Strings longer than this are cut in the text view.
const SHOWN_CHARS: usize = 60;

/// `{"format", "metadata", "tensors": [{"name", "dtype", "shape", "offset",
/// "bytes"}]}`, with every metadata value in full.
pub fn inspect_json(file: &ModelFile) -> Json {
    let metadata: Map<String, Json> = file
        .metadata()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_json()))
        .collect();
    let tensors: Vec<Json> = file
        .tensors()
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "dtype": t.ggml_type.name(),
                "shape": t.shape.dims(),
                "offset": t.offset,
                "bytes": t.bytes,
            })
        })
        .collect();
    json!({
        "format": file.format().name(),
        "metadata": metadata,
        "tensors": tensors,
    })
}

/// A metadata table, a tensor table and totals, with long values abbreviated.
pub fn inspect_text(file: &ModelFile) -> String {
    let mut out = String::new();
    let format = match file {
        ModelFile::Gguf(g) => format!("GGUF version {}", g.version()),
        ModelFile::Safetensors(_) => "safetensors".to_string(),
    };
    let _ = writeln!(out, "{}: {format}", printable(file.path()));

    let metadata = file.metadata();
    let _ = writeln!(out, "\nmetadata ({} keys)", metadata.len());
    // Names come from the file: escape what could steer a terminal.
    let key_width = metadata
        .iter()
        .map(|(k, _)| printable(k).len())
        .max()
        .unwrap_or(0);
    for (key, value) in metadata.iter() {
        let key = printable(key);
        let _ = writeln!(out, "  {key:key_width$}  {}", summarize(value));
    }

    let tensors = file.tensors();
    let _ = writeln!(out, "\ntensors ({})", tensors.len());
    let shapes: Vec<String> = tensors.iter().map(|t| t.shape.to_string()).collect();
    let name_width = tensors
        .iter()
        .map(|t| printable(&t.name).len())
        .max()
        .unwrap_or(4)
        .max(4);
    let shape_width = shapes.iter().map(String::len).max().unwrap_or(5).max(5);
    let _ = writeln!(
        out,
        "  {:name_width$}  {:5}  {:shape_width$}  {:>12}",
        "name", "dtype", "shape", "bytes"
    );
    for (t, shape) in tensors.iter().zip(&shapes) {
        let _ = writeln!(
            out,
            "  {:name_width$}  {:5}  {shape:shape_width$}  {:>12}",
            printable(&t.name),
            t.ggml_type.name(),
            t.bytes
        );
    }

    let params: u128 = tensors.iter().map(|t| t.shape.numel() as u128).sum();
    let bytes: u128 = tensors.iter().map(|t| t.bytes as u128).sum();
    let _ = writeln!(
        out,
        "\ntotal: {} tensors, {} parameters, {} bytes ({})",
        tensors.len(),
        params,
        bytes,
        human_bytes(bytes)
    );
    out
}

/// One line for a value: arrays as `[n type: first, second, …]`.
fn summarize(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Array(a) => summarize_array(a),
        other => other.to_json().to_string(),
    }
}

fn summarize_array(array: &Array) -> String {
    let n = array.len();
    let plural = if n == 1 { "" } else { "s" };
    let noun = match array.elem_type() {
        super::ValueType::String => format!("string{plural}"),
        super::ValueType::Array => format!("array{plural}"),
        t => t.name().to_string(),
    };
    let items: Vec<String> = (0..n.min(SHOWN_ITEMS))
        .filter_map(|i| array.get(i))
        .map(|v| summarize(&v))
        .collect();
    let more = if n > SHOWN_ITEMS { ", …" } else { "" };
    format!("[{n} {noun}: {}{more}]", items.join(", "))
}

/// A string in quotes with control characters escaped, cut if long.
fn quote(s: &str) -> String {
    let cut: String = s.chars().take(SHOWN_CHARS).collect();
    // JSON escapes C0 controls; `printable` also the C1 ones (U+009B).
    let escaped = printable(&Json::String(cut).to_string()).into_owned();
    if s.chars().count() > SHOWN_CHARS {
        format!("{}…\"", &escaped[..escaped.len() - 1])
    } else {
        escaped
    }
}

fn human_bytes(n: u128) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_abbreviated() {
        let tokens = Array::String((0..49152).map(|i| format!("t{i}")).collect());
        assert_eq!(
            summarize(&Value::Array(tokens)),
            r#"[49152 strings: "t0", "t1", "t2", …]"#
        );
        assert_eq!(
            summarize(&Value::Array(Array::F32(vec![0.5]))),
            "[1 f32: 0.5]"
        );
        let long = "x".repeat(100);
        assert_eq!(quote(&long), format!("\"{}…\"", "x".repeat(60)));
        assert_eq!(quote("a\nb"), r#""a\nb""#);
        assert_eq!(human_bytes(98_362_432), "93.8 MiB");
    }
}
