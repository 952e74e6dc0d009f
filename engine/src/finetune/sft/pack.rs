//! Packing encoded conversations into training rows of `seq` tokens.
//!
//! Conversations vary from a dozen tokens to thousands; padding each to the
//! longest wastes most of a batch. Instead, several go into one row, one
//! after another, and each row keeps where its documents start: the model
//! reads every document as if alone (positions restart, attention stops at
//! the boundary), so packing changes the arithmetic, never the result.
//! Documents are placed longest first, each into the fullest row it fits
//! (best fit), which fills rows to well over 90% on chat data. What is
//! left of a row is padding, scored nowhere.

use super::encode::Encoded;
use crate::error::{Error, Result};
use crate::train::kernels::loss::IGNORE;
use serde::Serialize;
use std::collections::BTreeMap;

/// One training row: `seq` tokens, the token each position must predict
/// ([`IGNORE`] where nothing is scored), and where each position's
/// document starts in the row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub ids: Vec<u32>,
    pub targets: Vec<u32>,
    pub starts: Vec<usize>,
}

/// What packing did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PackStats {
    pub documents: usize,
    pub rows: usize,
    /// Tokens in documents (not padding), and how many are scored.
    pub tokens: usize,
    pub scored: usize,
    /// Documents cut to `seq` tokens, and those left with nothing scored
    /// (dropped).
    pub truncated: usize,
    pub dropped: usize,
}

impl PackStats {
    /// The share of row positions holding document tokens.
    pub fn fill(&self, seq: usize) -> f64 {
        self.tokens as f64 / (self.rows * seq).max(1) as f64
    }
}

/// Packs `documents` into rows of `seq` tokens; `pad` fills what is left.
pub fn pack(documents: &[Encoded], seq: usize, pad: u32) -> Result<(Vec<Row>, PackStats)> {
    if seq < 2 {
        return Err(Error::Invalid(format!(
            "rows of {seq} tokens cannot hold a prediction"
        )));
    }
    let mut stats = PackStats {
        documents: documents.len(),
        ..PackStats::default()
    };
    // Each document's (ids, targets), cut to fit a row.
    let mut pieces: Vec<(Vec<u32>, Vec<u32>)> = Vec::new();
    for doc in documents {
        let len = doc.ids.len().min(seq);
        stats.truncated += usize::from(doc.ids.len() > seq);
        let targets: Vec<u32> = (0..len)
            .map(|t| match (doc.ids.get(t + 1), doc.scored.get(t + 1)) {
                (Some(&next), Some(true)) if t + 1 < len => next,
                _ => IGNORE,
            })
            .collect();
        if targets.iter().all(|&t| t == IGNORE) {
            stats.dropped += 1;
            continue;
        }
        stats.tokens += len;
        stats.scored += targets.iter().filter(|&&t| t != IGNORE).count();
        pieces.push((doc.ids[..len].to_vec(), targets));
    }
    if pieces.is_empty() {
        return Err(Error::Invalid(
            "no conversation has an assistant token left to learn from".into(),
        ));
    }
    // Longest first (ties in input order), each into the row with the least
    // room that still holds it.
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(pieces[i].0.len()));
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut by_room: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut room: Vec<usize> = Vec::new();
    for i in order {
        let len = pieces[i].0.len();
        let found = by_room.range(len..).next().map(|(&r, _)| r);
        let row = match found {
            Some(r) => {
                let list = by_room.get_mut(&r).expect("listed");
                let row = list.remove(0);
                if list.is_empty() {
                    by_room.remove(&r);
                }
                row
            }
            None => {
                rows.push(Vec::new());
                room.push(seq);
                rows.len() - 1
            }
        };
        rows[row].push(i);
        room[row] -= len;
        if room[row] > 0 {
            by_room.entry(room[row]).or_default().push(row);
        }
    }
    stats.rows = rows.len();
    let packed = rows
        .iter()
        .map(|members| {
            let mut row = Row {
                ids: Vec::with_capacity(seq),
                targets: Vec::with_capacity(seq),
                starts: Vec::with_capacity(seq),
            };
            for &i in members {
                let start = row.ids.len();
                row.ids.extend_from_slice(&pieces[i].0);
                row.targets.extend_from_slice(&pieces[i].1);
                row.starts.resize(row.ids.len(), start);
            }
            // Padding is a document of its own, read by nobody.
            let start = row.ids.len();
            row.ids.resize(seq, pad);
            row.targets.resize(seq, IGNORE);
            row.starts.resize(seq, start);
            row
        })
        .collect();
    Ok((packed, stats))
}
