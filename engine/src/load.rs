//! The front door: one place turns a name, a file or a folder and load
//! options into a model. It resolves the name (the default model's short
//! name, a training run's folder), opens the file, reads a checkpoint's
//! `config.json` once, and hands the result to whichever layer knows the
//! architecture: [`crate::model`] for the transformers, [`crate::train`]
//! for the RNN trained here. [`LanguageModel`](crate::LanguageModel) adds
//! the tokenizer and chat template on top.

use crate::error::{Error, Result};
use crate::io::{Format, HfConfig, ModelFile};
use crate::model::adapter::AdapterSource;
use crate::model::{self, Backend, LoadOptions, Model, Recipe};
use crate::train::checkpoint::RNN_MODEL_TYPE;
use crate::train::rnn_model::RnnModel;
use std::path::{Path, PathBuf};

/// The default model's short name and file.
pub const DEFAULT_MODEL: &str = "smollm2";
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The models known by a short name: (name, file in a model folder, the
/// command that fetches it).
pub const SHORT_NAMES: &[(&str, &str, &str)] = &[
    (DEFAULT_MODEL, DEFAULT_MODEL_FILE, "scripts/fetch-model.sh"),
    (
        "gemma3",
        "gemma-3-270m-q4_k_m.gguf",
        "scripts/fetch-model.sh gemma3",
    ),
];

/// The model at `path` (a GGUF file, a Hugging Face folder or its
/// safetensors file, a training run's folder or checkpoint), or the
/// default model by its short name.
pub fn model(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Box<dyn Model>> {
    let path = match path.as_ref().to_str() {
        Some(name) => resolve_model_path(name)?,
        None => crate::io::checkpoint_folder(path.as_ref())?,
    };
    if let Some(base) = adapter_base(&path)? {
        let file = ModelFile::open(&base)?;
        return model_with_adapter(&file, &base, options, &AdapterSource::Folder(&path));
    }
    model_from_file(&ModelFile::open(&path)?, &path, options)
}

/// Where the model a LoRA adapter folder adapts lives, if `path` is one
/// (a `peft` folder, or a LoRA fine-tune's checkpoint).
pub fn adapter_base(path: &Path) -> Result<Option<PathBuf>> {
    if !model::adapter::is_adapter(path) {
        return Ok(None);
    }
    let base = model::adapter::base_of(path)?;
    if model::adapter::is_adapter(Path::new(&base)) {
        return Err(Error::Invalid(format!(
            "{}: its base {base} is an adapter itself",
            path.display()
        )));
    }
    resolve_model_path(&base).map(Some).map_err(|e| {
        Error::Invalid(format!(
            "{}: the model it adapts, {base}, cannot be found: {e}",
            path.display()
        ))
    })
}

/// The model in `file` with the LoRA adapters `adapter` holds merged in
/// as it loads.
pub fn model_with_adapter(
    file: &ModelFile,
    path: &Path,
    options: &LoadOptions,
    adapter: &AdapterSource,
) -> Result<Box<dyn Model>> {
    model::with_adapter(file, recipe_of(file, path)?, options, adapter)
}

/// What the transformer in `file` (opened from `path`) is.
pub fn recipe_of(file: &ModelFile, path: &Path) -> Result<Recipe> {
    match file.format() {
        Format::Gguf => model::recipe_of_gguf(file),
        Format::Safetensors => {
            let (config, text) = config_beside(path)?;
            if is_rnn(&text) {
                return Err(Error::Invalid(format!(
                    "{}: an RNN trained here goes on training with `train --resume`, not as a pretrained transformer",
                    config.display()
                )));
            }
            model::recipe_of_hf(file, &HfConfig::from_json(&text, config.display())?)
        }
    }
}

/// The model in an opened file (`path` is where it came from: a
/// safetensors checkpoint's `config.json` sits beside it).
pub fn model_from_file(
    file: &ModelFile,
    path: &Path,
    options: &LoadOptions,
) -> Result<Box<dyn Model>> {
    match file.format() {
        Format::Gguf => model::from_gguf(file, options),
        Format::Safetensors => {
            let (config, text) = config_beside(path)?;
            if is_rnn(&text) {
                if options.backend != Backend::Cpu {
                    return Err(Error::Invalid(format!(
                        "{}: the RNN runs on the CPU backend only",
                        config.display()
                    )));
                }
                let rnn = serde_json::from_str(&text).map_err(|e| {
                    Error::file(config.display(), format!("not a valid RNN config: {e}"))
                })?;
                return Ok(Box::new(RnnModel::load(rnn, file)?));
            }
            let hf = HfConfig::from_json(&text, config.display())?;
            model::from_hf(file, &hf, options)
        }
    }
}

/// The transformer at `path` (as [`model`] takes it), opened, with what
/// is needed to load it onto any store: for training a pretrained model.
pub fn recipe(path: impl AsRef<Path>) -> Result<(ModelFile, PathBuf, Recipe)> {
    let path = match path.as_ref().to_str() {
        Some(name) => resolve_model_path(name)?,
        None => crate::io::checkpoint_folder(path.as_ref())?,
    };
    let file = ModelFile::open(&path)?;
    let recipe = recipe_of(&file, &path)?;
    Ok((file, path, recipe))
}

/// The `config.json` beside a safetensors checkpoint (or in its folder):
/// its path and text.
fn config_beside(path: &Path) -> Result<(PathBuf, String)> {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let config = dir.join("config.json");
    let text = crate::io::read_text(&config)?;
    Ok((config, text))
}

/// Whether a `config.json` describes the RNN trained here (its
/// `model_type` is [`RNN_MODEL_TYPE`]). Text that is not JSON is left for
/// [`HfConfig`] to report.
fn is_rnn(config: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(config)
        .is_ok_and(|json| json["model_type"] == RNN_MODEL_TYPE)
}

/// Names a person may pass to `load_model`: the short names, and the GGUF
/// files and Hugging Face folders in the model folders.
pub fn known_model_names() -> Vec<String> {
    let mut names: Vec<String> = SHORT_NAMES.iter().map(|s| s.0.to_string()).collect();
    for dir in model_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_model =
                path.extension().is_some_and(|e| e == "gguf") || path.join("config.json").is_file();
            if is_model {
                names.push(path.display().to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Folders searched for the models known by a short name, in order.
fn model_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("MONOLOGUE_MODELS") {
        dirs.push(dir.into());
    }
    dirs.push(PathBuf::from("models"));
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"));
    dirs
}

/// Where the model called `name` lives: an existing path as given, or a
/// short name's file (see [`SHORT_NAMES`]) in `$MONOLOGUE_MODELS`,
/// `./models` or the repository's `models/` folder.
pub fn resolve_model_path(name: &str) -> Result<PathBuf> {
    let given = PathBuf::from(name);
    if given.exists() {
        // A training run's folder stands for its newest checkpoint.
        return crate::io::checkpoint_folder(&given);
    }
    let Some(&(_, file, fetch)) = SHORT_NAMES.iter().find(|s| s.0 == name) else {
        let short: Vec<&str> = SHORT_NAMES.iter().map(|s| s.0).collect();
        return Err(Error::NotFound(format!(
            "model {name}: no such file or folder (give a .gguf file, a Hugging Face folder, or one of: {})",
            short.join(", ")
        )));
    };
    let dirs = model_dirs();
    dirs.iter()
        .map(|d| d.join(file))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::NotFound(format!(
                "the model {name} ({file}) is not in {}: run {fetch}",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}
