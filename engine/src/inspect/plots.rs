//! The pictures of inspection: an attention map with token labels, the
//! logit-lens grid and a generation's per-token confidence with its
//! reasoning shaded.

use super::lens::LogitLens;
use super::trace::Trace;
use crate::error::Result;
use crate::generate::TextKind;
use crate::plot::{Band, Plot, Series};

/// Labels short enough for an axis: at most `max` characters, visible
/// whitespace.
pub fn short_label(text: &str, max: usize) -> String {
    let shown: String = text
        .chars()
        .map(|c| match c {
            '\n' => '⏎',
            ' ' => '·',
            c => c,
        })
        .collect();
    if shown.chars().count() <= max {
        shown
    } else {
        shown.chars().take(max - 1).chain(['…']).collect()
    }
}

/// One head's pattern `[T, T]` as a heatmap: rows are queries, columns keys.
pub fn attention_plot(
    pattern: &[f32],
    labels: &[String],
    layer: usize,
    head: usize,
) -> Result<Plot> {
    let t = labels.len();
    let values = pattern
        .chunks(t)
        .map(|row| row.iter().map(|&p| p as f64).collect())
        .collect();
    let labels: Vec<String> = labels.iter().map(|l| short_label(l, 10)).collect();
    let side = (160 + 28 * t as u32).clamp(360, 1400);
    Ok(Plot::heatmap(values, labels.clone(), labels)?
        .with_title(format!("Attention, layer {layer} head {head}"))
        .with_labels("key", "query")
        .with_size(side + 60, side))
}

/// The logit lens as a grid: one row per layer (the last at the top), one
/// column per position, each cell the top token coloured by `lens.probs`.
pub fn lens_plot(
    lens: &LogitLens,
    labels: &[String],
    token_text: impl Fn(u32) -> String,
) -> Result<Plot> {
    let t = lens.tokens.len();
    let probs = lens.probs.to_f32_vec()?;
    let rows: Vec<usize> = (0..lens.layers).rev().collect();
    let values = rows
        .iter()
        .map(|&l| {
            probs[l * t..(l + 1) * t]
                .iter()
                .map(|&p| p as f64)
                .collect()
        })
        .collect();
    let text = rows
        .iter()
        .map(|&l| {
            lens.top[l]
                .iter()
                .map(|top| short_label(&token_text(top[0].id), 7))
                .collect()
        })
        .collect();
    let row_labels = rows.iter().map(|l| format!("L{l}")).collect();
    let col_labels = labels.iter().map(|l| short_label(l, 10)).collect();
    let title = match lens.target {
        Some(id) => format!("Logit lens: top token; colour = p({})", token_text(id)),
        None => "Logit lens: top token and its probability".to_string(),
    };
    Ok(Plot::heatmap(values, row_labels, col_labels)?
        .with_cell_text(text)?
        .with_title(title)
        .with_labels("position (input token)", "layer")
        .with_size(
            (140 + 78 * t as u32).clamp(480, 2400),
            (120 + 20 * lens.layers as u32).clamp(300, 1600),
        ))
}

/// Probability and entropy of every generated token, reasoning shaded.
pub fn trace_plot(trace: &Trace) -> Result<Plot> {
    let records = trace.records();
    let xs: Vec<f64> = (0..records.len()).map(|i| i as f64).collect();
    let probability = Series {
        name: "probability".into(),
        xs: xs.clone(),
        ys: records.iter().map(|r| (r.logprob as f64).exp()).collect(),
    };
    let entropy = Series {
        name: "entropy (nats)".into(),
        xs,
        ys: records.iter().map(|r| r.entropy as f64).collect(),
    };
    // Contiguous runs of reasoning tokens become shaded bands.
    let mut bands: Vec<Band> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if r.kind != TextKind::Reasoning {
            continue;
        }
        match bands.last_mut() {
            Some(b) if b.to == i as f64 - 0.5 => b.to = i as f64 + 0.5,
            _ => bands.push(Band {
                from: i as f64 - 0.5,
                to: i as f64 + 0.5,
                label: "reasoning".into(),
            }),
        }
    }
    for b in bands.iter_mut().skip(1) {
        b.label.clear();
    }
    Ok(Plot::line(vec![probability, entropy])?
        .with_bands(bands)
        .with_title("Per-token confidence")
        .with_labels("generated token", ""))
}
