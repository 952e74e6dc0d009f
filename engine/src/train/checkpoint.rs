//! Checkpoints: a training run saved so that it can be resumed bit for bit,
//! and so that the model inside loads like any GPT-2 (a GPT) or through
//! `train::rnn_model` (the RNN, whose `config.json` has its own `model_type`);
//! `load::model` reads either.
//!
//! ```text
//! DIR/latest              the name of the newest complete checkpoint
//! DIR/step-000500/        one checkpoint; a GPT's is itself a Hugging Face GPT-2 folder:
//!     config.json           the model's shape (transformers reads a GPT's)
//!     model.safetensors     the weights (a GPT's under GPT-2's names and layouts)
//!     tokenizer.json
//!     optimizer.safetensors AdamW's m and v for every weight (and the RNN's carried state)
//!     training.json         step, history, training config, RNG state
//! ```
//!
//! Writing is atomic: a checkpoint is written into a hidden folder, each
//! file synced, and the folder renamed into place; only then is `latest`
//! replaced (written beside, synced, renamed). A process killed at any
//! moment leaves `latest` naming a complete checkpoint.

use super::adamw::AdamW;
use super::data::Dataset;
use super::gpt::GptConfig;
use super::graph::Param;
use super::net::Architecture;
use super::rnn::RnnConfig;
use super::run::{Run, StepRecord, TrainConfig};
use crate::error::{Error, Result};
use crate::generate::Rng;
use crate::io::atomic::{sync_dir, write_synced};
use crate::io::SafetensorsFile;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bumped when the layout changes; older checkpoints are refused by name.
const FORMAT: u32 = 1;
/// Checkpoints kept in a run's folder (the newest ones).
const KEEP: usize = 2;

/// What `training.json` holds.
#[derive(Serialize, Deserialize)]
struct TrainingState {
    format: u32,
    /// "gpt" or "rnn"; `model` holds that architecture's config.
    architecture: String,
    model: serde_json::Value,
    config: TrainConfig,
    step: usize,
    optimizer_t: u64,
    rng: [u64; 4],
    history: Vec<StepRecord>,
    /// The RNN's stream positions; their recurrent states are in
    /// `optimizer.safetensors` as `carry.{layer}.{shift,wkv,hidden}`.
    #[serde(default)]
    cursors: Option<Vec<usize>>,
}

/// The carried recurrent state as named tensors (empty parts left out).
fn carry_tensors(carry: &super::run::Carry) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut out = Vec::new();
    for (l, layer) in carry.state.layers.iter().enumerate() {
        for (part, values) in [
            ("shift", &layer.shift),
            ("wkv", &layer.wkv),
            ("hidden", &layer.hidden),
        ] {
            if !values.is_empty() {
                out.push((
                    format!("carry.{l}.{part}"),
                    vec![values.len()],
                    values.clone(),
                ));
            }
        }
    }
    out
}

/// GPT-2's Hugging Face layers store these matrices `[in, out]` (Conv1D).
pub(crate) fn is_conv1d(name: &str) -> bool {
    name.ends_with("c_attn.weight")
        || name.ends_with("c_proj.weight")
        || name.ends_with("c_fc.weight")
}

pub(crate) fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

pub(crate) fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Invalid(format!("{}: {e}", path.display()))
}

pub(crate) fn json_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|e| Error::Invalid(format!("writing JSON: {e}")))
}

/// `tensors` as safetensors bytes (f32, row-major).
pub(crate) fn safetensors_bytes(tensors: Vec<(String, Vec<usize>, Vec<f32>)>) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, s, v)| (n, s, bytemuck::cast_slice(&v).to_vec()))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::Invalid(format!("{n}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, &None).map_err(|e| Error::Invalid(format!("safetensors: {e}")))
}

/// The weights in Hugging Face GPT-2 form.
fn model_tensors(params: &[Param]) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    params
        .iter()
        .map(|p| {
            if is_conv1d(&p.name) {
                let (rows, cols) = (p.shape[0], p.shape[1]);
                (
                    p.name.clone(),
                    vec![cols, rows],
                    transpose(&p.value, rows, cols),
                )
            } else {
                (p.name.clone(), p.shape.clone(), p.value.clone())
            }
        })
        .collect()
}

/// The `config.json` of a Hugging Face GPT-2 of this shape.
fn hf_config(m: &GptConfig) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": m.vocab,
        "n_positions": m.context,
        "n_embd": m.width,
        "n_layer": m.layers,
        "n_head": m.heads,
        "n_inner": 4 * m.width,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "tie_word_embeddings": true,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "torch_dtype": "float32"
    })
}

