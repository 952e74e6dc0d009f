//! Opening a tokenizer from whatever file a person points at.

use super::{PreTokenizer, Tokenizer};
use crate::error::{Error, Result};
use std::path::Path;

impl Tokenizer {
    /// A GGUF model file (its embedded tokenizer), a `tokenizer.json`, or a
    /// folder holding `tokenizer.json` or GPT-2's `vocab.json` + `merges.txt`
    /// (`encoder.json` + `vocab.bpe` also work).
    pub fn open(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let path = path.as_ref();
        if path.is_dir() {
            let json = path.join("tokenizer.json");
            if json.is_file() {
                return Tokenizer::from_json_file(json);
            }
            for (vocab, merges) in [("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")] {
                let (v, m) = (path.join(vocab), path.join(merges));
                if v.is_file() && m.is_file() {
                    return Tokenizer::from_vocab_merges_files(
                        v,
                        m,
                        PreTokenizer::Gpt2,
                        &["<|endoftext|>"],
                    );
                }
            }
            return Err(Error::NotFound(format!(
                "{}: no tokenizer.json, vocab.json + merges.txt, or encoder.json + vocab.bpe in this folder",
                path.display()
            )));
        }
        let head = read_head(path)?;
        if head.starts_with(b"GGUF") {
            let file = crate::io::ModelFile::open(path)?;
            Tokenizer::from_gguf(file.metadata())
        } else {
            Tokenizer::from_json_file(path)
        }
    }
}

fn read_head(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(4);
    std::fs::File::open(path)
        .and_then(|f| f.take(4).read_to_end(&mut head))
        .map_err(|e| Error::io(path.display(), e))?;
    Ok(head)
}
