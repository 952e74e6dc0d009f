//! GGUF model files, versions 2 and 3, read without copying tensor data;
//! [`writer`] writes them.
//!
//! Layout: magic `GGUF`, u32 version, u64 tensor count, u64 metadata count,
//! the metadata entries, the tensor infos, padding to `general.alignment`
//! (default 32), then the data section. Tensor offsets are relative to the
//! data section; dimensions are stored innermost first.

mod reader;
pub mod writer;

pub use reader::{MAX_ARRAY_DEPTH, MAX_DIMS};

use super::{Metadata, TensorInfo};
use crate::error::{Error, Result};
use crate::tensor::{GgmlType, Shape, Storage, Tensor};
use reader::{Fault, RawTensorInfo};
use std::collections::HashMap;
use std::fmt::Display;
use std::path::Path;

/// Used when a file has no `general.alignment`.
pub const DEFAULT_ALIGNMENT: usize = 32;

/// A parsed GGUF file. Tensors are windows into the file's storage.
pub struct GgufFile {
    path: String,
    storage: Storage,
    version: u32,
    alignment: usize,
    data_offset: usize,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    index: HashMap<String, usize>,
}

impl GgufFile {
    /// Map (or, without the `mmap` feature, read) the file and parse it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        GgufFile::from_storage(super::load_file(path)?, path.display())
    }

    /// Only the metadata of the file at `path` (the tokenizer, the model's
    /// configuration): the tensor infos are not checked, so a file with
    /// tensor types we cannot compute with still gives its metadata.
    pub fn read_metadata(path: impl AsRef<Path>) -> Result<Metadata> {
        let path = path.as_ref();
        let storage = super::load_file(path)?;
        let name = path.display().to_string();
        let raw = reader::parse_header(storage.as_bytes()).map_err(|f| Error::file(&name, f.0))?;
        let mut metadata = Metadata::new(name);
        for (key, value) in raw.metadata {
            metadata.insert(key, value)?;
        }
        Ok(metadata)
    }

    /// Parse a file already in memory (a browser upload, a test fixture).
    /// The bytes are copied once into aligned storage.
    pub fn from_bytes(bytes: &[u8], name: impl Display) -> Result<Self> {
        GgufFile::from_storage(super::storage_from_bytes(bytes), name)
    }

    /// Parse `storage`, which holds the whole file; `name` appears in errors.
    pub fn from_storage(storage: Storage, name: impl Display) -> Result<Self> {
        let path = name.to_string();
        let bytes = storage.as_bytes();
        let fail = |f: Fault| Error::file(&path, f.0);
        let raw = reader::parse_header(bytes).map_err(fail)?;

        let mut metadata = Metadata::new(path.clone());
        for (key, value) in raw.metadata {
            metadata.insert(key, value)?;
        }
        let alignment = alignment(&metadata)?;
        let data_offset = raw
            .end
            .checked_next_multiple_of(alignment)
            .ok_or_else(|| fail(Fault("the data section's offset overflows".into())))?;

        let mut tensors = Vec::with_capacity(raw.tensors.len());
        let mut index = HashMap::with_capacity(raw.tensors.len());
        for raw_info in raw.tensors {
            let info = check_tensor(raw_info, data_offset, alignment, bytes.len()).map_err(fail)?;
            if let Some(first) = index.insert(info.name.clone(), tensors.len()) {
                return Err(fail(Fault(format!(
                    "tensor `{}` appears twice (tensor infos #{first} and #{})",
                    info.name,
                    tensors.len()
                ))));
            }
            tensors.push(info);
        }
        check_overlaps(&tensors).map_err(fail)?;

        Ok(GgufFile {
            path,
            version: raw.version,
            alignment,
            data_offset,
            metadata,
            tensors,
            index,
            storage,
        })
    }

    /// The name given when opening, used in error messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn alignment(&self) -> usize {
        self.alignment
    }

    /// Where the data section starts, in bytes from the start of the file.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Tensor infos in file order; offsets are absolute.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    /// The named tensor, sharing the file's storage (no copy unless its
    /// bytes are misaligned for its type).
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let info = self
            .tensor_info(name)
            .ok_or_else(|| Error::NotFound(format!("{}: no tensor named `{name}`", self.path)))?;
        super::tensor_from(&self.storage, info, &self.path)
    }
}

/// A summary: the metadata alone can be megabytes of tokenizer strings.
impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

fn alignment(metadata: &Metadata) -> Result<usize> {
    const KEY: &str = "general.alignment";
    if !metadata.contains(KEY) {
        return Ok(DEFAULT_ALIGNMENT);
    }
    let a = metadata.get_u32(KEY)?;
    if !a.is_power_of_two() {
        return Err(Error::file(
            metadata.source(),
            format!("`{KEY}` is {a}, which is not a power of two"),
        ));
    }
    Ok(a as usize)
}

/// Turn a declared tensor info into a checked one: a known ggml type (the
/// engine may lack kernels for it; using it is refused later), a
/// shape whose size does not overflow, an aligned offset, data in the file.
fn check_tensor(
    raw: RawTensorInfo,
    data_offset: usize,
    alignment: usize,
    file_len: usize,
) -> Result<TensorInfo, Fault> {
    let name = raw.name;
    let dtype = GgmlType::from_id(raw.type_id).ok_or_else(|| {
        Fault(format!(
            "tensor `{name}` has type id {}, which is not a ggml type",
            raw.type_id
        ))
    })?;
    let dims: Vec<usize> = raw
        .dims
        .iter()
        .rev()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            Fault(format!(
                "tensor `{name}` has a dimension too large for this machine"
            ))
        })?;
    let shape = Shape::new(dims);
    if !shape.last().is_multiple_of(dtype.block_len()) {
        return Err(Fault(format!(
            "tensor `{name}` is {dtype} with shape {shape}: its innermost dimension is not a multiple of the block length {}",
            dtype.block_len()
        )));
    }
    let bytes = shape
        .checked_numel()
        .and_then(|n| dtype.bytes_for(n))
        .ok_or_else(|| Fault(format!("tensor `{name}` of shape {shape} is too large")))?;
    if !raw.offset.is_multiple_of(alignment as u64) {
        return Err(Fault(format!(
            "tensor `{name}` has data offset {}, which is not a multiple of the alignment {alignment}",
            raw.offset
        )));
    }
    let start = usize::try_from(raw.offset)
        .ok()
        .and_then(|o| o.checked_add(data_offset));
    match start.and_then(|s| Some((s, s.checked_add(bytes)?))) {
        Some((offset, end)) if end <= file_len => Ok(TensorInfo {
            name,
            ggml_type: dtype,
            shape,
            offset,
            bytes,
        }),
        _ => Err(Fault(format!(
            "tensor `{name}` ({bytes} bytes at data offset {}) reaches past the end of the file ({file_len} bytes, data section at {data_offset})",
            raw.offset
        ))),
    }
}

/// No two tensors may share bytes: a writer bug, or a trick to make two
/// weights alias.
fn check_overlaps(tensors: &[TensorInfo]) -> Result<(), Fault> {
    let mut spans: Vec<&TensorInfo> = tensors.iter().filter(|t| t.bytes > 0).collect();
    spans.sort_by_key(|t| t.offset);
    for pair in spans.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.offset + a.bytes > b.offset {
            return Err(Fault(format!(
                "tensors `{}` (bytes {}..{}) and `{}` (bytes {}..{}) overlap",
                a.name,
                a.offset,
                a.offset + a.bytes,
                b.name,
                b.offset,
                b.offset + b.bytes
            )));
        }
    }
    Ok(())
}
