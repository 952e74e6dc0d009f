//! Multi-digit addition as chat, with reasoning traces to learn from and an
//! answer to check: the worked example of teaching a model to think.
//!
//! A trace works the sum the way it is taught on paper, right to left, one
//! column per line, carrying into the next:
//!
//! ```text
//! <think>
//! 478 + 356
//! 8 + 6 = 14, write 4, carry 1
//! 7 + 5 + 1 = 13, write 3, carry 1
//! 4 + 3 + 1 = 8, write 8
//! so 478 + 356 = 834
//! </think>
//! 834
//! ```

use super::rl::ChatProblem;
use super::sft::Conversation;
use crate::generate::{Message, Rng};

/// A random problem of two numbers of `digits` digits each (the first
/// digit not zero).
pub fn problem(rng: &mut Rng, digits: usize) -> (u64, u64) {
    let digits = digits.clamp(1, 18) as u32;
    let low = if digits == 1 {
        0
    } else {
        10u64.pow(digits - 1)
    };
    let span = 10u64.pow(digits) - low;
    let mut draw = || low + rng.next_u64() % span;
    (draw(), draw())
}

/// What the user asks.
pub fn question(a: u64, b: u64) -> String {
    format!("What is {a} + {b}?")
}

/// The worked trace and the answer, as the assistant's reply.
pub fn trace(a: u64, b: u64) -> String {
    let (da, db) = (digits_of(a), digits_of(b));
    let mut lines = vec!["<think>".to_string(), format!("{a} + {b}")];
    let mut carry = 0;
    for i in 0..da.len().max(db.len()) {
        let (x, y) = (da.get(i).copied(), db.get(i).copied());
        let sum = x.unwrap_or(0) + y.unwrap_or(0) + carry;
        let mut terms: Vec<String> = [x, y].iter().flatten().map(u64::to_string).collect();
        if carry > 0 {
            terms.push(carry.to_string());
        }
        let last = i + 1 == da.len().max(db.len());
        let line = match (sum >= 10, last) {
            (true, false) => format!("{} = {sum}, write {}, carry 1", terms.join(" + "), sum - 10),
            (true, true) => format!("{} = {sum}, write {sum}", terms.join(" + ")),
            (false, _) => format!("{} = {sum}, write {sum}", terms.join(" + ")),
        };
        lines.push(line);
        carry = u64::from(sum >= 10);
    }
    lines.push(format!("so {a} + {b} = {}", a + b));
    lines.push("</think>".to_string());
    lines.push((a + b).to_string());
    lines.join("\n")
}

/// Digits, least significant first.
fn digits_of(mut n: u64) -> Vec<u64> {
    let mut out = vec![n % 10];
    n /= 10;
    while n > 0 {
        out.push(n % 10);
        n /= 10;
    }
    out
}

/// `n` conversations with traces, for supervised fine-tuning.
pub fn traces(rng: &mut Rng, n: usize, digits: usize) -> Vec<Conversation> {
    (0..n)
        .map(|_| {
            let (a, b) = problem(rng, digits);
            Conversation {
                messages: vec![
                    Message::user(question(a, b)),
                    Message::assistant(trace(a, b)),
                ],
            }
        })
        .collect()
}

/// `n` problems to practise or test on.
pub fn problems(rng: &mut Rng, n: usize, digits: usize) -> Vec<ChatProblem> {
    (0..n)
        .map(|_| {
            let (a, b) = problem(rng, digits);
            ChatProblem {
                messages: vec![Message::user(question(a, b))],
                answer: (a + b).to_string(),
            }
        })
        .collect()
}

/// The reply's final answer: the last number after its reasoning (after
/// `</think>`; none if the reasoning never closed), commas allowed.
pub fn final_answer(reply: &str) -> Option<String> {
    let after = match (reply.rfind("</think>"), reply.contains("<think>")) {
        (Some(at), _) => &reply[at + "</think>".len()..],
        // Reasoning that never ended gave no answer.
        (None, true) => return None,
        (None, false) => reply,
    };
    let cleaned: String = after.chars().filter(|&c| c != ',').collect();
    cleaned
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|s| !s.is_empty())
        .map(|s| s.trim_start_matches('0').to_string())
        .map(|s| if s.is_empty() { "0".to_string() } else { s })
}

/// 1 for the right final answer; otherwise 0.1 for a reply that closes its
/// reasoning and gives some number (the format is half the battle), else 0.
pub fn reward(reply: &str, answer: &str) -> f64 {
    match final_answer(reply) {
        Some(got) if got == answer => 1.0,
        Some(_) if reply.contains("</think>") => 0.1,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_carry_and_end_with_the_sum() {
        let t = trace(478, 356);
        assert!(t.contains("8 + 6 = 14, write 4, carry 1"), "{t}");
        assert!(t.contains("7 + 5 + 1 = 13, write 3, carry 1"), "{t}");
        assert!(t.contains("4 + 3 + 1 = 8, write 8"), "{t}");
        assert!(t.ends_with("</think>\n834"), "{t}");
        let t = trace(95, 7);
        assert!(
            t.contains("5 + 7 = 12, write 2, carry 1\n9 + 1 = 10, write 10"),
            "{t}"
        );
        assert_eq!(final_answer(&t).as_deref(), Some("102"));
    }

    #[test]
    fn every_trace_checks_out() {
        let mut rng = Rng::new(3);
        for digits in 1..=6 {
            for _ in 0..50 {
                let (a, b) = problem(&mut rng, digits);
                assert_eq!(a.to_string().len(), digits);
                assert_eq!(reward(&trace(a, b), &(a + b).to_string()), 1.0);
            }
        }
    }

    #[test]
    fn answers_are_read_after_the_reasoning() {
        assert_eq!(
            reward("<think>\n1 + 2 = 3\n</think>\nThe answer is 1,234.", "1234"),
            1.0
        );
        assert_eq!(reward("<think>\n5 + 7 = 12\n</think>\n13", "12"), 0.1);
        assert_eq!(reward("<think>\nhmm", "12"), 0.0);
        assert_eq!(reward("<think>\n5 + 7 = 12", "12"), 0.0);
        assert_eq!(reward("12", "12"), 1.0);
    }
}
