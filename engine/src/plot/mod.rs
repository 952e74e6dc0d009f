//! Charts the faces show: loss curves (line), top-k probabilities (bar) and
//! attention maps (heatmap). A [`Plot`] is plain data; it renders to SVG
//! (what notebooks display) or PNG (what the REPL saves) on demand.

mod draw;
mod font;

use crate::error::{Error, Result};
use std::path::Path;

/// One named line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    Line(Vec<Series>),
    /// One bar per label.
    Bar {
        labels: Vec<String>,
        values: Vec<f64>,
    },
    /// `values[row][col]`, drawn with row 0 at the top.
    Heatmap {
        values: Vec<Vec<f64>>,
        row_labels: Vec<String>,
        col_labels: Vec<String>,
        /// Text written in each cell (`cell_text[row][col]`), or empty.
        cell_text: Vec<Vec<String>>,
    },
}

/// A shaded stretch of a line chart's x axis, with a label (e.g. the
/// reasoning part of a generation).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub chart: Chart,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub width: u32,
    pub height: u32,
    /// Shaded x ranges (line charts).
    pub bands: Vec<Band>,
}

impl Plot {
    fn new(chart: Chart) -> Self {
        Plot {
            chart,
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            width: 720,
            height: 420,
            bands: Vec::new(),
        }
    }

    pub fn line(series: Vec<Series>) -> Result<Self> {
        if series.is_empty() {
            return Err(Error::Invalid(
                "a line plot needs at least one series".into(),
            ));
        }
        for s in &series {
            if s.xs.len() != s.ys.len() {
                return Err(Error::Invalid(format!(
                    "line plot series `{}`: {} x values but {} y values",
                    s.name,
                    s.xs.len(),
                    s.ys.len()
                )));
            }
        }
        Ok(Plot::new(Chart::Line(series)))
    }

    pub fn bar(labels: Vec<String>, values: Vec<f64>) -> Result<Self> {
        if labels.len() != values.len() {
            return Err(Error::Invalid(format!(
                "bar plot: {} labels but {} values",
                labels.len(),
                values.len()
            )));
        }
        Ok(Plot::new(Chart::Bar { labels, values }))
    }

    pub fn heatmap(
        values: Vec<Vec<f64>>,
        row_labels: Vec<String>,
        col_labels: Vec<String>,
    ) -> Result<Self> {
        let cols = values.first().map_or(0, Vec::len);
        if values.is_empty() || cols == 0 || values.iter().any(|r| r.len() != cols) {
            return Err(Error::Invalid(
                "heatmap: values must be a non-empty rectangle (rows of equal length)".into(),
            ));
        }
        for (what, labels, n) in [
            ("row", &row_labels, values.len()),
            ("column", &col_labels, cols),
        ] {
            if !labels.is_empty() && labels.len() != n {
                return Err(Error::Invalid(format!(
                    "heatmap: {} {what} labels for {n} {what}s",
                    labels.len()
                )));
            }
        }
        Ok(Plot::new(Chart::Heatmap {
            values,
            row_labels,
            col_labels,
            cell_text: Vec::new(),
        }))
    }

    /// Write `text[row][col]` in the cells of a heatmap.
    pub fn with_cell_text(mut self, text: Vec<Vec<String>>) -> Result<Self> {
        match &mut self.chart {
            Chart::Heatmap {
                values, cell_text, ..
            } => {
                let fits = text.len() == values.len()
                    && text
                        .iter()
                        .zip(values.iter())
                        .all(|(t, v)| t.len() == v.len());
                if !fits {
                    return Err(Error::Invalid(
                        "heatmap cell text must have one string per cell".into(),
                    ));
                }
                *cell_text = text;
                Ok(self)
            }
            _ => Err(Error::Invalid("only heatmaps have cell text".into())),
        }
    }

    /// Shade x ranges of a line chart.
    pub fn with_bands(mut self, bands: Vec<Band>) -> Self {
        self.bands = bands;
        self
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    pub fn with_labels(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
        self.x_label = x.into();
        self.y_label = y.into();
        self
    }

    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.width = width.clamp(100, 4000);
        self.height = height.clamp(100, 4000);
        self
    }

    pub fn to_svg(&self) -> Result<String> {
        font::ensure()?;
        let mut svg = String::new();
        {
            let backend =
                plotters::prelude::SVGBackend::with_string(&mut svg, (self.width, self.height));
            draw::draw(self, backend)?;
        }
        Ok(svg)
    }

    pub fn to_png(&self) -> Result<Vec<u8>> {
        font::ensure()?;
        let (w, h) = (self.width, self.height);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let backend = plotters::prelude::BitMapBackend::with_buffer(&mut rgb, (w, h));
            draw::draw(self, backend)?;
        }
        let mut png_bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut png_bytes, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| Error::Invalid(format!("PNG encoding: {e}")))?;
        writer
            .write_image_data(&rgb)
            .map_err(|e| Error::Invalid(format!("PNG encoding: {e}")))?;
        drop(writer);
        Ok(png_bytes)
    }

    /// Save as SVG or PNG, by the file's extension.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => self.to_svg()?.into_bytes(),
            Some("png") => self.to_png()?,
            _ => {
                return Err(Error::Invalid(format!(
                    "{}: save a plot as .svg or .png",
                    path.display()
                )))
            }
        };
        std::fs::write(path, bytes).map_err(|e| Error::io(path.display(), e))
    }
}
