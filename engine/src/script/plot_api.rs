//! Plots in scripts: `plot_line(xs, ys, #{ title })` for loss curves,
//! `plot_bar(labels, values)` for top-k probabilities and
//! `plot_heatmap(tensor_or_rows, #{ row_labels, col_labels })` for attention.
//! A plot is a value: the REPL saves it to a file, a notebook shows it.

use super::convert::{engine_err, floats, runtime, strings, ScriptResult};
use super::options::{plot_options, PlotOptions};
use super::register::func;
use crate::plot::{Plot, Series};
use crate::tensor::Tensor;
use rhai::{Array, Dynamic, Engine, Map};

fn styled(plot: Plot, o: PlotOptions) -> Plot {
    let plot = plot.with_title(o.title).with_labels(o.x_label, o.y_label);
    match o.size {
        Some((w, h)) => plot.with_size(w, h),
        None => plot,
    }
}

fn line(xs: &Array, ys: &Array, opts: &Map) -> ScriptResult<Plot> {
    let o = plot_options(opts, "plot_line options")?;
    let series = Series {
        name: o.name.clone().unwrap_or_default(),
        xs: floats(xs, "xs")?,
        ys: floats(ys, "ys")?,
    };
    Ok(styled(Plot::line(vec![series]).map_err(engine_err)?, o))
}

fn bar(labels: &Array, values: &Array, opts: &Map) -> ScriptResult<Plot> {
    let o = plot_options(opts, "plot_bar options")?;
    let plot =
        Plot::bar(strings(labels, "labels")?, floats(values, "values")?).map_err(engine_err)?;
    Ok(styled(plot, o))
}

/// Rows of numbers from a 2-D tensor or an array of arrays.
fn matrix(values: &Dynamic) -> ScriptResult<Vec<Vec<f64>>> {
    if let Some(t) = values.clone().try_cast::<Tensor>() {
        let [rows, cols] = t.dims() else {
            return Err(runtime(format!(
                "plot_heatmap: the tensor must be 2-D, it is {:?}",
                t.dims()
            )));
        };
        let (rows, cols) = (*rows, *cols);
        let data = t.to_f32_vec().map_err(engine_err)?;
        return Ok((0..rows)
            .map(|r| {
                data[r * cols..(r + 1) * cols]
                    .iter()
                    .map(|&x| x as f64)
                    .collect()
            })
            .collect());
    }
    let Some(rows) = values.clone().try_cast::<Array>() else {
        return Err(runtime(format!(
            "plot_heatmap: expected a 2-D tensor or an array of arrays, got {}",
            values.type_name()
        )));
    };
    rows.iter()
        .enumerate()
        .map(|(i, r)| match r.clone().try_cast::<Array>() {
            Some(a) => floats(&a, &format!("row {i}")),
            None => Err(runtime(format!("plot_heatmap: row {i} is not an array"))),
        })
        .collect()
}

fn heatmap(values: &Dynamic, opts: &Map) -> ScriptResult<Plot> {
    let mut o = plot_options(opts, "plot_heatmap options")?;
    let plot = Plot::heatmap(
        matrix(values)?,
        o.row_labels.take().unwrap_or_default(),
        o.col_labels.take().unwrap_or_default(),
    )
    .map_err(engine_err)?;
    Ok(styled(plot, o))
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Plot>("Plot");
    func("plot_line", "A line chart of ys against xs (a loss curve).")
        .register_into_engine(engine, |xs: Array, ys: Array| line(&xs, &ys, &Map::new()));
    func(
        "plot_line",
        "A line chart with options #{ title, x_label, y_label, name, width, height }.",
    )
    .register_into_engine(engine, |xs: Array, ys: Array, opts: Map| {
        line(&xs, &ys, &opts)
    });
    func(
        "plot_bar",
        "A bar chart: one bar per label (top-k probabilities).",
    )
    .register_into_engine(engine, |labels: Array, values: Array| {
        bar(&labels, &values, &Map::new())
    });
    func(
        "plot_bar",
        "A bar chart with options #{ title, x_label, y_label, width, height }.",
    )
    .register_into_engine(engine, |labels: Array, values: Array, opts: Map| {
        bar(&labels, &values, &opts)
    });
    func(
        "plot_heatmap",
        "A heatmap of a 2-D tensor or an array of rows (row 0 at the top).",
    )
    .register_into_engine(engine, |values: Dynamic| heatmap(&values, &Map::new()));
    func(
        "plot_heatmap",
        "A heatmap with options #{ title, x_label, y_label, row_labels, col_labels, width, height }.",
    )
    .register_into_engine(engine, |values: Dynamic, opts: Map| heatmap(&values, &opts));
    func(
        "save",
        "Save the plot as .svg or .png (by the file's extension).",
    )
    .register_into_engine(engine, |p: &mut Plot, path: &str| {
        p.save(path).map_err(engine_err)
    });
    func("to_svg", "The plot as an SVG document.")
        .register_into_engine(engine, |p: &mut Plot| p.to_svg().map_err(engine_err));
    for name in ["to_string", "to_debug"] {
        func(name, "A one-line description of the plot.")
            .register_into_engine(engine, |p: &mut Plot| describe(p));
    }
}

pub fn describe(p: &Plot) -> String {
    let kind = match &p.chart {
        crate::plot::Chart::Line(s) => format!("line chart, {} series", s.len()),
        crate::plot::Chart::Bar { labels, .. } => format!("bar chart, {} bars", labels.len()),
        crate::plot::Chart::Heatmap { values, .. } => format!(
            "heatmap, {} × {}",
            values.len(),
            values.first().map_or(0, Vec::len)
        ),
    };
    if p.title.is_empty() {
        format!("Plot({kind}, {}×{} px)", p.width, p.height)
    } else {
        format!("Plot(\"{}\": {kind}, {}×{} px)", p.title, p.width, p.height)
    }
}
