//! LoRA adapters (a `peft` folder: `adapter_config.json` and
//! `adapter_model.safetensors`) applied to a model as it loads.
//!
//! [`super::Weights`] carries the adapter: each adapted matrix is widened
//! to f32 and `s · B · A` is added to it as it is fetched, before the store
//! keeps (or uploads) it, so every architecture and both executors run the
//! adapted model with no change of their own. The price: an adapted matrix
//! of a quantized file is held in f32 (or in the `quantize` type asked
//! for at load).
//!
//! `peft` names modules by their Hugging Face paths and orders each head's
//! query and key rows as Hugging Face does; a GGUF `llama` file orders them
//! as llama.cpp's RoPE wants (pairs of dimensions adjacent).
//! [`hf_row_order`] converts an adapter's `B` between the two.

use super::names::{Naming, ADAPTABLE};
use super::ModelInfo;
use crate::error::{Error, Result};
use crate::io::SafetensorsFile;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::path::Path;

pub const CONFIG: &str = "adapter_config.json";
pub const WEIGHTS: &str = "adapter_model.safetensors";

/// One adapted matrix: `A` `[r, in]` and `B` `[out, r]` (rows in the
/// model file's order).
struct Delta {
    a: Vec<f32>,
    b: Vec<f32>,
    rank: usize,
}

/// The adapters of a `peft` folder, by the name of the weight each adapts
/// in the model file.
pub struct LoraAdapter {
    scale: f32,
    deltas: HashMap<String, Delta>,
}

/// What `adapter_config.json` says (the fields this reads).
#[derive(serde::Deserialize)]
struct PeftConfig {
    peft_type: Option<String>,
    r: usize,
    lora_alpha: f32,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    use_dora: bool,
    #[serde(default)]
    fan_in_fan_out: bool,
    base_model_name_or_path: Option<String>,
    #[serde(default)]
    lora_dropout: f32,
    #[serde(default)]
    target_modules: Option<serde_json::Value>,
}

