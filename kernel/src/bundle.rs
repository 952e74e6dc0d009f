//! MIME bundles: how a value looks in a notebook. Every bundle has
//! `text/plain` (what the REPL prints); plots add SVG and PNG, arrays of
//! records (top-k, profile rows) an HTML table.

use monologue::plot::Plot;
use monologue::rich::{self, TokenView};
use monologue::script::{Array, Dynamic, Map, ProfileTable, Rendered};
use serde_json::{json, Map as JsonMap, Value};

pub fn bundle(value: &Dynamic, shown: &Rendered) -> Value {
    let mut data = JsonMap::new();
    data.insert("text/plain".into(), Value::String(shown.text.clone()));
    if let Some(plot) = &shown.plot {
        add_plot(&mut data, plot);
    }
    if let Some(html) = value.clone().try_cast::<Array>().and_then(|a| table(&a)) {
        data.insert("text/html".into(), Value::String(html));
    }
    if let Some(p) = value.clone().try_cast::<ProfileTable>() {
        data.insert(
            "text/html".into(),
            Value::String(rich::profile_html(&p.profile)),
        );
    }
    if let Some(t) = value.clone().try_cast::<TokenView>() {
        data.insert("text/html".into(), Value::String(t.html()));
    }
    Value::Object(data)
}

fn add_plot(data: &mut JsonMap<String, Value>, plot: &Plot) {
    if let Ok(svg) = plot.to_svg() {
        data.insert("image/svg+xml".into(), Value::String(svg));
    }
    if let Ok(png) = plot.to_png() {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(png);
        data.insert("image/png".into(), Value::String(encoded));
    }
}

/// An HTML table for an array of maps with the same keys.
fn table(rows: &Array) -> Option<String> {
    let maps: Vec<Map> = rows
        .iter()
        .map(|r| r.clone().try_cast::<Map>())
        .collect::<Option<_>>()?;
    let first = maps.first()?;
    let keys: Vec<String> = first.keys().map(|k| k.to_string()).collect();
    let mut html = String::from("<table><thead><tr>");
    for k in &keys {
        html += &format!("<th>{}</th>", escape(k));
    }
    html += "</tr></thead><tbody>";
    for m in &maps {
        html += "<tr>";
        for k in &keys {
            let cell = m.get(k.as_str()).map(cell_text).unwrap_or_default();
            html += &format!("<td>{}</td>", escape(&cell));
        }
        html += "</tr>";
    }
    html += "</tbody></table>";
    Some(html)
}

fn cell_text(v: &Dynamic) -> String {
    if let Some(x) = v.clone().try_cast::<f64>() {
        return format!("{x:.4}");
    }
    if let Ok(s) = v.clone().into_string() {
        // Token text: show spaces and newlines.
        return format!("{s:?}");
    }
    v.to_string()
}

pub use monologue::rich::escape;

/// The `execute_result` / `display_data` content for a bundle.
pub fn content(data: Value) -> Value {
    json!({ "data": data, "metadata": {}, "transient": {} })
}
