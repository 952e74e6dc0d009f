//! The engine's imports run one way: a top-level module uses modules of
//! its own layer or of the layers below, never one above (the order that
//! ARCHITECTURE.md documents). The check reads `engine/src`: every
//! `crate::…` path (in `use` lines and inline), `super::` chains that climb
//! out of a top-level module, and the crate root's re-exports (`crate::Tensor`
//! is `tensor`). Run it alone with `cargo test --release --test suite layering`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. Modules of one layer may use each other.
const LAYERS: &[&[&str]] = &[
    &["error", "profile"],
    &["tensor", "quant", "io", "plot"],
    &["ops", "backend"],
    &["tokenizer"],
    &["model"],
    &["generate"],
    &["inspect", "rich"],
    &["train"],
    &["load", "language_model", "chat_session", "bench"],
    &["finetune"],
    &["script", "evcxr"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file (`model/exec/cpu.rs` → model, exec,
/// cpu; `model/mod.rs` → model).
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Names the crate root re-exports, and the module each comes from
/// (`pub use tensor::{DType, Tensor};` in lib.rs).
fn root_reexports() -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let mut names = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim_end_matches(';');
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        for item in items.trim_matches(['{', '}']).split(',') {
            names.insert(item.trim().to_string(), module.to_string());
        }
    }
    names
}

/// `text` without comments and string literals (which may mention paths
/// that are not imports).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_string {
                if c == '"' && prev != '\\' {
                    in_string = false;
                }
                prev = if prev == '\\' && c == '\\' { ' ' } else { c };
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' {
                in_string = true;
                prev = ' ';
                continue;
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// First segments of the paths in a `{a, b::c, d::{e, f}}` group at `s`
/// (which starts just after the `{`).
fn group_heads(s: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => expect_head = true,
            c if expect_head && depth == 0 && (c.is_alphabetic() || c == '_') => {
                heads.push(ident_at(&s[i..]).to_string());
                expect_head = false;
            }
            _ => {}
        }
    }
    heads
}

/// Whether the text before a `{` ends with `mod name`.
fn opens_module(before: &str) -> bool {
    let before = before.trim_end();
    let name_start = before
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let rest = before[..name_start].trim_end();
    name_start < before.len()
        && rest.ends_with("mod")
        && !rest[..rest.len() - 3].ends_with(|c: char| c.is_alphanumeric() || c == '_')
}

/// The top-level modules a file's code names.
fn imports(file: &Path, reexports: &BTreeMap<String, String>) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    imports_in(&text, &module_path(file), reexports)
}

/// The top-level modules named by `text`, the source of module `here`.
fn imports_in(
    text: &str,
    here: &[String],
    reexports: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let code = code_only(text);
    let mut found = BTreeSet::new();
    let mut add = |head: &str| {
        let module = reexports.get(head).map_or(head, String::as_str);
        found.insert(module.to_string());
    };
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            group_heads(group).iter().for_each(|h| add(h));
        } else {
            add(ident_at(rest));
        }
    }
    // `super::super::x` climbing out of a top-level module names x at
    // the root. Inline modules (`mod tests { … }`) add a level to climb.
    let bytes = code.as_bytes();
    let mut braces: Vec<bool> = Vec::new(); // whether each open brace opened a `mod`
    let mut i = 0;
    while i < bytes.len() {
        let boundary =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || b"_:".contains(&bytes[i - 1]));
        if boundary && bytes[i..].starts_with(b"super::") {
            let mut climbs = 0;
            while bytes[i..].starts_with(b"super::") {
                climbs += 1;
                i += "super::".len();
            }
            let depth = here.len() + braces.iter().filter(|&&m| m).count();
            if climbs >= depth {
                let rest = &code[i..];
                if let Some(group) = rest.strip_prefix('{') {
                    group_heads(group).iter().for_each(|h| add(h));
                } else {
                    add(ident_at(rest));
                }
            }
            continue;
        }
        match bytes[i] {
            b'{' => braces.push(opens_module(&code[..i])),
            b'}' => {
                braces.pop();
            }
            _ => {}
        }
        i += 1;
    }
    found
}

#[test]
fn engine_imports_point_down_the_layers() {
    let reexports = root_reexports();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let mut upward = Vec::new();
    let mut unknown = BTreeSet::new();
    let mut edges: BTreeMap<(String, String), usize> = BTreeMap::new();
    for file in &files {
        let path = module_path(file);
        // lib.rs declares the modules and re-exports from them.
        let Some(from) = path.first().filter(|&m| m != "lib") else {
            continue;
        };
        let Some(from_layer) = layer_of(from) else {
            unknown.insert(from.clone());
            continue;
        };
        for to in imports(file, &reexports) {
            if &to == from {
                continue;
            }
            *edges.entry((from.clone(), to.clone())).or_default() += 1;
            match layer_of(&to) {
                Some(to_layer) if to_layer > from_layer => upward.push(format!(
                    "{} uses {to} (layer {to_layer}, above {from}'s {from_layer})",
                    file.strip_prefix(src()).unwrap().display()
                )),
                Some(_) => {}
                None => {
                    unknown.insert(to);
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from LAYERS (add them where they belong): {unknown:?}"
    );
    // The edge list (shown with --nocapture, as scripts/layering.sh does).
    for ((from, to), files) in &edges {
        eprintln!("{from} -> {to} ({files} files)");
    }
    assert!(
        edges.len() > 50,
        "only {} edges found: is the parser blind?",
        edges.len()
    );
    assert!(
        upward.is_empty(),
        "imports pointing up the layers:\n{}",
        upward.join("\n")
    );
}

/// The checker sees the import forms the engine uses, so a violation
/// cannot hide behind one of them; comments and strings are not imports.
#[test]
fn the_layering_check_reads_every_import_form() {
    let reexports: BTreeMap<String, String> = [("Tensor".to_string(), "tensor".to_string())]
        .into_iter()
        .collect();
    let code = "use crate::{error::Error, io::{A, B}, Tensor};\n\
                // use crate::script;\n\
                let s = \"crate::train\";\n\
                fn f() { crate::generate::argmax(x); }\n\
                use super::super::inspect::Hooks;\n\
                use super::site::Point;\n\
                mod tests { use super::super::super::Other; use super::*; }\n";
    let here = ["model".to_string(), "exec".to_string()];
    let found = imports_in(code, &here, &reexports);
    let want: BTreeSet<String> = ["error", "io", "tensor", "generate", "inspect", "Other"]
        .map(String::from)
        .into();
    assert_eq!(found, want);
    assert_eq!(
        module_path(&src().join("model/exec/cpu.rs")),
        ["model", "exec", "cpu"]
    );
    assert_eq!(module_path(&src().join("model/mod.rs")), ["model"]);
}
