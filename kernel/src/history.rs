//! The inputs (and text outputs) of this kernel's cells, answered for
//! `history_request` by tail, range or glob search, as IPython does.

use serde_json::{json, Value};

/// History sessions are numbered; this kernel has one, its own.
const SESSION: u64 = 1;

#[derive(Default)]
pub struct History {
    entries: Vec<Entry>,
}

struct Entry {
    line: u64,
    input: String,
    output: Option<String>,
}

impl History {
    pub fn add(&mut self, line: u64, input: &str) {
        self.entries.push(Entry {
            line,
            input: input.to_string(),
            output: None,
        });
    }

    /// The text a cell evaluated to.
    pub fn set_output(&mut self, line: u64, text: &str) {
        if let Some(e) = self.entries.iter_mut().rev().find(|e| e.line == line) {
            e.output = Some(text.to_string());
        }
    }

    pub fn reply(&self, request: &Value) -> Value {
        let output = request["output"].as_bool().unwrap_or(false);
        let n = request["n"].as_u64().map(|n| n as usize);
        let chosen: Vec<&Entry> = match request["hist_access_type"].as_str().unwrap_or("tail") {
            "range" => {
                let start = request["start"].as_u64().unwrap_or(0);
                let stop = request["stop"].as_u64().unwrap_or(u64::MAX);
                let session = request["session"].as_i64().unwrap_or(SESSION as i64);
                if session != SESSION as i64 && session != 0 {
                    Vec::new()
                } else {
                    self.entries
                        .iter()
                        .filter(|e| e.line >= start && e.line < stop)
                        .collect()
                }
            }
            "search" => {
                let pattern = request["pattern"].as_str().unwrap_or("*");
                let mut found: Vec<&Entry> = self
                    .entries
                    .iter()
                    .filter(|e| monologue::inspect::glob_match(pattern, &e.input))
                    .collect();
                if request["unique"].as_bool().unwrap_or(false) {
                    let mut seen = std::collections::HashSet::new();
                    found.reverse();
                    found.retain(|e| seen.insert(e.input.clone()));
                    found.reverse();
                }
                tail(found, n)
            }
            _ => tail(self.entries.iter().collect(), n),
        };
        let items: Vec<Value> = chosen
            .into_iter()
            .map(|e| {
                if output {
                    json!([SESSION, e.line, [e.input, e.output]])
                } else {
                    json!([SESSION, e.line, e.input])
                }
            })
            .collect();
        json!({"status": "ok", "history": items})
    }
}

fn tail(entries: Vec<&Entry>, n: Option<usize>) -> Vec<&Entry> {
    let n = n.unwrap_or(entries.len());
    let skip = entries.len().saturating_sub(n);
    entries.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_range_and_search() {
        let mut h = History::default();
        h.add(1, "1 + 1");
        h.set_output(1, "2");
        h.add(2, "let x = 3;");
        h.add(3, "1 + 1");
        let r = h.reply(&json!({"hist_access_type": "tail", "n": 2}));
        assert_eq!(r["history"], json!([[1, 2, "let x = 3;"], [1, 3, "1 + 1"]]));
        let r = h.reply(&json!({"hist_access_type": "range", "session": 1, "start": 1, "stop": 2, "output": true}));
        assert_eq!(r["history"], json!([[1, 1, ["1 + 1", "2"]]]));
        let r = h.reply(&json!({"hist_access_type": "search", "pattern": "1 *", "unique": true}));
        assert_eq!(r["history"], json!([[1, 3, "1 + 1"]]));
    }
}
