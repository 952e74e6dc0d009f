//! `:help` and tab completion, read from the rhai metadata that every
//! registered function carries (its name, parameter types and doc comment).

use rhai::Engine;
use serde_json::Value;
use std::collections::BTreeMap;

/// The types our API registers; methods are functions whose first
/// parameter is one of them.
const API_TYPES: [&str; 5] = ["Model", "Chat", "Tensor", "Profile", "Plot"];

/// One documented entry point.
#[derive(Debug, Clone)]
struct Entry {
    /// As called: `generate`, or `shape` for a property.
    name: String,
    signature: String,
    doc: String,
    /// The type it is called on (`m.generate`), if any.
    receiver: Option<String>,
    property: bool,
}

fn entries(engine: &Engine) -> Vec<Entry> {
    let Ok(json) = engine.gen_fn_metadata_to_json(false) else {
        return Vec::new();
    };
    let Ok(meta) = serde_json::from_str::<Value>(&json) else {
        return Vec::new();
    };
    let functions = meta["functions"].as_array().cloned().unwrap_or_default();
    functions
        .iter()
        .filter_map(|f| {
            let raw = f["name"].as_str()?;
            let doc = f["docComments"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(Value::as_str)
                        .flat_map(str::lines)
                        .map(|l| l.trim_start_matches("///").trim())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            if doc.is_empty() {
                return None; // operators, indexers and internals
            }
            let (name, property) = match raw.strip_prefix("get$") {
                Some(p) => (p.to_string(), true),
                None => (raw.to_string(), false),
            };
            let first_type = f["params"]
                .as_array()
                .and_then(|p| p.first())
                .and_then(|p| p["type"].as_str())
                .map(|t| t.trim_start_matches("&mut ").to_string());
            let receiver = first_type.filter(|t| API_TYPES.contains(&t.as_str()));
            let signature = readable_signature(f["signature"].as_str().unwrap_or(raw));
            Some(Entry {
                name,
                signature,
                doc,
                receiver,
                property,
            })
        })
        .collect()
}

/// rhai prints Rust's type paths (`core::result::Result<alloc::string::String,
/// …EvalAltResult>>`); a script writer wants `string`.
fn readable_signature(signature: &str) -> String {
    let mut s = signature.replace("get$", "");
    // Fallible functions return `Result<T, Box<EvalAltResult>>`: show `T`.
    while let Some(i) = s.find("core::result::Result<") {
        let inner_start = i + "core::result::Result<".len();
        let mut depth = 0;
        let mut end = s.len();
        let mut comma = None;
        for (j, c) in s[inner_start..].char_indices() {
            match c {
                '<' => depth += 1,
                '>' if depth == 0 => {
                    end = inner_start + j;
                    break;
                }
                '>' => depth -= 1,
                ',' if depth == 0 && comma.is_none() => comma = Some(inner_start + j),
                _ => {}
            }
        }
        let ok = s[inner_start..comma.unwrap_or(end)].to_string();
        s.replace_range(i..=end.min(s.len() - 1), &ok);
    }
    // Paths to their last segment, then rhai's names for Rust types.
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let last = word.rsplit("::").next().unwrap_or("").to_string();
        out.push_str(match last.as_str() {
            "String" | "ImmutableString" | "str" => "string",
            "i64" => "int",
            "f64" => "float",
            "ModelHandle" => "Model",
            "ChatHandle" => "Chat",
            "ProfileTable" => "Profile",
            "Dynamic" => "any",
            other => other,
        });
        word.clear();
    };
    for c in s.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out.replace("Vec<any>", "array")
        .replace("&mut ", "")
        .replace('&', "")
        .replace("_: ", "")
}

/// The overview (no name) or every entry called `name`.
pub fn help(engine: &Engine, name: Option<&str>) -> String {
    let all = entries(engine);
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => {
            let name = name.trim_start_matches('.');
            let found: Vec<&Entry> = all.iter().filter(|e| e.name == name).collect();
            if found.is_empty() {
                let close: Vec<&str> = all
                    .iter()
                    .map(|e| e.name.as_str())
                    .filter(|n| n.contains(name) || (n.len() >= 3 && name.contains(*n)))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                return if close.is_empty() {
                    format!("no function or method called `{name}` (:help lists them all)")
                } else {
                    format!("no `{name}`; did you mean: {}", close.join(", "))
                };
            }
            found
                .iter()
                .map(|e| {
                    let call = match (&e.receiver, e.property) {
                        (Some(t), true) => format!("{}.{}  (property of {t})", var(t), e.name),
                        (Some(t), false) => format!("{}.{}", var(t), method_signature(e)),
                        (None, _) => e.signature.clone(),
                    };
                    format!("{call}\n    {}", e.doc.replace('\n', "\n    "))
                })
                .collect::<Vec<_>>()
                .join("\n\n")
        }
        None => overview(&all),
    }
}

