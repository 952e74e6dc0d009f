//! Writing GGUF files: the header, metadata of every value type, tensor
//! infos and the data section, each tensor padded to the alignment.
//!
//! [`GgufWriter::build`] lays out exactly what it is told, nonsense
//! included (tests build broken files with it), and records where each
//! section ends. [`GgufWriter::write`] first [checks](GgufWriter::check)
//! that the file will read back, then writes it atomically.

use super::reader::MAX_DIMS;
use crate::error::{Error, Result};
use crate::io::{Array, Value};
use crate::tensor::{DType, GgmlType};
use std::collections::HashSet;
use std::path::Path;

/// Little-endian encoders (public for hand-crafting broken headers).
pub fn put_u32(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(&x.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, x: u64) {
    out.extend_from_slice(&x.to_le_bytes());
}

/// A GGUF string: u64 byte length, then the UTF-8 bytes.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Magic, version and the two counts.
pub fn header(version: u32, n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    put_u32(&mut out, version);
    put_u64(&mut out, n_tensors);
    put_u64(&mut out, n_kv);
    out
}

/// A metadata value: its type id, then its payload.
pub fn put_value(out: &mut Vec<u8>, value: &Value) {
    put_u32(out, value.value_type().gguf_id());
    put_payload(out, value);
}

fn put_payload(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_str(out, s),
        Value::Array(a) => put_array(out, a),
    }
}

/// Element type, count, then each element's payload (untagged).
pub fn put_array(out: &mut Vec<u8>, array: &Array) {
    put_u32(out, array.elem_type().gguf_id());
    put_u64(out, array.len() as u64);
    match array {
        // The common large arrays (a vocabulary, its merges) without a
        // copy of each element.
        Array::String(v) => v.iter().for_each(|s| put_str(out, s)),
        Array::Array(v) => v.iter().for_each(|a| put_array(out, a)),
        _ => (0..array.len())
            .filter_map(|i| array.get(i))
            .for_each(|x| put_payload(out, &x)),
    }
}

