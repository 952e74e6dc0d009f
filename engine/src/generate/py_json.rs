//! Python's `json.dumps`, as the `tojson` filter of Hugging Face chat
//! templates writes JSON (`transformers` defines `tojson` as `json.dumps`
//! with `ensure_ascii=False` by default): `", "` and `": "` between items,
//! floats as Python's `repr`, no HTML escaping.
//!
//! Templates are untrusted, so the value's depth and size and the text
//! written are bounded before and while it is written: a list nested
//! 40,000 deep or a megabyte-long separator is an error, never a stack
//! overflow or gigabytes of output.

use minijinja::value::{Kwargs, Value as JValue, ValueKind};
use minijinja::ErrorKind;
use serde_json::Value as JsonValue;

/// The deepest value `tojson` writes. Python's `json.dumps` gives up near
/// 1,000 levels (its recursion limit); real tool schemas nest a handful.
pub(super) const MAX_DEPTH: usize = 256;

/// Why `tojson` stopped: the text would pass its byte budget.
struct TooLong;

type Filtered = std::result::Result<JValue, minijinja::Error>;

/// The `tojson` filter, writing at most `max_bytes` of text (the render's
/// own output cap: a longer string could never reach the prompt).
pub(super) fn tojson_filter(max_bytes: usize) -> impl Fn(JValue, Kwargs) -> Filtered {
    move |value, kwargs| tojson(value, kwargs, max_bytes)
}

/// `tojson(indent=None, sort_keys=False, ensure_ascii=False, separators=None)`
/// as transformers defines it: `json.dumps` with those arguments, so no HTML
/// escaping and `", "` / `": "` between items.
fn tojson(value: JValue, kwargs: Kwargs, max_bytes: usize) -> Filtered {
    let bad = |m: String| minijinja::Error::new(ErrorKind::InvalidOperation, m);
    let indent: Option<String> = match kwargs.get::<Option<JValue>>("indent")? {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => {
            if let Some(s) = v.as_str() {
                Some(s.to_string())
            } else if let Some(n) = v.as_i64() {
                Some(" ".repeat(n.clamp(0, 64) as usize))
            } else {
                return Err(bad(format!(
                    "tojson: indent must be a number or string, not {v}"
                )));
            }
        }
    };
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(false);
    let separators = match kwargs.get::<Option<JValue>>("separators")? {
        Some(v) if !v.is_none() && !v.is_undefined() => {
            let parts: Vec<String> = v
                .try_iter()?
                .take(3)
                .map(|p| p.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("tojson: separators must be two strings".into()))?;
            let [item, key]: [String; 2] = parts
                .try_into()
                .map_err(|_| bad("tojson: separators must be two strings".into()))?;
            Some((item, key))
        }
        _ => None,
    };
    kwargs.assert_all_used()?;
    let (item_sep, key_sep) = separators.unwrap_or_else(|| {
        let item = if indent.is_some() { "," } else { ", " };
        (item.to_string(), ": ".to_string())
    });
    // Every node writes at least a byte, so a value of more nodes than
    // the budget has bytes could only fail later (and a value built from
    // shared pieces may have exponentially many).
    let mut nodes_left = max_bytes;
    let json = to_json(&value, 0, &mut nodes_left).map_err(bad)?;
    let style = JsonStyle {
        indent: indent.as_deref(),
        item_sep: &item_sep,
        key_sep: &key_sep,
        sort_keys,
        ensure_ascii,
        max_bytes,
    };
    let mut out = String::new();
    style.write(&json, 0, &mut out).map_err(|TooLong| {
        bad(format!(
            "tojson: the text would exceed the limit of {max_bytes} bytes"
        ))
    })?;
    Ok(JValue::from(out))
}

/// A template value as JSON, refusing more than [`MAX_DEPTH`] levels or
/// more nodes than `nodes_left` (counted down).
fn to_json(v: &JValue, depth: usize, nodes_left: &mut usize) -> Result<JsonValue, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "tojson: the value nests deeper than {MAX_DEPTH} levels"
        ));
    }
    *nodes_left = nodes_left
        .checked_sub(1)
        .ok_or_else(|| "tojson: the value has more items than the output could hold".to_string())?;
    let items = |v: &JValue| {
        v.try_iter()
            .map_err(|e| format!("tojson: cannot convert the value to JSON: {e}"))
    };
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            let mut out = Vec::new();
            for item in items(v)? {
                out.push(to_json(&item, depth + 1, nodes_left)?);
            }
            Ok(JsonValue::Array(out))
        }
        ValueKind::Map => {
            let mut out = serde_json::Map::new();
            for key in items(v)? {
                let item = v.get_item(&key).unwrap_or_default();
                out.insert(json_key(&key), to_json(&item, depth + 1, nodes_left)?);
            }
            Ok(JsonValue::Object(out))
        }
        // Scalars: serde writes them without recursing.
        _ => serde_json::to_value(v)
            .map_err(|e| format!("tojson: cannot convert the value to JSON: {e}")),
    }
}

