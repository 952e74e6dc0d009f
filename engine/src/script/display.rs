//! How an input's value is shown: one rendering shared by every face. Text
//! for all values (tensors as tables, arrays of maps as aligned columns),
//! plus the plot itself for plots, which the REPL saves and notebooks draw.

use super::inspect_api::{CacheHandle, HookSpec, LensHandle, TraceHandle};
use super::model_api::{ChatHandle, ModelHandle};
use super::profile_api::ProfileTable;
use crate::plot::Plot;
use crate::tensor::Tensor;
use rhai::{Array, Dynamic, Map};

pub struct Rendered {
    pub text: String,
    /// The plot, when the value is one.
    pub plot: Option<Plot>,
}

pub fn render(value: &Dynamic) -> Rendered {
    if let Some(p) = value.clone().try_cast::<Plot>() {
        return Rendered {
            text: super::plot_api::describe(&p),
            plot: Some(p),
        };
    }
    Rendered {
        text: text(value),
        plot: None,
    }
}

fn text(value: &Dynamic) -> String {
    if let Some(t) = value.clone().try_cast::<Tensor>() {
        return t.pretty();
    }
    if let Some(p) = value.clone().try_cast::<ProfileTable>() {
        return p.table();
    }
    if let Some(m) = value.clone().try_cast::<ModelHandle>() {
        return model_line(&m);
    }
    if let Some(c) = value.clone().try_cast::<ChatHandle>() {
        return c.describe();
    }
    if let Some(t) = value
        .clone()
        .try_cast::<super::tokenizer_api::TokenizerHandle>()
    {
        return t.describe();
    }
    if let Some(c) = value.clone().try_cast::<CacheHandle>() {
        return c.describe();
    }
    if let Some(l) = value.clone().try_cast::<LensHandle>() {
        return l.describe();
    }
    if let Some(t) = value.clone().try_cast::<TraceHandle>() {
        return t.describe();
    }
    if let Some(h) = value.clone().try_cast::<HookSpec>() {
        return h.describe();
    }
    if let Some(t) = value.clone().try_cast::<crate::rich::TokenView>() {
        return t.text();
    }
    if let Some(s) = value.clone().try_cast::<rhai::ImmutableString>() {
        return s.to_string();
    }
    if let Some(a) = value.clone().try_cast::<Array>() {
        if let Some(table) = map_table(&a) {
            return table;
        }
    }
    value.to_string()
}

fn model_line(m: &ModelHandle) -> String {
    let info = m.lm.model.info();
    format!(
        "{}: {}, {} layers, d_model {}, vocab {} (loaded in {:.0} ms)",
        m.lm.path.display(),
        info.architecture,
        info.n_layers,
        info.d_model,
        info.vocab_size,
        m.lm.load_ms
    )
}

/// An array of maps with the same keys, as aligned columns (top-k lists,
/// profile rows). `None` for anything else, or more than 200 rows.
fn map_table(rows: &Array) -> Option<String> {
    if rows.is_empty() || rows.len() > 200 {
        return None;
    }
    let maps: Vec<Map> = rows
        .iter()
        .map(|r| r.clone().try_cast::<Map>())
        .collect::<Option<_>>()?;
    let keys: Vec<String> = maps[0].keys().map(|k| k.to_string()).collect();
    if keys.is_empty()
        || maps
            .iter()
            .any(|m| m.len() != keys.len() || keys.iter().any(|k| !m.contains_key(k.as_str())))
    {
        return None;
    }
    let cell = |v: &Dynamic| -> String {
        if let Ok(x) = v.as_float() {
            format!("{x:.4}")
        } else if let Some(s) = v.clone().try_cast::<rhai::ImmutableString>() {
            format!("{:?}", s.as_str())
        } else {
            v.to_string()
        }
    };
    let cells: Vec<Vec<String>> = maps
        .iter()
        .map(|m| keys.iter().map(|k| cell(&m[k.as_str()])).collect())
        .collect();
    let widths: Vec<usize> = (0..keys.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .chain([keys[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: &[String]| -> String {
        row.iter()
            .zip(&widths)
            .map(|(s, &w)| format!("{s:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(&keys)];
    out.extend(cells.iter().map(|r| line(r)));
    Some(out.join("\n"))
}
