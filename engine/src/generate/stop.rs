//! Stop strings in streamed text. A stop string may arrive split across
//! tokens, so text that could still become one is held back until it is
//! clear either way; the stop string itself is never shown.

#[derive(Debug, Clone, Default)]
pub struct StopStrings {
    stops: Vec<String>,
    held: String,
}

/// What feeding a piece of text produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fed {
    /// Text that is safe to show now.
    pub text: String,
    /// A stop string was completed; `text` ends just before it.
    pub stopped: bool,
}

impl StopStrings {
    pub fn new(stops: impl IntoIterator<Item = String>) -> Self {
        StopStrings {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            held: String::new(),
        }
    }

    pub fn feed(&mut self, piece: &str) -> Fed {
        self.held.push_str(piece);
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min()
        {
            let text = self.held[..at].to_string();
            self.held.clear();
            return Fed {
                text,
                stopped: true,
            };
        }
        // Keep the longest tail that is a proper prefix of some stop string.
        let keep = self
            .stops
            .iter()
            .map(|s| longest_suffix_prefix(&self.held, s))
            .max()
            .unwrap_or(0);
        let split = self.held.len() - keep;
        let text = self.held[..split].to_string();
        self.held.drain(..split);
        Fed {
            text,
            stopped: false,
        }
    }

    /// The text still held back, when generation ends for another reason.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// Length of the longest suffix of `text` that is a prefix of `stop`
/// (shorter than `stop`, and on a character boundary of `text`).
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    (1..stop.len().min(text.len() + 1))
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n)
                && stop
                    .as_bytes()
                    .starts_with(&text.as_bytes()[text.len() - n..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let mut s = StopStrings::new(stops.iter().map(|s| s.to_string()));
        let mut out = String::new();
        for p in pieces {
            let fed = s.feed(p);
            out += &fed.text;
            if fed.stopped {
                return (out, true);
            }
        }
        out += &s.finish();
        (out, false)
    }

    #[test]
    fn a_stop_string_split_across_pieces_is_caught_and_hidden() {
        assert_eq!(
            run(&["\nUser:"], &["Hi", " there\nUs", "er: more"]),
            ("Hi there".into(), true)
        );
        assert_eq!(run(&["END"], &["abcE", "N", "Dxyz"]), ("abc".into(), true));
    }

    #[test]
    fn a_false_start_is_released() {
        assert_eq!(
            run(&["END"], &["abcEN", "d more"]),
            ("abcENd more".into(), false)
        );
        assert_eq!(run(&["END"], &["abcEN"]), ("abcEN".into(), false));
    }

    #[test]
    fn the_earliest_stop_wins_and_multibyte_text_is_safe() {
        assert_eq!(run(&["b", "a"], &["xxab"]), ("xx".into(), true));
        assert_eq!(run(&["é!"], &["café", "é", "!"]), ("café".into(), true));
        assert_eq!(run(&[], &["plain"]), ("plain".into(), false));
    }
}
