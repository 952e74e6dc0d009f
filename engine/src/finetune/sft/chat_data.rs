//! Conversations as JSON lines: `{"messages": [{"role": …, "content": …},
//! …]}` on each line, the format chat datasets are shared in. Other fields
//! of a message (`reasoning_content`, `name`, …) go to the chat template
//! as they are.

use crate::error::{Error, Result};
use crate::generate::Message;
use serde::Deserialize;
use std::path::Path;

/// One training conversation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Conversation {
    pub messages: Vec<Message>,
}

/// Most messages one conversation may have (a template renders each).
const MAX_MESSAGES: usize = 4096;

/// The conversations of a JSON-lines file; blank lines are skipped. An
/// error names the line and what is wrong with it.
pub fn read_jsonl(path: &Path) -> Result<Vec<Conversation>> {
    let text = crate::io::read_text(path)?;
    parse_jsonl(&text, &path.display().to_string())
}

/// [`read_jsonl`] of text already read (`source` names it in errors).
pub fn parse_jsonl(text: &str, source: &str) -> Result<Vec<Conversation>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: String| Error::Invalid(format!("{source}:{}: {why}", n + 1));
        let conversation: Conversation = serde_json::from_str(line).map_err(|e| {
            bad(format!(
                "not a {{\"messages\": [{{\"role\": …, \"content\": …}}, …]}} object: {e}"
            ))
        })?;
        let messages = &conversation.messages;
        if messages.len() > MAX_MESSAGES {
            return Err(bad(format!(
                "{} messages, more than the {MAX_MESSAGES} a conversation may have",
                messages.len()
            )));
        }
        if !messages.iter().any(|m| m.role == "assistant") {
            return Err(bad(
                "no assistant message: nothing to learn from this conversation".into(),
            ));
        }
        out.push(conversation);
    }
    if out.is_empty() {
        return Err(Error::Invalid(format!("{source}: no conversations")));
    }
    Ok(out)
}
