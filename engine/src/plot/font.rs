//! Plotters measures and draws text with a font we hand it. We use the
//! DejaVu Sans that Debian ships (package fonts-dejavu-core), or the file
//! named by `MONOLOGUE_FONT`, loaded once.

use crate::error::{Error, Result};
use std::sync::OnceLock;

const CANDIDATES: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();

pub fn ensure() -> Result<()> {
    REGISTERED
        .get_or_init(register)
        .clone()
        .map_err(Error::NotFound)
}

fn register() -> Result<(), String> {
    let env = std::env::var("MONOLOGUE_FONT").ok();
    let paths: Vec<&str> = env.iter().map(String::as_str).chain(CANDIDATES).collect();
    let bytes = paths
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or_else(|| {
            format!(
                "plots need a TrueType font: install fonts-dejavu-core or set MONOLOGUE_FONT (looked in {})",
                paths.join(", ")
            )
        })?;
    // Plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    for style in [
        plotters::style::FontStyle::Normal,
        plotters::style::FontStyle::Bold,
    ] {
        plotters::style::register_font("sans-serif", style, bytes)
            .map_err(|_| "the font file could not be parsed".to_string())?;
    }
    Ok(())
}
