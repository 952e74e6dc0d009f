//! What a `tokenizer.json` says happens to text before the model sees it:
//! its `normalizer` and `pre_tokenizer`, read into a [`Normalizer`] and a
//! [`PreTokenizer`] (a hand-written scanner where one matches, regex steps
//! otherwise). Anything we cannot do exactly is an error that names it.

use serde_json::Value;

use super::normalize::{Normalizer, PrefixSpace};
use super::pretokenize::{PreTokenizer, Scanner};
use super::regex_split::{Behavior, RegexSplit, Step};
use crate::{Error, Result};

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("tokenizer.json: {msg}"))
}

pub(super) fn flag(v: &Value, key: &str, default: bool) -> Result<bool> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(format!("{key} should be true or false, not {other}"))),
    }
}

fn kind(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("")
}

/// The components of `v`: a `Sequence`'s list, or `v` alone.
fn components<'a>(v: &'a Value, list_key: &str) -> Result<Vec<&'a Value>> {
    if v.is_null() {
        return Ok(vec![]);
    }
    if kind(v) == "Sequence" {
        let list = v
            .get(list_key)
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("Sequence without a {list_key} list")))?;
        let mut out = vec![];
        for item in list {
            out.extend(components(item, list_key)?);
        }
        return Ok(out);
    }
    Ok(vec![v])
}

/// `{"String": s}` as an escaped regex, or `{"Regex": r}` as it is.
fn pattern(v: &Value) -> Result<String> {
    let p = v
        .get("pattern")
        .ok_or_else(|| bad("Split without a pattern"))?;
    if let Some(s) = p.get("String").and_then(Value::as_str) {
        return Ok(fancy_regex::escape(s).into_owned());
    }
    if let Some(r) = p.get("Regex").and_then(Value::as_str) {
        return Ok(r.to_string());
    }
    Err(bad(format!(
        "Split pattern {p} is neither String nor Regex"
    )))
}

/// Reads the `normalizer`.
pub(super) fn normalizer(v: &Value) -> Result<Normalizer> {
    let mut n = Normalizer::default();
    for c in components(v, "normalizers")? {
        match kind(c) {
            "NFC" => n.nfc = true,
            "Prepend" if c.get("prepend").and_then(Value::as_str) == Some("▁") => {
                n.prefix = PrefixSpace::EachRun;
            }
            "Replace"
                if c.get("pattern")
                    .and_then(|p| p.get("String"))
                    .and_then(Value::as_str)
                    == Some(" ")
                    && c.get("content").and_then(Value::as_str) == Some("▁") =>
            {
                n.escape_spaces = true;
            }
            other => {
                return Err(bad(format!(
                    "normalizer {other} ({c}) is not supported; supported: NFC, \
                     Prepend(\"▁\"), Replace(\" \" → \"▁\")"
                )))
            }
        }
    }
    Ok(n)
}

/// What the `pre_tokenizer` amounts to: how text is cut, and whether it is
/// spelled byte-level.
pub(super) struct Pre {
    pub pre: PreTokenizer,
    pub byte_level: bool,
}

