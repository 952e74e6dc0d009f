//! Reading model files: GGUF, safetensors and Hugging Face `config.json`;
//! writing GGUF ([`gguf::writer`]) and files in general ([`atomic`]).
//!
//! [`ModelFile`] is the format-neutral entry point: it recognises the format,
//! lists metadata and tensors, and hands out tensors that share the file's
//! memory map. [`inspect_json`] and [`inspect_text`] describe a file for
//! `monologue inspect`.

pub mod atomic;
mod files;
pub mod gguf;
pub mod hf_config;
mod inspect;
mod metadata;
pub mod safetensors;
mod value;

pub use files::{checkpoint_folder, file_or_folder, read_text, regular_file, MAX_TEXT_FILE};
pub use gguf::GgufFile;
pub use hf_config::{HfConfig, HfRopeScaling};
pub use inspect::{inspect_json, inspect_text};
pub use metadata::Metadata;
pub use safetensors::SafetensorsFile;
pub use value::{Array, Value, ValueType};

use crate::error::{Error, Result};
use crate::tensor::{AlignedBuf, DType, GgmlType, Shape, Storage, Tensor};
use std::fmt::Display;
use std::path::Path;

/// Where one tensor lives in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// The stored type, which the engine may or may not compute with.
    pub ggml_type: GgmlType,
    /// Row-major, outermost dimension first.
    pub shape: Shape,
    /// Absolute byte offset in the file (for a sharded checkpoint, in the
    /// shard that holds the tensor).
    pub offset: usize,
    pub bytes: usize,
}

impl TensorInfo {
    /// The engine's type for this tensor, or an error naming the tensor
    /// and a type the engine has no kernels for.
    pub fn dtype(&self) -> Result<DType> {
        self.ggml_type.dtype().ok_or_else(|| {
            let known: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
            Error::Invalid(format!(
                "tensor `{}` is stored as {}, a type Monologue cannot compute with (it reads {})",
                crate::error::printable(&self.name),
                self.ggml_type,
                known.join(", ")
            ))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gguf,
    Safetensors,
}

impl Format {
    pub const fn name(self) -> &'static str {
        match self {
            Format::Gguf => "gguf",
            Format::Safetensors => "safetensors",
        }
    }
}

/// A model file of any supported format.
#[derive(Debug)]
pub enum ModelFile {
    Gguf(GgufFile),
    Safetensors(SafetensorsFile),
}

impl ModelFile {
    /// Open a `.gguf` file, a `.safetensors` file, a sharded checkpoint's
    /// `model.safetensors.index.json`, or a directory holding one of those.
    /// Files are recognised by their first bytes, not their names.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        file_or_folder(path)?;
        if path.is_dir() || path.extension().is_some_and(|e| e == "json") {
            return SafetensorsFile::open(path).map(ModelFile::Safetensors);
        }
        let storage = load_file(path)?;
        ModelFile::from_storage(storage, path.display())
    }

    /// Recognise and parse a whole file already in memory.
    pub fn from_bytes(bytes: &[u8], name: impl Display) -> Result<Self> {
        ModelFile::from_storage(storage_from_bytes(bytes), name)
    }

    pub fn from_storage(storage: Storage, name: impl Display) -> Result<Self> {
        let bytes = storage.as_bytes();
        if bytes.starts_with(b"GGUF") {
            GgufFile::from_storage(storage, name).map(ModelFile::Gguf)
        } else if safetensors::looks_like_safetensors(bytes) {
            SafetensorsFile::from_storage(storage, name).map(ModelFile::Safetensors)
        } else {
            let head = &bytes[..bytes.len().min(8)];
            Err(Error::file(
                name,
                format!(
                    "not a GGUF or safetensors file (it starts with {head:02x?}, {} bytes in all)",
                    bytes.len()
                ),
            ))
        }
    }

    pub fn format(&self) -> Format {
        match self {
            ModelFile::Gguf(_) => Format::Gguf,
            ModelFile::Safetensors(_) => Format::Safetensors,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            ModelFile::Gguf(f) => f.path(),
            ModelFile::Safetensors(f) => f.path(),
        }
    }

    pub fn metadata(&self) -> &Metadata {
        match self {
            ModelFile::Gguf(f) => f.metadata(),
            ModelFile::Safetensors(f) => f.metadata(),
        }
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        match self {
            ModelFile::Gguf(f) => f.tensors(),
            ModelFile::Safetensors(f) => f.tensors(),
        }
    }

    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        match self {
            ModelFile::Gguf(f) => f.tensor(name),
            ModelFile::Safetensors(f) => f.tensor(name),
        }
    }
}

/// A whole file as storage: memory-mapped with the `mmap` feature, read into
/// the heap without it (wasm32 has no mmap).
pub fn load_file(path: &Path) -> Result<Storage> {
    if path.is_dir() {
        return Err(Error::file(
            path.display(),
            "is a directory, expected a model file",
        ));
    }
    regular_file(path)?;
    #[cfg(feature = "mmap")]
    {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
        // SAFETY: the map is read-only. Another process truncating or
        // rewriting the file while it is mapped would be undefined
        // behaviour; like every mmap-based loader, we accept that contract.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path.display(), e))?;
        Ok(Storage::mapped(std::sync::Arc::new(map)))
    }
    #[cfg(not(feature = "mmap"))]
    {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
        Ok(storage_from_bytes(&bytes))
    }
}

pub(crate) fn storage_from_bytes(bytes: &[u8]) -> Storage {
    Storage::owned(AlignedBuf::from_bytes(bytes))
}

/// The alignment the kernels' loads need: f32 for F32, and f16 for the
/// half types and every quantized block (each starts with an f16 scale or
/// holds one at an even offset).
fn load_alignment(dtype: DType) -> usize {
    match dtype {
        DType::F32 => 4,
        _ => 2,
    }
}

/// A tensor over `info`'s bytes of `file`: a zero-copy window when those
/// bytes are aligned for the type, an aligned copy otherwise.
fn tensor_from(file: &Storage, info: &TensorInfo, path: &str) -> Result<Tensor> {
    let window = file
        .slice(info.offset..info.offset + info.bytes)
        .ok_or_else(|| {
            Error::file(
                path,
                format!("tensor `{}` reaches past the end of the file", info.name),
            )
        })?;
    let dtype = info.dtype().map_err(|e| Error::file(path, e.to_string()))?;
    let aligned = (window.as_bytes().as_ptr() as usize).is_multiple_of(load_alignment(dtype));
    let storage = if aligned {
        window
    } else {
        storage_from_bytes(window.as_bytes())
    };
    Tensor::from_storage(storage, dtype, info.shape.clone())
        .map_err(|e| Error::file(path, format!("tensor `{}`: {e}", info.name)))
}
