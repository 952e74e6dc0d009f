//! A fine-tuned model written in the format it came in, so that every
//! path that loaded the original loads the result: a GGUF file (its
//! metadata copied, every tensor f32) for llama.cpp and the engine, or a
//! Hugging Face folder (`model.safetensors` beside the original's config
//! and tokenizer files) for `transformers` and the engine.

use super::pretrained::Pretrained;
use crate::error::{Error, Result};
use crate::io::gguf::writer::GgufWriter;
use crate::io::{Format, ModelFile, Value};
use crate::model::adapter::LoraAdapter;
use crate::model::{LoadOptions, Model, Patch};
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A tensor as saved: name, shape (outermost first), f32 values.
pub type Saved = (String, Vec<usize>, Vec<f32>);

/// The files beside a Hugging Face checkpoint that describe it rather
/// than hold its weights; a saved model carries them along.
const HF_SIDE_FILES: [&str; 9] = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
];

/// The model's tensors as its checkpoint names and lays them out: the rows
/// a fused matrix was cut into joined again, Gemma's norm offset taken
/// off, GPT-2's Conv1D matrices transposed back to `[in, out]`.
pub fn tensors(model: &Pretrained) -> Vec<Saved> {
    let hf_gpt2 = model.format == Format::Safetensors && model.info().architecture == "gpt2";
    let mut out: Vec<Saved> = Vec::new();
    for p in &model.graph.params {
        // "name (q)", "name (k)", … are rows of one stored matrix.
        let name = p.name.split(" (").next().unwrap_or(&p.name);
        let mut values = p.value.clone();
        if p.shape.len() == 1 && name.contains("norm") && model.norm_offset != 0.0 {
            values.iter_mut().for_each(|v| *v -= model.norm_offset);
        }
        match out.last_mut() {
            Some((last, shape, joined)) if last == name && shape.len() == 2 => {
                shape[0] += p.shape[0];
                joined.extend_from_slice(&values);
            }
            _ => out.push((name.to_string(), p.shape.clone(), values)),
        }
    }
    if hf_gpt2 {
        for (name, shape, values) in &mut out {
            if crate::train::checkpoint::is_conv1d(name) {
                *values = crate::train::checkpoint::transpose(values, shape[0], shape[1]);
                shape.swap(0, 1);
            }
        }
    }
    out
}

/// Writes the model into the folder `dir` (which must exist): returns the
/// path that loads it (the GGUF file, or the folder).
pub fn write(model: &Pretrained, dir: &Path) -> Result<PathBuf> {
    match model.format {
        Format::Gguf => {
            let path = dir.join("model.gguf");
            gguf(model)?.write(&path)?;
            Ok(path)
        }
        Format::Safetensors => {
            copy_side_files(&model.path, dir)?;
            let bytes = crate::train::checkpoint::safetensors_bytes(tensors(model))?;
            crate::io::atomic::write_synced(&dir.join("model.safetensors"), &bytes)?;
            Ok(dir.to_path_buf())
        }
    }
}

/// Copies the config and tokenizer files beside the Hugging Face
/// checkpoint at `path` (its folder or its safetensors file) into `dir`.
pub fn copy_side_files(path: &Path, dir: &Path) -> Result<()> {
    let source = match path.is_dir() {
        true => path,
        false => path.parent().unwrap_or(Path::new(".")),
    };
    for name in HF_SIDE_FILES {
        let from = source.join(name);
        if from.is_file() {
            let bytes = std::fs::read(&from).map_err(|e| Error::io(from.display(), e))?;
            crate::io::atomic::write_synced(&dir.join(name), &bytes)?;
        }
    }
    Ok(())
}

/// GGUF's `general.file_type` for a file whose tensors are all f32.
const ALL_F32: u32 = 0;

/// The original GGUF's metadata with the fine-tuned tensors, all f32.
fn gguf(model: &Pretrained) -> Result<GgufWriter> {
    let file = ModelFile::open(&model.path)?;
    let mut w = gguf_metadata(&file, Some(ALL_F32))?;
    // Tensors the model does not train (Llama 3.1's RoPE factors) stay.
    let trained: Vec<Saved> = tensors(model);
    for info in file.tensors() {
        if !trained.iter().any(|(n, ..)| *n == info.name) {
            let t = file.tensor(&info.name)?;
            w = w.f32_tensor(&info.name, t.dims(), &t.to_f32_vec()?);
        }
    }
    for (name, shape, values) in &trained {
        w = w.f32_tensor(name, shape, values);
    }
    Ok(w)
}

/// A GGUF writer holding `file`'s metadata (its `general.file_type`
/// replaced where given).
pub fn gguf_metadata(file: &ModelFile, file_type: Option<u32>) -> Result<GgufWriter> {
    let meta = file.metadata();
    let alignment = match meta.contains("general.alignment") {
        true => meta.get_u32("general.alignment")?,
        false => 32,
    };
    let mut w = GgufWriter::new().alignment(alignment);
    for (key, value) in meta.iter() {
        let value = match (key, file_type) {
            ("general.alignment", _) => continue,
            ("general.file_type", Some(t)) => Value::U32(t),
            _ => value.clone(),
        };
        w = w.kv(key, value);
    }
    Ok(w)
}

/// The model being trained as an inference model (its current weights, on
/// the CPU, with the KV cache and every sampler): what GRPO samples from.
/// The file is opened again (memory-mapped); a LoRA model's adapters are
/// merged into the matrices they adapt as those load, and a fully trained
/// model's f32 weights replace the file's.
pub fn inference_model(model: &Pretrained) -> Result<Box<dyn Model>> {
    let file = ModelFile::open(&model.path)?;
    let recipe = crate::load::recipe_of(&file, &model.path)?;
    let options = LoadOptions::default();
    let params = &model.graph.params;
    match &model.lora {
        Some(lora) => {
            let parts = model
                .adapters
                .iter()
                .map(|a| {
                    let (pa, pb) = (&params[a.a], &params[a.b]);
                    (
                        a.weight.clone(),
                        pa.value.clone(),
                        pb.value.clone(),
                        lora.rank,
                    )
                })
                .collect();
            let adapter = LoraAdapter::from_parts(lora.scale(), parts);
            crate::model::build_patched(&file, recipe, &options, Some(&adapter))
        }
        None => {
            let replaced = Replaced(
                tensors(model)
                    .into_iter()
                    .map(|(name, shape, values)| Ok((name, Tensor::from_f32(&values, shape)?)))
                    .collect::<Result<_>>()?,
            );
            crate::model::build_patched(&file, recipe, &options, Some(&replaced))
        }
    }
}

/// Tensors in place of the file's, by name.
struct Replaced(HashMap<String, Tensor>);

impl Patch for Replaced {
    fn tensor(&self, name: &str, stored: Tensor) -> Result<Tensor> {
        Ok(self.0.get(name).cloned().unwrap_or(stored))
    }
}
