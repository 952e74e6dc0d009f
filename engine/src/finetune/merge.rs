//! A LoRA adapter merged into its base, written as a full model in the
//! base's format: a GGUF file (the adapted matrices f32, every other tensor
//! as it was stored, quantized or not) that llama.cpp runs, or a Hugging
//! Face folder (`model.safetensors` in f32, the base's config and
//! tokenizer files beside it).

use super::model_file::{copy_side_files, gguf_metadata};
use crate::error::{Error, Result};
use crate::io::{Format, ModelFile};
use crate::model::adapter::AdapterSource;
use crate::train::checkpoint::safetensors_bytes;
use std::path::{Path, PathBuf};

/// Writes the model the adapter folder `adapter` (a `peft` folder or a
/// LoRA run's checkpoint) adapts, merged, to `out`: a `.gguf` file for a
/// GGUF base, a folder for a Hugging Face one. Returns what was written.
pub fn write_merged(adapter: &Path, out: &Path) -> Result<PathBuf> {
    let adapter = crate::io::checkpoint_folder(adapter)?;
    let base = crate::load::adapter_base(&adapter)?.ok_or_else(|| {
        Error::Invalid(format!(
            "{}: no adapter_config.json, so not a LoRA adapter",
            adapter.display()
        ))
    })?;
    let file = ModelFile::open(&base)?;
    let recipe = crate::load::recipe_of(&file, &base)?;
    let lora = crate::model::adapter_for(&recipe, &AdapterSource::Folder(&adapter))?;
    match file.format() {
        Format::Gguf => {
            let mut w = gguf_metadata(&file, None)?;
            for info in file.tensors() {
                let t = file.tensor(&info.name)?;
                let merged = lora.apply(&info.name, t.clone())?;
                w = match merged.dtype() == t.dtype() && !lora.adapts(&info.name) {
                    true => w.tensor(&info.name, t.dtype(), t.dims(), t.as_bytes()?.to_vec()),
                    false => w.f32_tensor(&info.name, merged.dims(), &merged.to_f32_vec()?),
                };
            }
            w.write(out)?;
        }
        Format::Safetensors => {
            std::fs::create_dir_all(out).map_err(|e| Error::io(out.display(), e))?;
            copy_side_files(&base, out)?;
            let mut tensors = Vec::new();
            for info in file.tensors() {
                let t = lora.apply(&info.name, file.tensor(&info.name)?)?;
                tensors.push((info.name.clone(), t.dims().to_vec(), t.to_f32_vec()?));
            }
            crate::io::atomic::write_synced(
                &out.join("model.safetensors"),
                &safetensors_bytes(tensors)?,
            )?;
        }
    }
    Ok(out.to_path_buf())
}
