//! Fine-tuning checkpoints: `DIR/step-N/` holds the model in its own
//! format (the path any face loads), the optimizer's moments and the run's
//! state; `DIR/latest` names the newest. A resumed run continues bit for
//! bit as the uninterrupted one would have: same weights, moments, data
//! order and random draws.

use super::sft::{Conversation, Row};
use super::{model_file, peft, FineTune};
use crate::error::{Error, Result};
use crate::generate::Rng;
use crate::io::atomic::write_synced;
use crate::train::adamw::AdamW;
use crate::train::checkpoint::{
    json_bytes, read_tensors, safetensors_bytes, save_with, tensor_f32,
};
use crate::train::lora::LoraConfig;
use crate::train::run::{StepRecord, TrainConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const FORMAT: u32 = 1;
const STATE: &str = "finetune.json";
const OPTIMIZER: &str = "optimizer.safetensors";

#[derive(Serialize, Deserialize)]
struct State {
    format: u32,
    /// The model the run started from.
    base: String,
    config: TrainConfig,
    /// The adapters' settings, for a LoRA run.
    lora: Option<LoraConfig>,
    validation: f64,
    /// A hash of the packed training rows: resuming on other data is
    /// refused rather than silently changing the run.
    data: String,
    step: usize,
    optimizer_t: u64,
    rng: [u64; 4],
    order: Vec<usize>,
    cursor: usize,
    history: Vec<StepRecord>,
}

/// Saves a checkpoint of `ft` under `dir`; returns its folder.
pub fn save(ft: &FineTune, dir: &Path) -> Result<PathBuf> {
    save_with(dir, ft.step, |partial| {
        // A LoRA run saves its adapters (the base is the model it started
        // from); a full fine-tune, the whole model.
        match ft.model.lora {
            Some(_) => peft::write(&ft.model, partial, &ft.base)?,
            None => {
                model_file::write(&ft.model, partial)?;
            }
        }
        let params = &ft.model.graph.params;
        let mut tensors = Vec::new();
        for ((p, m), v) in params.iter().zip(&ft.optimizer.m).zip(&ft.optimizer.v) {
            tensors.push((format!("m.{}", p.name), p.shape.clone(), m.clone()));
            tensors.push((format!("v.{}", p.name), p.shape.clone(), v.clone()));
            // The model file may store a vector shifted (Gemma's norms as
            // w, not 1 + w), which need not round-trip exactly: the exact
            // values of every vector ride along (they are small).
            if p.shape.len() == 1 {
                tensors.push((
                    format!("value.{}", p.name),
                    p.shape.clone(),
                    p.value.clone(),
                ));
            }
        }
        write_synced(&partial.join(OPTIMIZER), &safetensors_bytes(tensors)?)?;
        let state = State {
            format: FORMAT,
            base: ft.base.clone(),
            config: ft.config.clone(),
            lora: ft.model.lora.clone(),
            validation: ft.validation,
            data: fingerprint(&ft.data.train),
            step: ft.step,
            optimizer_t: ft.optimizer.t,
            rng: ft.rng.state(),
            order: ft.order.clone(),
            cursor: ft.cursor,
            history: ft.history.clone(),
        };
        write_synced(&partial.join(STATE), &json_bytes(&state)?)
    })
}

/// Resumes the run saved at `path` (a run's folder or one checkpoint) on
/// `conversations`, which must pack into the rows it was training on.
pub fn resume(path: &Path, conversations: &[Conversation]) -> Result<FineTune> {
    let dir = crate::io::checkpoint_folder(path)?;
    // A GGUF checkpoint resolves to its file; its state sits beside it.
    let folder = match dir.is_file() {
        true => dir.parent().unwrap_or(Path::new(".")).to_path_buf(),
        false => dir.clone(),
    };
    let state_path = folder.join(STATE);
    let json = crate::io::read_text(&state_path).map_err(|e| {
        Error::Invalid(format!(
            "{} is not a fine-tuning checkpoint ({}: {e})",
            path.display(),
            state_path.display()
        ))
    })?;
    let state: State = serde_json::from_str(&json)
        .map_err(|e| Error::Invalid(format!("{}: damaged: {e}", state_path.display())))?;
    if state.format != FORMAT {
        return Err(Error::Invalid(format!(
            "{}: format {}; this build reads format {FORMAT}",
            state_path.display(),
            state.format
        )));
    }
    // A LoRA run starts again from its base, with the saved adapters.
    let model = match &state.lora {
        Some(_) => state.base.clone(),
        None => dir
            .to_str()
            .ok_or_else(|| Error::Invalid(format!("{}: not a UTF-8 path", dir.display())))?
            .to_string(),
    };
    let lora = state.lora.clone();
    let mut ft = FineTune::start(
        &model,
        lora,
        conversations,
        state.config.clone(),
        state.validation,
    )?;
    if ft.model.lora.is_some() {
        peft::read(&mut ft.model, &folder)?;
    }
    if fingerprint(&ft.data.train) != state.data {
        return Err(Error::Invalid(format!(
            "{}: the data packs into other rows than the run was training on (another file, or the same file changed)",
            path.display()
        )));
    }
    if state.order.len() != ft.data.train.len() || state.cursor > state.order.len() {
        return Err(Error::Invalid(format!(
            "{}: the saved data order does not fit {} rows",
            state_path.display(),
            ft.data.train.len()
        )));
    }
    let moments_path = folder.join(OPTIMIZER);
    let moments = read_tensors(&moments_path)?;
    let mut optimizer = AdamW::new(state.config.adamw, &ft.model.graph.params);
    for (i, p) in ft.model.graph.params.iter_mut().enumerate() {
        let len = p.value.len();
        optimizer.m[i] = tensor_f32(&moments, &format!("m.{}", p.name), len, &moments_path)?;
        optimizer.v[i] = tensor_f32(&moments, &format!("v.{}", p.name), len, &moments_path)?;
        if p.shape.len() == 1 {
            p.value = tensor_f32(&moments, &format!("value.{}", p.name), len, &moments_path)?;
        }
    }
    optimizer.t = state.optimizer_t;
    ft.optimizer = optimizer;
    ft.base = state.base;
    ft.step = state.step;
    ft.history = state.history;
    ft.rng = Rng::from_state(state.rng);
    ft.order = state.order;
    ft.cursor = state.cursor;
    Ok(ft)
}

/// FNV-1a over the rows' tokens, targets and document starts.
fn fingerprint(rows: &[Row]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for row in rows {
        row.ids.iter().for_each(|&v| eat(v as u64));
        row.targets.iter().for_each(|&v| eat(v as u64));
        row.starts.iter().for_each(|&v| eat(v as u64));
    }
    format!("{h:016x}")
}
