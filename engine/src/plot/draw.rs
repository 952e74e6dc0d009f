//! Drawing a [`Plot`] on any plotters backend (SVG or bitmap).

use super::{Chart, Plot, Series};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub fn draw<B: DrawingBackend>(plot: &Plot, backend: B) -> Result<()> {
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    match &plot.chart {
        Chart::Line(series) => line(plot, &root, series)?,
        Chart::Bar { labels, values } => bar(plot, &root, labels, values)?,
        Chart::Heatmap {
            values,
            row_labels,
            col_labels,
            cell_text,
        } => heatmap(plot, &root, values, (row_labels, col_labels), cell_text)?,
    }
    root.present().map_err(err)
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("drawing the plot failed: {e}"))
}

/// A range that contains `values` with a little air, never empty.
fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    lo - pad..hi + pad
}

fn line<DB: DrawingBackend>(
    plot: &Plot,
    root: &DrawingArea<DB, Shift>,
    series: &[Series],
) -> Result<()> {
    let xs = padded_range(series.iter().flat_map(|s| s.xs.iter().copied()));
    let ys = padded_range(series.iter().flat_map(|s| s.ys.iter().copied()));
    let mut chart = ChartBuilder::on(root)
        .caption(&plot.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(xs, ys.clone())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(&plot.x_label)
        .y_desc(&plot.y_label)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for band in &plot.bands {
        let shade = RGBColor(255, 200, 120).mix(0.25).filled();
        let drawn = chart
            .draw_series(std::iter::once(Rectangle::new(
                [(band.from, ys.start), (band.to, ys.end)],
                shade,
            )))
            .map_err(err)?;
        if !band.label.is_empty() {
            drawn
                .label(&band.label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], shade));
        }
    }
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points =
            s.xs.iter()
                .zip(&s.ys)
                .filter(|(x, y)| x.is_finite() && y.is_finite());
        chart
            .draw_series(LineSeries::new(
                points.map(|(&x, &y)| (x, y)),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(&s.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    if series.len() > 1 || !series[0].name.is_empty() || !plot.bands.is_empty() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// The label of a category axis position (the middle of segment `i`).
fn category(labels: &[String], v: &SegmentValue<i32>) -> String {
    match v {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| labels.get(i).cloned())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn bar<DB: DrawingBackend>(
    plot: &Plot,
    root: &DrawingArea<DB, Shift>,
    labels: &[String],
    values: &[f64],
) -> Result<()> {
    let finite = || values.iter().copied().filter(|v| v.is_finite());
    let top = finite().fold(0.0f64, f64::max);
    let bottom = finite().fold(0.0f64, f64::min);
    // A one-segment axis degenerates in plotters; give it an empty second.
    let n = labels.len().max(2) as i32;
    let mut chart = ChartBuilder::on(root)
        .caption(&plot.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(56)
        .build_cartesian_2d(
            (0..n - 1).into_segmented(),
            bottom..if top > 0.0 { top * 1.1 } else { 1.0 },
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(labels.len().min(60))
        .x_label_formatter(&|v| category(labels, v))
        .x_desc(&plot.x_label)
        .y_desc(&plot.y_label)
        .draw()
        .map_err(err)?;
    chart
        .draw_series(values.iter().enumerate().map(|(i, &v)| {
            let i = i as i32;
            let v = if v.is_finite() { v } else { 0.0 };
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), v),
                ],
                Palette99::pick(0).filled(),
            );
            bar.set_margin(0, 0, 6, 6);
            bar
        }))
        .map_err(err)?;
    Ok(())
}

fn heatmap<DB: DrawingBackend>(
    plot: &Plot,
    root: &DrawingArea<DB, Shift>,
    values: &[Vec<f64>],
    (row_labels, col_labels): (&[String], &[String]),
    cell_text: &[Vec<String>],
) -> Result<()> {
    let (rows, cols) = (values.len(), values[0].len());
    let finite = || values.iter().flatten().copied().filter(|v| v.is_finite());
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    // Rows are drawn top to bottom, so the y axis counts them upside down.
    let numbered = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
    let col_names = if col_labels.is_empty() {
        numbered(cols)
    } else {
        col_labels.to_vec()
    };
    let mut row_names = if row_labels.is_empty() {
        numbered(rows)
    } else {
        row_labels.to_vec()
    };
    row_names.resize(rows.max(2), String::new());
    row_names.reverse();
    let mut chart = ChartBuilder::on(root)
        .caption(&plot.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(
            (0..cols.max(2) as i32 - 1).into_segmented(),
            (0..rows.max(2) as i32 - 1).into_segmented(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(cols.min(60))
        .y_labels(rows.min(60))
        .x_label_formatter(&|v| category(&col_names, v))
        .y_label_formatter(&|v| category(&row_names, v))
        .x_desc(&plot.x_label)
        .y_desc(&plot.y_label)
        .draw()
        .map_err(err)?;
    chart
        .draw_series(values.iter().enumerate().flat_map(|(r, row)| {
            let y = (rows.max(2) - 1 - r) as i32;
            row.iter().enumerate().map(move |(c, &v)| {
                let t = if v.is_finite() { (v - lo) / span } else { 0.0 };
                let x = c as i32;
                Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    ViridisRGB::get_color(t).filled(),
                )
            })
        }))
        .map_err(err)?;
    if !cell_text.is_empty() {
        let size = (plot.width as usize / cols.max(1) / 6).clamp(7, 14) as i32;
        chart
            .draw_series(cell_text.iter().enumerate().flat_map(|(r, row)| {
                let y = (rows.max(2) - 1 - r) as i32;
                row.iter().enumerate().map(move |(c, text)| {
                    let v = values[r][c];
                    let t = if v.is_finite() { (v - lo) / span } else { 0.0 };
                    // Light text on the dark end of viridis, dark on the light end.
                    let color = if t < 0.6 { WHITE } else { BLACK };
                    let style = ("sans-serif", size)
                        .into_font()
                        .color(&color)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    Text::new(
                        text.clone(),
                        (SegmentValue::CenterOf(c as i32), SegmentValue::CenterOf(y)),
                        style,
                    )
                })
            }))
            .map_err(err)?;
    }
    Ok(())
}