/// The `config.json` of the RNN: its own `model_type`, which the
/// inference path reads.
fn rnn_config(m: &RnnConfig) -> Result<serde_json::Value> {
    let mut json = serde_json::to_value(m).map_err(|e| Error::Invalid(format!("{e}")))?;
    json["model_type"] = RNN_MODEL_TYPE.into();
    Ok(json)
}

/// `model_type` in an RNN checkpoint's `config.json`.
pub const RNN_MODEL_TYPE: &str = "monologue-rnn";

/// Saves `run` as the newest checkpoint in `dir` (created if needed).
/// Returns the checkpoint's folder.
pub fn save(run: &Run, dir: &Path) -> Result<PathBuf> {
    save_with(dir, run.step, |partial| write_checkpoint(run, partial))
}

/// Saves a checkpoint of step `step` under `dir`: `write` fills a fresh
/// folder, which then becomes `step-N` and `latest` names it, each move
/// atomic; all but the newest [`KEEP`] checkpoints go.
pub(crate) fn save_with(
    dir: &Path,
    step: usize,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    // A name not yet taken (saving twice at one step keeps both), so that
    // `latest` never names a folder that is being replaced.
    let base = format!("step-{step:06}");
    let name = std::iter::once(base.clone())
        .chain((1..).map(|i| format!("{base}.{i}")))
        .find(|n| !dir.join(n).exists())
        .unwrap_or(base);
    let partial = dir.join(format!(".{name}.partial"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| io_err(&partial, e))?;
    }
    std::fs::create_dir(&partial).map_err(|e| io_err(&partial, e))?;
    // A failed save (a full disk, a value that cannot be written) takes
    // its partial folder with it; the checkpoints before it stay.
    if let Err(e) = write(&partial).and_then(|()| sync_dir(&partial)) {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }

    let done = dir.join(&name);
    std::fs::rename(&partial, &done).map_err(|e| io_err(&done, e))?;
    sync_dir(dir)?;
    let latest_tmp = dir.join(".latest.partial");
    write_synced(&latest_tmp, name.as_bytes())?;
    std::fs::rename(&latest_tmp, dir.join("latest")).map_err(|e| io_err(dir, e))?;
    sync_dir(dir)?;
    prune(dir, &name);
    Ok(done)
}

/// Writes every file of a checkpoint of `run` into the folder `partial`.
fn write_checkpoint(run: &Run, partial: &Path) -> Result<()> {
    let params = &run.graph.params;
    let arch = run.model.architecture();
    let (config, model) = match &arch {
        Architecture::Gpt(c) => (hf_config(c), serde_json::to_value(c)),
        Architecture::Rnn(c) => (rnn_config(c)?, serde_json::to_value(c)),
    };
    let model = model.map_err(|e| Error::Invalid(format!("{e}")))?;
    let config = json_bytes(&config)?;
    write_synced(&partial.join("config.json"), &config)?;
    write_synced(
        &partial.join("model.safetensors"),
        &safetensors_bytes(model_tensors(params))?,
    )?;
    write_synced(
        &partial.join("tokenizer.json"),
        run.data.tokenizer.to_json()?.as_bytes(),
    )?;
    let moments = params
        .iter()
        .zip(run.optimizer.m.iter().zip(&run.optimizer.v))
        .flat_map(|(p, (m, v))| {
            [
                (format!("m.{}", p.name), p.shape.clone(), m.clone()),
                (format!("v.{}", p.name), p.shape.clone(), v.clone()),
            ]
        })
        .chain(run.carry.iter().flat_map(carry_tensors))
        .collect();
    write_synced(
        &partial.join("optimizer.safetensors"),
        &safetensors_bytes(moments)?,
    )?;
    let state = TrainingState {
        format: FORMAT,
        architecture: arch.name().into(),
        model,
        config: run.config.clone(),
        step: run.step,
        optimizer_t: run.optimizer.t,
        rng: run.rng.state(),
        history: run.history.clone(),
        cursors: run.carry.as_ref().map(|c| c.cursors.clone()),
    };
    write_synced(&partial.join("training.json"), &json_bytes(&state)?)?;
    sync_dir(partial)
}

/// Removes all but the newest KEEP checkpoints (never `current`), and
/// partial folders left by a crash. Failures here lose nothing.
fn prune(dir: &Path, current: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut steps: Vec<String> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".step-") && name.ends_with(".partial") {
            let _ = std::fs::remove_dir_all(e.path());
        } else if name.starts_with("step-") && name != current {
            steps.push(name);
        }
    }
    steps.sort();
    let extra = (steps.len() + 1).saturating_sub(KEEP);
    for name in &steps[..extra.min(steps.len())] {
        let _ = std::fs::remove_dir_all(dir.join(name));
    }
}