/// A map key as Python's `json.dumps` writes it: strings as they are,
/// `True` / `False` / `None` as `true` / `false` / `null`, numbers as text.
fn json_key(key: &JValue) -> String {
    match key.kind() {
        ValueKind::String => key.as_str().unwrap_or_default().to_string(),
        ValueKind::Bool => if key.is_true() { "true" } else { "false" }.to_string(),
        ValueKind::None | ValueKind::Undefined => "null".to_string(),
        ValueKind::Number if key.as_i64().is_none() => {
            f64::try_from(key.clone()).map_or_else(|_| key.to_string(), python_float)
        }
        _ => key.to_string(),
    }
}

struct JsonStyle<'a> {
    indent: Option<&'a str>,
    item_sep: &'a str,
    key_sep: &'a str,
    sort_keys: bool,
    ensure_ascii: bool,
    max_bytes: usize,
}

impl JsonStyle<'_> {
    /// Appends `s`, unless the text would pass the budget.
    fn push(&self, out: &mut String, s: &str) -> Result<(), TooLong> {
        if out.len() + s.len() > self.max_bytes {
            return Err(TooLong);
        }
        out.push_str(s);
        Ok(())
    }

    fn newline(&self, depth: usize, out: &mut String) -> Result<(), TooLong> {
        if let Some(ind) = self.indent {
            self.push(out, "\n")?;
            for _ in 0..depth {
                self.push(out, ind)?;
            }
        }
        Ok(())
    }

    fn write(&self, v: &JsonValue, depth: usize, out: &mut String) -> Result<(), TooLong> {
        match v {
            JsonValue::Null => self.push(out, "null"),
            JsonValue::Bool(b) => self.push(out, if *b { "true" } else { "false" }),
            JsonValue::Number(n) => {
                if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                    self.push(out, &python_float(f))
                } else {
                    self.push(out, &n.to_string())
                }
            }
            JsonValue::String(s) => self.string(s, out),
            JsonValue::Array(items) => {
                if items.is_empty() {
                    return self.push(out, "[]");
                }
                self.push(out, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.push(out, self.item_sep)?;
                    }
                    self.newline(depth + 1, out)?;
                    self.write(item, depth + 1, out)?;
                }
                self.newline(depth, out)?;
                self.push(out, "]")
            }
            JsonValue::Object(map) => {
                if map.is_empty() {
                    return self.push(out, "{}");
                }
                let mut entries: Vec<(&String, &JsonValue)> = map.iter().collect();
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                self.push(out, "{")?;
                for (i, (k, item)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        self.push(out, self.item_sep)?;
                    }
                    self.newline(depth + 1, out)?;
                    self.string(k, out)?;
                    self.push(out, self.key_sep)?;
                    self.write(item, depth + 1, out)?;
                }
                self.newline(depth, out)?;
                self.push(out, "}")
            }
        }
    }

    fn string(&self, s: &str, out: &mut String) -> Result<(), TooLong> {
        // The escaped text is at least as long as the string; the budget
        // is checked again once it is written (escapes at most sextuple it).
        if out.len() + 2 + s.len() > self.max_bytes {
            return Err(TooLong);
        }
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || (self.ensure_ascii && (c as u32) > 0x7e) => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        if out.len() > self.max_bytes {
            return Err(TooLong);
        }
        Ok(())
    }
}

/// A float as Python's `repr` writes it: the shortest digits that round-trip,
/// positional for exponents -4..16, else `1e+20` / `1.5e-07`.
pub(super) fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.25e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let s = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            let (a, b) = digits.split_at(point as usize);
            format!("{a}.{b}")
        };
        format!("{sign}{s}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        for (f, want) in [
            (0.5, "0.5"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (100.0, "100.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (f64::INFINITY, "Infinity"),
        ] {
            assert_eq!(python_float(f), want, "{f:e}");
        }
    }
}
