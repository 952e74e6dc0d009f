//! Opening a tokenizer from whatever file a person points at.

use super::Tokenizer;
use crate::error::{Error, Result};
use std::path::Path;

impl Tokenizer {
    /// A GGUF model file (its embedded tokenizer), a `tokenizer.json`, or a
    /// Hugging Face model folder (see [`Tokenizer::from_hf_dir`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let path = path.as_ref();
        if path.is_dir() {
            return Tokenizer::from_hf_dir(path);
        }
        let head = read_head(path)?;
        if head.starts_with(b"GGUF") {
            Tokenizer::from_gguf(&crate::io::GgufFile::read_metadata(path)?)
        } else {
            Tokenizer::from_json_file(path)
        }
    }
}

fn read_head(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(4);
    crate::io::regular_file(path)?;
    std::fs::File::open(path)
        .and_then(|f| f.take(4).read_to_end(&mut head))
        .map_err(|e| Error::io(path.display(), e))?;
    Ok(head)
}