/// An adapter folder's shape: rank, alpha, dropout and target modules (a
/// list of `peft` module names).
pub fn shape_of(dir: &Path) -> Result<(usize, f32, f32, Vec<String>)> {
    let config = read_config(dir)?;
    let targets = match &config.target_modules {
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    Ok((config.r, config.lora_alpha, config.lora_dropout, targets))
}

/// Whether `dir` is a `peft` adapter folder.
pub fn is_adapter(dir: &Path) -> bool {
    dir.is_dir() && dir.join(CONFIG).is_file()
}

/// The model an adapter folder adapts, as its config names it: a relative
/// path that exists beside the folder is taken from there, anything else
/// as written (a path from the working folder, or a short name).
pub fn base_of(dir: &Path) -> Result<String> {
    let config = read_config(dir)?;
    let base = config.base_model_name_or_path.ok_or_else(|| {
        Error::Invalid(format!(
            "{}: base_model_name_or_path is not set: which model does it adapt?",
            dir.join(CONFIG).display()
        ))
    })?;
    let beside = dir.join(&base);
    match Path::new(&base).is_relative() && beside.exists() {
        true => Ok(beside.display().to_string()),
        false => Ok(base),
    }
}

fn read_config(dir: &Path) -> Result<PeftConfig> {
    let path = dir.join(CONFIG);
    parse_config(&crate::io::read_text(&path)?, &path.display().to_string())
}

/// `adapter_config.json`'s text (`shown` names it in errors), checked.
fn parse_config(text: &str, shown: &str) -> Result<PeftConfig> {
    let config: PeftConfig = serde_json::from_str(text)
        .map_err(|e| Error::file(shown, format!("not a peft adapter config: {e}")))?;
    let bad = |why: &str| Err(Error::file(shown, why.to_string()));
    if config.peft_type.as_deref().is_some_and(|t| t != "LORA") {
        return bad("only LoRA adapters are supported");
    }
    if config.use_dora || config.use_rslora || config.fan_in_fan_out {
        return bad("DoRA, rsLoRA and fan_in_fan_out adapters are not supported");
    }
    if config.r == 0 || !(config.lora_alpha.is_finite()) {
        return bad("r must be positive and lora_alpha finite");
    }
    Ok(config)
}

/// Where an adapter's two files come from: a `peft` folder, or their
/// contents (a browser page has no folders).
pub enum AdapterSource<'a> {
    Folder(&'a Path),
    Contents {
        /// Shown in errors.
        name: &'a str,
        /// `adapter_config.json`'s text.
        config: &'a str,
        /// `adapter_model.safetensors`'s bytes.
        weights: &'a [u8],
    },
}

impl AdapterSource<'_> {
    /// What errors call the adapter.
    pub fn describe(&self) -> String {
        match self {
            AdapterSource::Folder(dir) => dir.display().to_string(),
            AdapterSource::Contents { name, .. } => name.to_string(),
        }
    }

    /// What errors call the weights file.
    fn weights_name(&self) -> String {
        match self {
            AdapterSource::Folder(dir) => dir.join(WEIGHTS).display().to_string(),
            AdapterSource::Contents { name, .. } => format!("{name}/{WEIGHTS}"),
        }
    }

    fn config(&self) -> Result<PeftConfig> {
        match self {
            AdapterSource::Folder(dir) => read_config(dir),
            AdapterSource::Contents { name, config, .. } => {
                parse_config(config, &format!("{name}/{CONFIG}"))
            }
        }
    }

    fn weights(&self) -> Result<SafetensorsFile> {
        match self {
            AdapterSource::Folder(dir) => SafetensorsFile::open(dir.join(WEIGHTS)),
            AdapterSource::Contents { weights, .. } => {
                SafetensorsFile::from_bytes(weights, self.weights_name())
            }
        }
    }
}

impl LoraAdapter {
    /// The adapters `source` holds, for a model whose tensors `naming`
    /// names; `gguf_llama` says its query and key rows are in llama.cpp's
    /// order.
    pub fn open(
        source: &AdapterSource,
        naming: Naming,
        info: &ModelInfo,
        gguf_llama: bool,
    ) -> Result<Self> {
        let config = source.config()?;
        let path = source.weights_name();
        let file = source.weights()?;
        let mut deltas = HashMap::new();
        for layer in 0..info.n_layers {
            for &(part, module) in &ADAPTABLE {
                let hf = Naming::HuggingFace.name(part, layer, "weight");
                let stem = hf.trim_end_matches(".weight");
                let key = |which: &str| format!("base_model.model.{stem}.{which}.weight");
                let (a_key, b_key) = (key("lora_A"), key("lora_B"));
                let has = |k: &str| file.tensors().iter().any(|t| t.name == k);
                match (has(&a_key), has(&b_key)) {
                    (false, false) => continue,
                    (true, true) => {}
                    _ => {
                        return Err(Error::file(
                            path.as_str(),
                            format!("{stem} has only one of lora_A and lora_B"),
                        ))
                    }
                }
                let (a, b) = (file.tensor(&a_key)?, file.tensor(&b_key)?);
                let (&[r, _], &[out, rb]) = (a.dims(), b.dims()) else {
                    return Err(Error::file(
                        path.as_str(),
                        format!("{stem}: adapters must be matrices"),
                    ));
                };
                if r != config.r || rb != r {
                    return Err(Error::file(
                        path.as_str(),
                        format!("{stem}: rank {r} (A) and {rb} (B) for r = {}", config.r),
                    ));
                }
                let heads = match module {
                    "q_proj" => info.n_heads,
                    "k_proj" => info.n_kv_heads,
                    _ => 0,
                };
                if heads > 0 && out != heads * info.head_dim {
                    // Checked before the rows are reordered by head.
                    return Err(Error::file(
                        path.as_str(),
                        format!(
                            "{stem}: B has {out} rows, the model's {module} has {}",
                            heads * info.head_dim
                        ),
                    ));
                }
                let mut b = b.to_f32_vec()?;
                if gguf_llama && heads > 0 {
                    b = hf_row_order(&b, r, heads, info.head_dim, false);
                }
                let name = naming.name(part, layer, "weight");
                let delta = Delta {
                    a: a.to_f32_vec()?,
                    b,
                    rank: r,
                };
                if delta.b.len() != out * r {
                    return Err(Error::file(path.as_str(), format!("{stem}: B's size")));
                }
                deltas.insert(name, delta);
            }
        }
        if deltas.is_empty() {
            return Err(Error::file(
                path.as_str(),
                "no adapter here matches a projection of this model",
            ));
        }
        Ok(LoraAdapter {
            scale: config.lora_alpha / config.r as f32,
            deltas,
        })
    }

