//! A minimal GGUF writer, for building test files byte by byte. It writes
//! exactly what it is told (including nonsense), and records the offset of
//! every section boundary so tests can truncate there.

use monologue::io::{Array, Value};
use monologue::DType;

/// Little-endian encoders for hand-crafting broken headers.
pub fn put_u32(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(&x.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, x: u64) {
    out.extend_from_slice(&x.to_le_bytes());
}

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
    for i in 0..array.len() {
        put_payload(out, &array.get(i).unwrap());
    }
}

pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    /// Outermost first, like `Shape`; written innermost first.
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// A GGUF file under construction.
pub struct GgufWriter {
    pub version: u32,
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
    pub fn new() -> Self {
        GgufWriter {
            version: 3,
            alignment: 32,
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

    pub fn tensor(mut self, name: &str, dtype: DType, shape: &[usize], data: Vec<u8>) -> Self {
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
            put_u32(&mut out, t.dtype.gguf_id());
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
}
