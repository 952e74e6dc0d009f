//! Tasks with verifiable rewards, written as one line of text each:
//! `abc:abc` (copy), `abc>cba` (reverse), `3+5=8` (arithmetic). A model
//! sees the prompt (up to and including the marker) and must write the
//! answer and then a newline.

use crate::error::{Error, Result};
use crate::generate::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Copy,
    Reverse,
    Arithmetic,
}

impl std::str::FromStr for Task {
    type Err = Error;
    fn from_str(s: &str) -> Result<Task> {
        match s {
            "copy" => Ok(Task::Copy),
            "reverse" => Ok(Task::Reverse),
            "arithmetic" => Ok(Task::Arithmetic),
            _ => Err(Error::Invalid(format!(
                "unknown task {s:?}: use copy, reverse or arithmetic"
            ))),
        }
    }
}

/// One problem: what the model is shown, and the answer it must write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub prompt: String,
    pub answer: String,
}

const LETTERS: &[u8] = b"abcdefghij";

impl Task {
    /// A random problem (strings of 2 to `max_len` letters; sums of two
    /// numbers below 50).
    pub fn problem(self, rng: &mut Rng, max_len: usize) -> Problem {
        match self {
            Task::Copy | Task::Reverse => {
                let len = 2 + rng.below(max_len.max(2) - 1);
                let s: String = (0..len)
                    .map(|_| LETTERS[rng.below(LETTERS.len())] as char)
                    .collect();
                if self == Task::Copy {
                    Problem {
                        prompt: format!("{s}:"),
                        answer: s,
                    }
                } else {
                    Problem {
                        prompt: format!("{s}>"),
                        answer: s.chars().rev().collect(),
                    }
                }
            }
            Task::Arithmetic => {
                let (a, b) = (rng.below(50), rng.below(50));
                Problem {
                    prompt: format!("{a}+{b}="),
                    answer: (a + b).to_string(),
                }
            }
        }
    }

    /// Supervised examples, one per line, to warm a model up on the format.
    pub fn corpus(self, rng: &mut Rng, lines: usize, max_len: usize) -> String {
        (0..lines)
            .map(|_| {
                let p = self.problem(rng, max_len);
                format!("{}{}\n", p.prompt, p.answer)
            })
            .collect()
    }
}

/// The reward of `completion` (the text after the prompt) for `answer`:
/// 1 for an exact answer ended by a newline; otherwise half the share of
/// answer characters right in their place, so that nearly right beats
/// wrong and GRPO has something to compare within a group.
pub fn reward(completion: &str, answer: &str) -> f64 {
    let written = completion.split('\n').next().unwrap_or("");
    if written == answer && completion.contains('\n') {
        return 1.0;
    }
    let right = written
        .chars()
        .zip(answer.chars())
        .filter(|(a, b)| a == b)
        .count();
    let longest = written.chars().count().max(answer.chars().count()).max(1);
    0.5 * right as f64 / longest as f64
}

/// Whether `completion` is exactly the answer.
pub fn exact(completion: &str, answer: &str) -> bool {
    reward(completion, answer) == 1.0
}
