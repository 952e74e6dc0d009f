//! Opening what a person names as a file, safely: a FIFO or a device
//! would block a read forever or never end, so only regular files (and
//! folders, where a folder is meant) are opened; and text files (configs,
//! tokenizers, templates) are read only up to a size no real one reaches.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest text file read whole: four times the largest
/// `tokenizer.json` we know of (Gemma 3's, 33 MB).
pub const MAX_TEXT_FILE: u64 = 128 << 20;

/// Refuses anything at `path` that is not a regular file (a FIFO, a device,
/// a socket, a folder), before it is opened: opening a FIFO for reading
/// waits for a writer.
pub fn regular_file(path: &Path) -> Result<std::fs::Metadata> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display(), e))?;
    if meta.is_file() {
        return Ok(meta);
    }
    let what = if meta.is_dir() {
        "a folder"
    } else {
        "not a regular file (a FIFO, device or socket)"
    };
    Err(Error::file(
        path.display(),
        format!("is {what}, expected a file"),
    ))
}

/// Refuses anything at `path` that is neither a regular file nor a folder.
pub fn file_or_folder(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display(), e))?;
    if meta.is_file() || meta.is_dir() {
        return Ok(());
    }
    Err(Error::file(
        path.display(),
        "is not a regular file or folder (a FIFO, device or socket)",
    ))
}

/// The UTF-8 text of a regular file of at most [`MAX_TEXT_FILE`] bytes.
pub fn read_text(path: &Path) -> Result<String> {
    let meta = regular_file(path)?;
    if meta.len() > MAX_TEXT_FILE {
        return Err(Error::file(
            path.display(),
            format!(
                "is {} bytes, more than the {MAX_TEXT_FILE} bytes a text file may have",
                meta.len()
            ),
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
    // `take`: the file may have grown since its size was read.
    let mut text = String::new();
    file.take(MAX_TEXT_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path.display(), e))?;
    if text.len() as u64 > MAX_TEXT_FILE {
        return Err(Error::file(
            path.display(),
            "grew past the size limit while it was read",
        ));
    }
    Ok(text)
}

/// The checkpoint `path` stands for: a run's folder resolves to its newest
/// checkpoint, and a checkpoint folder holding a GGUF model (a fine-tune
/// of a GGUF file) to that file; anything else is returned as it is.
pub fn checkpoint_folder(path: &Path) -> Result<PathBuf> {
    let latest = path.join("latest");
    if !path.is_dir() || !latest.is_file() {
        return Ok(gguf_inside(path));
    }
    let name = read_text(&latest)?;
    let name = name.trim();
    let valid = name.starts_with("step-") && !name.contains(['/', '\\']);
    let target = path.join(name);
    if !valid || !target.is_dir() {
        return Err(Error::Invalid(format!(
            "{}: `latest` names {name:?}, which is not a checkpoint here",
            path.display()
        )));
    }
    Ok(gguf_inside(&target))
}

/// A folder's `model.gguf` where the folder is no Hugging Face checkpoint.
fn gguf_inside(path: &Path) -> PathBuf {
    let gguf = path.join("model.gguf");
    match path.is_dir() && gguf.is_file() && !path.join("config.json").exists() {
        true => gguf,
        false => path.to_path_buf(),
    }
}
