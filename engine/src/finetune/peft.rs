//! LoRA adapters as Hugging Face `peft` saves them, so that
//! `PeftModel.from_pretrained(base, DIR)` loads ours: `adapter_config.json`
//! and `adapter_model.safetensors`, whose tensors are
//! `base_model.model.<module>.lora_A.weight` (`[r, in]`) and `…lora_B.weight`
//! (`[out, r]`) under the Hugging Face module paths.
//!
//! A GGUF `llama` file stores each head's query and key rows in llama.cpp's
//! order (pairs of dimensions adjacent, for its RoPE), not the Hugging Face
//! order `peft`'s base model has; the rows of those adapters' `B` are put
//! back in Hugging Face order on the way out, and into the file's order on
//! the way in.

use super::pretrained::Pretrained;
use crate::error::{Error, Result};
use crate::io::atomic::write_synced;
use crate::io::Format;
use crate::model::adapter::hf_row_order;
use crate::train::checkpoint::{read_tensors, safetensors_bytes, tensor_f32};
use std::path::Path;

pub use crate::model::adapter::{CONFIG, WEIGHTS};

fn key(module: &str, which: &str) -> String {
    format!("base_model.model.{module}.{which}.weight")
}

/// Writes the model's adapters into the folder `dir`; `base` names the
/// model they adapt.
pub fn write(model: &Pretrained, dir: &Path, base: &str) -> Result<()> {
    let lora = model
        .lora
        .as_ref()
        .ok_or_else(|| Error::Invalid("this run trains no LoRA adapters".into()))?;
    let config = serde_json::json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base,
        "r": lora.rank,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "target_modules": lora.targets,
        "bias": "none",
        "fan_in_fan_out": false,
        "use_rslora": false,
        "use_dora": false,
        "init_lora_weights": true,
        "inference_mode": true,
        "modules_to_save": null,
        "layers_to_transform": null,
        "revision": null,
    });
    let config = serde_json::to_vec_pretty(&config)
        .map_err(|e| Error::Invalid(format!("adapter config: {e}")))?;
    write_synced(&dir.join(CONFIG), &config)?;
    let params = &model.graph.params;
    let mut tensors = Vec::new();
    for adapter in &model.adapters {
        let (a, b) = (&params[adapter.a], &params[adapter.b]);
        let b_rows = reorder_rows(
            model,
            &adapter.module,
            &b.value,
            b.shape[1],
            Direction::ToHf,
        );
        tensors.push((
            key(&adapter.module, "lora_A"),
            a.shape.clone(),
            a.value.clone(),
        ));
        tensors.push((key(&adapter.module, "lora_B"), b.shape.clone(), b_rows));
    }
    write_synced(&dir.join(WEIGHTS), &safetensors_bytes(tensors)?)
}

/// Sets the model's adapters from the `peft` folder `dir`.
pub fn read(model: &mut Pretrained, dir: &Path) -> Result<()> {
    let path = dir.join(WEIGHTS);
    let file = read_tensors(&path)?;
    let adapters = model.adapters.clone();
    for adapter in &adapters {
        for (which, index) in [("lora_A", adapter.a), ("lora_B", adapter.b)] {
            let len = model.graph.params[index].value.len();
            let values = tensor_f32(&file, &key(&adapter.module, which), len, &path)?;
            let values = match which {
                "lora_B" => {
                    let r = model.graph.params[index].shape[1];
                    reorder_rows(model, &adapter.module, &values, r, Direction::FromHf)
                }
                _ => values,
            };
            model.graph.params[index].value = values;
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    ToHf,
    FromHf,
}

/// The rows of an adapter's `B` (`[out, r]`) in the other order, where the
/// file permutes them (a GGUF `llama` file's queries and keys).
fn reorder_rows(model: &Pretrained, module: &str, b: &[f32], r: usize, dir: Direction) -> Vec<f32> {
    let info = model.info();
    let permuted = model.format == Format::Gguf && info.architecture == "llama";
    let heads = match module.rsplit('.').next() {
        Some("q_proj") => info.n_heads,
        Some("k_proj") => info.n_kv_heads,
        _ => 0,
    };
    match permuted && heads > 0 {
        true => hf_row_order(b, r, heads, info.head_dim, dir == Direction::ToHf),
        false => b.to_vec(),
    }
}