    /// Adapters given directly: (the adapted weight's name, `A` `[r, in]`,
    /// `B` `[out, r]` in the file's row order, r), all scaled by `scale`.
    pub fn from_parts(scale: f32, parts: Vec<(String, Vec<f32>, Vec<f32>, usize)>) -> Self {
        let deltas = parts
            .into_iter()
            .map(|(name, a, b, rank)| (name, Delta { a, b, rank }))
            .collect();
        LoraAdapter { scale, deltas }
    }

    /// How many matrices it adapts.
    pub fn len(&self) -> usize {
        self.deltas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
    }

    /// Whether the weight called `name` has an adapter.
    pub fn adapts(&self, name: &str) -> bool {
        self.deltas.contains_key(name)
    }

    /// `tensor` with its adapter merged in (widened to f32), or as it is.
    pub fn apply(&self, name: &str, tensor: Tensor) -> Result<Tensor> {
        let Some(delta) = self.deltas.get(name) else {
            return Ok(tensor);
        };
        let &[out, inp] = tensor.dims() else {
            return Err(Error::Invalid(format!(
                "{name}: an adapter on a non-matrix"
            )));
        };
        let r = delta.rank;
        if delta.a.len() != r * inp || delta.b.len() != out * r {
            return Err(Error::Invalid(format!(
                "{name}: the adapter is for [{}, {}], the model's weight is [{out}, {inp}]",
                delta.b.len() / r,
                delta.a.len() / r
            )));
        }
        let mut w = tensor.to_f32_vec()?;
        for o in 0..out {
            let row = &mut w[o * inp..(o + 1) * inp];
            for k in 0..r {
                let coef = self.scale * delta.b[o * r + k];
                let a = &delta.a[k * inp..(k + 1) * inp];
                row.iter_mut().zip(a).for_each(|(w, a)| *w += coef * a);
            }
        }
        Tensor::from_f32(&w, [out, inp])
    }
}

impl super::weights::Patch for LoraAdapter {
    fn tensor(&self, name: &str, stored: Tensor) -> Result<Tensor> {
        self.apply(name, stored)
    }
}

/// The rows of a `[heads · head_dim, r]` matrix moved between llama.cpp's
/// order and Hugging Face's (`to_hf`) or back: Hugging Face's row
/// `h·hd + j·hd/2 + i` is llama.cpp's `h·hd + 2i + j`.
pub fn hf_row_order(m: &[f32], r: usize, heads: usize, head_dim: usize, to_hf: bool) -> Vec<f32> {
    let half = head_dim / 2;
    let mut out = m.to_vec();
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let (hf, gguf) = (h * head_dim + j * half + i, h * head_dim + 2 * i + j);
                let (from, to) = if to_hf { (gguf, hf) } else { (hf, gguf) };
                out[to * r..(to + 1) * r].copy_from_slice(&m[from * r..(from + 1) * r]);
            }
        }
    }
    out
}