/// One tensor: its name, type, shape and encoded bytes.
pub struct TensorSpec {
    pub name: String,
    /// Any ggml type: files with types the engine cannot compute with can
    /// be written too (for tests of readers).
    pub dtype: GgmlType,
    /// Outermost first, like `Shape`; written innermost first.
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// A GGUF file under construction.
pub struct GgufWriter {
    pub version: u32,
    /// Padding of the data section and of each tensor. Set it with
    /// [`alignment`](Self::alignment), which also records it in the
    /// metadata; a reader assumes 32 otherwise.
    pub alignment: usize,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorSpec>,
}

/// The bytes, and where each section ends.
pub struct Written {
    pub bytes: Vec<u8>,
    /// After the fixed header, after each metadata entry, after each tensor
    /// info, at the data section, and after each tensor's data.
    pub boundaries: Vec<usize>,
    pub data_offset: usize,
}

impl Default for GgufWriter {
    fn default() -> Self {
        GgufWriter::new()
    }
}

impl GgufWriter {
    /// Version 3, alignment 32 (GGUF's default), nothing else.
    pub fn new() -> Self {
        GgufWriter {
            version: 3,
            alignment: super::DEFAULT_ALIGNMENT,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    pub fn kv(mut self, key: &str, value: Value) -> Self {
        self.metadata.push((key.to_string(), value));
        self
    }

    /// Set `general.alignment` and pad to it.
    pub fn alignment(mut self, alignment: u32) -> Self {
        self.alignment = alignment as usize;
        self.kv("general.alignment", Value::U32(alignment))
    }

    pub fn tensor(self, name: &str, dtype: DType, shape: &[usize], data: Vec<u8>) -> Self {
        self.tensor_of_type(name, GgmlType::from_dtype(dtype), shape, data)
    }

    /// A tensor of any ggml type, its bytes as given.
    pub fn tensor_of_type(
        mut self,
        name: &str,
        dtype: GgmlType,
        shape: &[usize],
        data: Vec<u8>,
    ) -> Self {
        self.tensors.push(TensorSpec {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            data,
        });
        self
    }

    pub fn f32_tensor(self, name: &str, shape: &[usize], values: &[f32]) -> Self {
        let data = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.tensor(name, DType::F32, shape, data)
    }

    /// Lay the tensors out one after another, each padded to the alignment.
    pub fn build(&self) -> Written {
        // An alignment of 0 is written as told; pad as if it were 1.
        let align = self.alignment.max(1);
        let mut out = header(
            self.version,
            self.tensors.len() as u64,
            self.metadata.len() as u64,
        );
        let mut boundaries = vec![out.len()];
        for (key, value) in &self.metadata {
            put_str(&mut out, key);
            put_value(&mut out, value);
            boundaries.push(out.len());
        }
        let mut offset = 0usize;
        for t in &self.tensors {
            put_str(&mut out, &t.name);
            put_u32(&mut out, t.shape.len() as u32);
            for &d in t.shape.iter().rev() {
                put_u64(&mut out, d as u64);
            }
            put_u32(&mut out, t.dtype.id());
            put_u64(&mut out, offset as u64);
            offset = (offset + t.data.len()).next_multiple_of(align);
            boundaries.push(out.len());
        }
        let data_offset = out.len().next_multiple_of(align);
        out.resize(data_offset, 0);
        boundaries.push(data_offset);
        for t in &self.tensors {
            out.resize(out.len().next_multiple_of(align), 0);
            out.extend_from_slice(&t.data);
            boundaries.push(out.len());
        }
        Written {
            bytes: out,
            boundaries,
            data_offset,
        }
    }

    /// Whether the file would read back as meant: version 2 or 3, a
    /// power-of-two alignment that agrees with `general.alignment`, unique
    /// keys and tensor names, at most four dimensions, and each tensor's
    /// bytes exactly what its type and shape need.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Invalid(format!("GGUF writer: {what}")));
        if !(2..=3).contains(&self.version) {
            return bad(format!("version {} (2 and 3 exist)", self.version));
        }
        if !self.alignment.is_power_of_two() {
            return bad(format!(
                "alignment {} is not a power of two",
                self.alignment
            ));
        }
        let mut keys = HashSet::new();
        for (key, value) in &self.metadata {
            if !keys.insert(key.as_str()) {
                return bad(format!("metadata key `{key}` appears twice"));
            }
            if key == "general.alignment" && *value != Value::U32(self.alignment as u32) {
                return bad(format!(
                    "general.alignment is {value:?} but the file is padded to {}",
                    self.alignment
                ));
            }
        }
        if self.alignment != super::DEFAULT_ALIGNMENT && !keys.contains("general.alignment") {
            return bad(format!(
                "padding to {} needs general.alignment (readers assume {})",
                self.alignment,
                super::DEFAULT_ALIGNMENT
            ));
        }
        let mut names = HashSet::new();
        for t in &self.tensors {
            if !names.insert(t.name.as_str()) {
                return bad(format!("tensor `{}` appears twice", t.name));
            }
            if t.shape.is_empty() || t.shape.len() > MAX_DIMS as usize {
                return bad(format!(
                    "tensor `{}` has {} dimensions (1 to {MAX_DIMS})",
                    t.name,
                    t.shape.len()
                ));
            }
            let innermost = t.shape.last().copied().unwrap_or(0);
            let need = t
                .shape
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .filter(|_| innermost.is_multiple_of(t.dtype.block_len()))
                .and_then(|n| t.dtype.bytes_for(n));
            if need != Some(t.data.len()) {
                return bad(format!(
                    "tensor `{}` ({} {:?}) has {} bytes of data, it needs {}",
                    t.name,
                    t.dtype,
                    t.shape,
                    t.data.len(),
                    need.map_or("a whole number of blocks".into(), |n| n.to_string())
                ));
            }
        }
        Ok(())
    }

    /// Checks the file, then writes it to `path` atomically (beside it,
    /// synced, renamed into place).
    pub fn write(&self, path: &Path) -> Result<()> {
        self.check()?;
        crate::io::atomic::write_atomic(path, &self.build().bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::GgufFile;

    fn small() -> GgufWriter {
        GgufWriter::new()
            .alignment(64)
            .kv("general.architecture", Value::String("gpt2".into()))
            .kv("t.tokens", Value::Array(Array::String(vec!["a".into()])))
            .f32_tensor("w", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
            .f32_tensor("b", &[3], &[7.0, 8.0, 9.0])
    }

    #[test]
    fn a_written_file_reads_back() {
        let dir = std::env::temp_dir().join(format!("gguf-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("small.gguf");
        small().write(&path).unwrap();
        let file = GgufFile::open(&path).unwrap();
        assert_eq!((file.version(), file.alignment()), (3, 64));
        assert_eq!(
            file.metadata().get_str("general.architecture").unwrap(),
            "gpt2"
        );
        let w = file.tensor("w").unwrap();
        assert_eq!(w.dims(), [2, 3]);
        assert_eq!(w.to_f32_vec().unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(
            file.tensor("b").unwrap().to_f32_vec().unwrap(),
            [7.0, 8.0, 9.0]
        );
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["small.gguf"], "the partial file was left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn check_refuses_files_that_would_not_read_back() {
        let err = |w: GgufWriter| w.check().unwrap_err().to_string();
        let mut short = small();
        short.tensors[1].data.pop();
        assert!(err(short).contains("has 11 bytes of data, it needs 12"));
        assert!(err(small().f32_tensor("w", &[1], &[0.0])).contains("appears twice"));
        assert!(err(small().kv("general.architecture", Value::U8(0))).contains("appears twice"));
        let mut misaligned = small();
        misaligned.alignment = 48;
        assert!(err(misaligned).contains("not a power of two"));
        let mut unsaid = GgufWriter::new();
        unsaid.alignment = 64;
        assert!(err(unsaid).contains("needs general.alignment"));
        let mut version = small();
        version.version = 4;
        assert!(err(version).contains("version 4"));
        assert!(err(small().f32_tensor("scalar", &[], &[])).contains("0 dimensions"));
    }
}