/// Reads the `pre_tokenizer`; a Metaspace component also sets the spelling
/// in `normalizer`.
pub(super) fn pre_tokenizer(v: &Value, normalizer: &mut Normalizer) -> Result<Pre> {
    let mut steps: Vec<Step> = vec![];
    let mut byte_level = false;
    for c in components(v, "pretokenizers")? {
        // Steps after ByteLevel see its spelling of the text.
        let after_byte_level = byte_level;
        let first_new = steps.len();
        match kind(c) {
            "ByteLevel" => {
                byte_level = true;
                if flag(c, "add_prefix_space", false)? {
                    return Err(bad("ByteLevel add_prefix_space=true is not supported"));
                }
                if flag(c, "use_regex", true)? {
                    steps.push(Step::scanner(Scanner::Gpt2));
                }
            }
            "Split" => {
                let behavior =
                    Behavior::from_name(c.get("behavior").and_then(Value::as_str).unwrap_or(""))
                        .map_err(bad)?;
                steps.push(
                    Step::regex(&pattern(c)?, behavior, flag(c, "invert", false)?).map_err(bad)?,
                );
            }
            "Digits" => {
                let one = flag(c, "individual_digits", false)?;
                let p = if one { r"\p{N}" } else { r"\p{N}+" };
                steps.push(Step::regex(p, Behavior::Isolated, false)?);
            }
            "Punctuation" => {
                let behavior = Behavior::from_name(
                    c.get("behavior")
                        .and_then(Value::as_str)
                        .unwrap_or("Isolated"),
                )
                .map_err(bad)?;
                // Unicode punctuation and ASCII's (which counts $+<=>^`|~).
                let p = r"[\p{P}\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E]";
                steps.push(Step::regex(p, behavior, false)?);
            }
            "Whitespace" => steps.push(Step::regex(r"\w+|[^\w\s]+", Behavior::Removed, true)?),
            "WhitespaceSplit" => steps.push(Step::regex(r"\s+", Behavior::Removed, false)?),
            "Metaspace" => {
                if c.get("replacement").and_then(Value::as_str) != Some("▁") {
                    return Err(bad(format!(
                        "Metaspace with replacement {} is not supported (only ▁)",
                        c.get("replacement").unwrap_or(&Value::Null)
                    )));
                }
                normalizer.escape_spaces = true;
                normalizer.prefix_only_if_missing = true;
                // Older files say add_prefix_space; newer, prepend_scheme.
                let scheme = match c.get("prepend_scheme").and_then(Value::as_str) {
                    Some(s) => s.to_string(),
                    None if flag(c, "add_prefix_space", true)? => "always".into(),
                    None => "never".into(),
                };
                normalizer.prefix = match scheme.as_str() {
                    "always" => PrefixSpace::EachRun,
                    "first" => PrefixSpace::FirstRun,
                    "never" => PrefixSpace::Never,
                    other => return Err(bad(format!("Metaspace prepend_scheme {other:?}"))),
                };
                if flag(c, "split", true)? {
                    steps.push(Step::regex("▁", Behavior::MergedWithNext, false)?);
                }
            }
            other => {
                return Err(bad(format!(
                    "pre-tokenizer {other:?} is not supported; supported: ByteLevel, Split, \
                     Digits, Punctuation, Whitespace, WhitespaceSplit, Metaspace, Sequence"
                )))
            }
        }
        if after_byte_level {
            for s in &mut steps[first_new..] {
                s.byte_level = true;
            }
        }
    }
    Ok(Pre {
        pre: fast_path(steps),
        byte_level,
    })
}

/// A hand-written scanner where the steps are one we have.
fn fast_path(steps: Vec<Step>) -> PreTokenizer {
    use super::regex_split::Finder;
    fn regex(s: &Step) -> Option<&str> {
        match &s.finder {
            Finder::Regex(re) if s.behavior == Behavior::Isolated && !s.invert && !s.byte_level => {
                Some(re.as_str())
            }
            _ => None,
        }
    }
    let scanner = |s: &Step| match s.finder {
        Finder::Scanner(sc) => Some(sc),
        _ => None,
    };
    match steps.as_slice() {
        [] => return PreTokenizer::Whole,
        [s] if scanner(s) == Some(Scanner::Gpt2) => return PreTokenizer::Gpt2,
        [d, s] if regex(d) == Some(r"\p{N}") && scanner(s) == Some(Scanner::Gpt2) => {
            return PreTokenizer::SmolLm
        }
        [s] => {
            if let Some(fast) = regex(s).and_then(PreTokenizer::from_pattern) {
                return fast;
            }
        }
        _ => {}
    }
    PreTokenizer::Regex(std::sync::Arc::new(RegexSplit {
        name: "custom".into(),
        steps,
    }))
}