/// The variable name a type is usually bound to in examples.
fn var(type_name: &str) -> &'static str {
    match type_name {
        "Model" => "m",
        "Chat" => "c",
        "Tensor" => "t",
        "Profile" => "p",
        _ => "plot",
    }
}

/// `generate(prompt: &str, opts: Map) -> String` without the receiver.
fn method_signature(e: &Entry) -> String {
    let s = &e.signature;
    let Some(open) = s.find('(') else {
        return s.clone();
    };
    let rest = &s[open + 1..];
    let after_first = match rest.find(", ") {
        Some(i) if i < rest.find(')').unwrap_or(usize::MAX) => &rest[i + 2..],
        _ => rest.find(')').map_or("", |i| &rest[i..]),
    };
    format!("{}({after_first}", &s[..open])
}

fn overview(all: &[Entry]) -> String {
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for e in all {
        let group = e.receiver.as_deref().unwrap_or("functions");
        let shown = if e.property {
            e.name.clone()
        } else {
            format!("{}()", e.name)
        };
        let list = groups.entry(group).or_default();
        if e.name != "to_debug" && !list.contains(&shown) {
            list.push(shown);
        }
    }
    let mut out = String::from(
        "Monologue scripting (rhai). Try:\n  let m = load_model(\"smollm2\");\n  m.generate(\"The capital of France is\", #{ max_tokens: 16, temperature: 0.0 })\n\n",
    );
    let order = ["functions", "Model", "Chat", "Tensor", "Profile", "Plot"];
    for group in order {
        if let Some(names) = groups.get(group) {
            let mut names = names.clone();
            names.sort();
            let title = if group == "functions" {
                "functions".to_string()
            } else {
                format!("{group} ({}.…)", var(group))
            };
            out += &format!("{title}:\n  {}\n", wrap(&names.join(", "), 76, "  "));
        }
    }
    out += "\n:help NAME shows one function's signature and documentation.";
    out
}

fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        if line > 0 && line + word.len() + 1 > width {
            out += "\n";
            out += indent;
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out += word;
        line += word.len();
    }
    out
}

/// rhai's keywords, completed like functions.
const KEYWORDS: [&str; 14] = [
    "let", "const", "fn", "if", "else", "for", "in", "while", "loop", "break", "continue",
    "return", "true", "false",
];

/// Completions for the word that ends at `pos`: after a `.` the methods and
/// properties of our types; inside `load_model("` the model names;
/// otherwise functions, variables and keywords.
pub fn complete(
    engine: &Engine,
    variables: &[String],
    line: &str,
    pos: usize,
) -> (usize, Vec<String>) {
    let pos = pos.min(line.len());
    let before = &line[..pos];
    if let Some(start) = model_name_start(before) {
        let typed = &before[start..];
        let names = crate::load::known_model_names();
        return (start, filter(names, typed));
    }
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(pos, |(i, _)| i);
    let word = &before[start..];
    let all = entries(engine);
    let after_dot = before[..start].ends_with('.');
    let candidates: Vec<String> = if after_dot {
        all.iter()
            .filter(|e| e.receiver.is_some())
            .map(|e| e.name.clone())
            .collect()
    } else {
        all.iter()
            .filter(|e| e.receiver.is_none())
            .map(|e| e.name.clone())
            .chain(variables.iter().cloned())
            .chain(KEYWORDS.iter().map(|k| k.to_string()))
            .collect()
    };
    (start, filter(candidates, word))
}

fn filter(candidates: Vec<String>, typed: &str) -> Vec<String> {
    let mut out: Vec<String> = candidates
        .into_iter()
        .filter(|c| c.starts_with(typed))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Where the model name starts when the cursor is inside `load_model("…`.
fn model_name_start(before: &str) -> Option<usize> {
    let quote = before.rfind('"')?;
    let head = before[..quote].trim_end();
    let head = head.strip_suffix('(')?.trim_end();
    head.ends_with("load_model").then_some(quote + 1)
}
