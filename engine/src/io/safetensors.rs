//! Safetensors checkpoints: one `.safetensors` file, or several shards
//! listed by `model.safetensors.index.json`. The `safetensors` crate parses
//! and validates each header; tensors are windows into the mapped shards.

use super::{Metadata, TensorInfo, Value};
use crate::error::{Error, Result};
use crate::tensor::{DType, GgmlType, Shape, Storage, Tensor};
use safetensors::tensor::{Dtype, SafeTensorError};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::path::{Path, PathBuf};

/// The file Hugging Face writes next to the shards of a split checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// The file name of an unsplit checkpoint in a model directory.
pub const SINGLE_FILE: &str = "model.safetensors";

/// One or more safetensors files presented as one checkpoint.
pub struct SafetensorsFile {
    path: String,
    shards: Vec<(String, Storage)>,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    /// Tensor name → (index in `tensors`, index in `shards`).
    index: HashMap<String, (usize, usize)>,
}

impl SafetensorsFile {
    /// A `.safetensors` file, an index file, or a directory with either.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path.is_dir() {
            let index = path.join(INDEX_FILE);
            if index.is_file() {
                return SafetensorsFile::open_index(&index);
            }
            let single = path.join(SINGLE_FILE);
            if single.is_file() {
                return SafetensorsFile::open(&single);
            }
            return Err(Error::file(
                path.display(),
                format!("directory has neither {SINGLE_FILE} nor {INDEX_FILE}"),
            ));
        }
        if path.extension().is_some_and(|e| e == "json") {
            return SafetensorsFile::open_index(path);
        }
        SafetensorsFile::from_storage(super::load_file(path)?, path.display())
    }

    pub fn from_bytes(bytes: &[u8], name: impl Display) -> Result<Self> {
        SafetensorsFile::from_storage(super::storage_from_bytes(bytes), name)
    }

    /// Parse one whole file held in `storage`; `name` appears in errors.
    pub fn from_storage(storage: Storage, name: impl Display) -> Result<Self> {
        let name = name.to_string();
        let parsed = parse(&storage, &name)?;
        let mut metadata = Metadata::new(name.clone());
        for (key, value) in parsed.metadata {
            metadata.insert(key, Value::String(value))?;
        }
        let mut out = SafetensorsFile {
            path: name.clone(),
            shards: vec![(name, storage)],
            metadata,
            tensors: Vec::new(),
            index: HashMap::new(),
        };
        out.add_tensors(parsed.tensors, 0)?;
        Ok(out)
    }

    /// A sharded checkpoint: read the index, then every shard it names.
    pub fn open_index(index_path: &Path) -> Result<Self> {
        let shown = index_path.display().to_string();
        let text = super::read_text(index_path)?;
        let index: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::file(&shown, format!("not valid JSON: {e}")))?;
        let Some(weight_map) = index.get("weight_map").and_then(|w| w.as_object()) else {
            return Err(Error::file(&shown, "has no `weight_map` object"));
        };
        let mut shard_names = BTreeSet::new();
        for (tensor, shard) in weight_map {
            let Some(shard) = shard.as_str().filter(|s| is_plain_file_name(s)) else {
                return Err(Error::file(
                    &shown,
                    format!("`weight_map` entry for `{tensor}` is not a plain file name: {shard}"),
                ));
            };
            shard_names.insert(shard);
        }

        let mut metadata = Metadata::new(shown.clone());
        if let Some(extra) = index.get("metadata").and_then(|m| m.as_object()) {
            for (key, value) in extra {
                metadata.insert(key.clone(), json_to_value(value))?;
            }
        }
        let mut out = SafetensorsFile {
            path: shown.clone(),
            shards: Vec::new(),
            metadata,
            tensors: Vec::new(),
            index: HashMap::new(),
        };
        let dir = index_path
            .parent()
            .map_or_else(PathBuf::new, Path::to_path_buf);
        for shard in shard_names {
            let shard_path = dir.join(shard);
            let storage = super::load_file(&shard_path)?;
            let shard_shown = shard_path.display().to_string();
            let parsed = parse(&storage, &shard_shown)?;
            // Shards repeat the same `__metadata__` (e.g. format = pt); keep
            // the first copy of each key.
            for (key, value) in parsed.metadata {
                if !out.metadata.contains(&key) {
                    out.metadata.insert(key, Value::String(value))?;
                }
            }
            out.shards.push((shard_shown, storage));
            out.add_tensors(parsed.tensors, out.shards.len() - 1)?;
        }
        for (tensor, shard) in weight_map {
            let shard = shard.as_str().unwrap_or_default();
            let expected = dir.join(shard);
            let found = out
                .index
                .get(tensor)
                .map(|&(_, s)| out.shards[s].0.as_str());
            if found != Some(&*expected.display().to_string()) {
                return Err(Error::file(
                    &shown,
                    format!(
                        "`weight_map` puts `{tensor}` in {shard}, but that shard does not hold it"
                    ),
                ));
            }
        }
        Ok(out)
    }

    fn add_tensors(&mut self, infos: Vec<TensorInfo>, shard: usize) -> Result<()> {
        for info in infos {
            let at = (self.tensors.len(), shard);
            if let Some((_, other)) = self.index.insert(info.name.clone(), at) {
                return Err(Error::file(
                    &self.path,
                    format!(
                        "tensor `{}` appears in both {} and {}",
                        info.name, self.shards[other].0, self.shards[shard].0
                    ),
                ));
            }
            self.tensors.push(info);
        }
        Ok(())
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// `__metadata__` strings, plus an index file's `metadata` object.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Shard by shard, each in on-disk order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.index.get(name).map(|&(i, _)| &self.tensors[i])
    }

    /// The named tensor over the mapped shard. Safetensors headers have any
    /// length, so data may be misaligned; such tensors are copied.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let &(i, shard) = self
            .index
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("{}: no tensor named `{name}`", self.path)))?;
        let (shard_path, storage) = &self.shards[shard];
        super::tensor_from(storage, &self.tensors[i], shard_path)
    }
}