pub use crate::io::checkpoint_folder as resolve;

/// f32 tensors of a safetensors file, by name.
pub(crate) fn read_tensors(path: &Path) -> Result<SafetensorsFile> {
    SafetensorsFile::open(path)
        .map_err(|e| Error::Invalid(format!("checkpoint {}: {e}", path.display())))
}

pub(crate) fn tensor_f32(
    file: &SafetensorsFile,
    name: &str,
    len: usize,
    path: &Path,
) -> Result<Vec<f32>> {
    let t = file
        .tensor(name)
        .map_err(|_| Error::Invalid(format!("checkpoint {}: no tensor {name}", path.display())))?;
    let values = t.to_f32_vec()?;
    if values.len() != len {
        return Err(Error::Invalid(format!(
            "checkpoint {}: {name} holds {} values, the model needs {len}",
            path.display(),
            values.len()
        )));
    }
    Ok(values)
}

/// Resumes the run saved in `path` (a run's folder or one checkpoint) on
/// `text`, tokenized with the checkpoint's own tokenizer. The resumed run
/// continues exactly as the saved one would have.
pub fn resume(path: &Path, text: &str, validation_fraction: f64) -> Result<Run> {
    let dir = resolve(path)?;
    let json_path = dir.join("training.json");
    let json = crate::io::read_text(&json_path).map_err(|e| {
        Error::Invalid(format!(
            "{} is not a training checkpoint ({}: {e})",
            path.display(),
            json_path.display()
        ))
    })?;
    let state: TrainingState = serde_json::from_str(&json).map_err(|e| {
        Error::Invalid(format!(
            "checkpoint {}: training.json is damaged: {e}",
            dir.display()
        ))
    })?;
    let damaged = |e: serde_json::Error| {
        Error::Invalid(format!(
            "checkpoint {}: the model config in training.json is damaged: {e}",
            dir.display()
        ))
    };
    let model = state.model.clone();
    let arch = match (state.format, state.architecture.as_str()) {
        (FORMAT, "gpt") => Architecture::Gpt(serde_json::from_value(model).map_err(damaged)?),
        (FORMAT, "rnn") => Architecture::Rnn(serde_json::from_value(model).map_err(damaged)?),
        (format, arch) => {
            return Err(Error::Invalid(format!(
                "checkpoint {}: format {format} of architecture {arch:?}; this build reads format {FORMAT} of \"gpt\" or \"rnn\"",
                dir.display(),
            )))
        }
    };
    let tokenizer = crate::tokenizer::Tokenizer::from_json_file(dir.join("tokenizer.json"))?;
    let data = Dataset::new(text, tokenizer, validation_fraction)?;
    let mut run = Run::new(arch, state.config.clone(), data)?;
    let weights_path = dir.join("model.safetensors");
    let weights = read_tensors(&weights_path)?;
    let moments_path = dir.join("optimizer.safetensors");
    let moments = read_tensors(&moments_path)?;
    let mut optimizer = AdamW::new(state.config.adamw, &run.graph.params);
    for (i, p) in run.graph.params.iter_mut().enumerate() {
        let len = p.value.len();
        let stored = tensor_f32(&weights, &p.name, len, &weights_path)?;
        p.value = if is_conv1d(&p.name) {
            transpose(&stored, p.shape[1], p.shape[0])
        } else {
            stored
        };
        optimizer.m[i] = tensor_f32(&moments, &format!("m.{}", p.name), len, &moments_path)?;
        optimizer.v[i] = tensor_f32(&moments, &format!("v.{}", p.name), len, &moments_path)?;
    }
    if let Some(carry) = &mut run.carry {
        let cursors = state.cursors.clone().unwrap_or_default();
        if cursors.len() != carry.cursors.len() {
            return Err(Error::Invalid(format!(
                "checkpoint {}: {} stream positions for a batch of {}",
                dir.display(),
                cursors.len(),
                carry.cursors.len()
            )));
        }
        carry.cursors = cursors;
        for (l, layer) in carry.state.layers.iter_mut().enumerate() {
            for (part, values) in [
                ("shift", &mut layer.shift),
                ("wkv", &mut layer.wkv),
                ("hidden", &mut layer.hidden),
            ] {
                if !values.is_empty() {
                    let name = format!("carry.{l}.{part}");
                    *values = tensor_f32(&moments, &name, values.len(), &moments_path)?;
                }
            }
        }
    }
    optimizer.t = state.optimizer_t;
    run.optimizer = optimizer;
    run.step = state.step;
    run.history = state.history;
    run.rng = Rng::from_state(state.rng);
    Ok(run)
}