impl std::fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsFile")
            .field("path", &self.path)
            .field("shards", &self.shards.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

/// An 8-byte little-endian header length followed by a JSON object.
pub(crate) fn looks_like_safetensors(bytes: &[u8]) -> bool {
    bytes.len() > 8 && bytes[8] == b'{'
}

/// What one safetensors header declares.
struct Parsed {
    /// In on-disk order.
    tensors: Vec<TensorInfo>,
    /// `__metadata__`, sorted by key: the format stores it in a JSON object,
    /// whose order is not kept.
    metadata: Vec<(String, String)>,
}

fn parse(storage: &Storage, name: &str) -> Result<Parsed> {
    let bytes = storage.as_bytes();
    let fail = |msg: String| Error::file(name, msg);
    // The crate checks that the offsets tile the data section exactly and
    // agree with each shape and dtype.
    let (header_len, header) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(|e| fail(describe(e)))?;
    let data_start = 8 + header_len;
    let mut infos = Vec::new();
    for (tensor, info) in header.tensors() {
        let dtype = match info.dtype {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            other => {
                return Err(fail(format!(
                    "tensor `{tensor}` has dtype {other:?}; only F32, F16 and BF16 are supported"
                )))
            }
        };
        let (start, end) = info.data_offsets;
        infos.push(TensorInfo {
            ggml_type: GgmlType::from_dtype(dtype),
            shape: Shape::new(info.shape.clone()),
            offset: data_start + start,
            bytes: end - start,
            name: tensor,
        });
    }
    infos.sort_by(|a, b| (a.offset, &a.name).cmp(&(b.offset, &b.name)));
    let mut metadata: Vec<(String, String)> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    metadata.sort();
    Ok(Parsed {
        tensors: infos,
        metadata,
    })
}

/// The crate's errors print as Rust debug output; say them in words.
fn describe(e: SafeTensorError) -> String {
    use SafeTensorError as E;
    match e {
        E::HeaderTooSmall => "too short to be a safetensors file (under 8 bytes)".into(),
        E::HeaderTooLarge => "the header length is larger than safetensors allows (100 MB)".into(),
        E::InvalidHeaderLength => "the header length points past the end of the file".into(),
        E::InvalidHeader => "the header is not valid UTF-8".into(),
        E::InvalidHeaderStart => "the header does not start with `{`".into(),
        E::InvalidHeaderDeserialization => {
            "the header is not a valid safetensors JSON object".into()
        }
        E::InvalidOffset(t) => format!("tensor `{t}` has data offsets that are not contiguous"),
        E::TensorInvalidInfo => "a tensor's data offsets disagree with its shape and dtype".into(),
        E::MetadataIncompleteBuffer => {
            "the tensors do not cover the data section exactly (truncated or padded file)".into()
        }
        E::ValidationOverflow => "a tensor's shape is too large (size overflows)".into(),
        other => format!("invalid safetensors file: {other}"),
    }
}

fn is_plain_file_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\'])
}

/// Index-file metadata is JSON; keep numbers and strings typed.
fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(Value::U64)
            .or_else(|| n.as_i64().map(Value::I64))
            .unwrap_or_else(|| Value::F64(n.as_f64().unwrap_or(f64::NAN))),
        other => Value::String(other.to_string()),
    }
}
