//! Parsing the GGUF header: magic, version, counts, metadata and tensor
//! infos. Nothing here trusts a number from the file: every count or length
//! is compared with the bytes that remain *before* anything is allocated,
//! and every read is bounds-checked, so a hostile file yields a `Fault`.

use crate::io::value::{Array, Value, ValueType};

/// Arrays of arrays deeper than this are refused. The format sets no limit,
/// but no real file nests at all, and recursion must stop somewhere.
pub const MAX_ARRAY_DEPTH: usize = 8;

/// GGML's limit on tensor rank.
pub const MAX_DIMS: u32 = 4;

/// The smallest possible tensor info: empty name (u64 length), u32 rank,
/// u32 type, u64 offset.
const MIN_TENSOR_INFO: usize = 8 + 4 + 4 + 8;

/// The smallest possible metadata entry: empty key, u32 type, one byte.
const MIN_KV: usize = 8 + 4 + 1;

/// A parse failure, described in words; the caller adds the file's name.
#[derive(Debug)]
pub struct Fault(pub String);

impl Fault {
    /// Prefix the message with where we were, e.g. "tensor info #3".
    pub fn context(self, what: impl std::fmt::Display) -> Fault {
        Fault(format!("{what}: {}", self.0))
    }
}

type Parse<T> = Result<T, Fault>;

/// What the header declares, not yet checked against the file's size.
pub struct RawHeader {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<RawTensorInfo>,
    /// Byte offset just past the last tensor info.
    pub end: usize,
}

pub struct RawTensorInfo {
    pub name: String,
    /// Innermost dimension first, as GGUF stores them.
    pub dims: Vec<u64>,
    pub type_id: u32,
    /// Relative to the start of the data section.
    pub offset: u64,
}

/// A read position in the file's bytes.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Parse<&'a [u8]> {
        if n > self.remaining() {
            return Err(Fault(format!(
                "file ends at byte {} but {what} at byte {} needs {n} bytes",
                self.bytes.len(),
                self.pos
            )));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Parse<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Parse<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Parse<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Refuse `count` items of at least `min_len` bytes each unless the
    /// remaining bytes could hold them. Called before every allocation.
    fn check_count(&self, count: u64, min_len: usize, what: &str) -> Parse<usize> {
        let fits = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(min_len).map(|bytes| (n, bytes)))
            .filter(|&(_, bytes)| bytes <= self.remaining());
        match fits {
            Some((n, _)) => Ok(n),
            None => Err(Fault(format!(
                "{what} claims {count} items at byte {}, but only {} bytes remain \
                 (each needs at least {min_len})",
                self.pos,
                self.remaining()
            ))),
        }
    }

    fn raw_string(&mut self, what: &str) -> Parse<&'a [u8]> {
        let at = self.pos;
        let len = self.u64(what)?;
        match usize::try_from(len) {
            Ok(n) if n <= self.remaining() => self.take(n, what),
            _ => Err(Fault(format!(
                "{what} at byte {at} claims {len} bytes, but only {} remain",
                self.remaining()
            ))),
        }
    }

    /// Keys and tensor names must be valid UTF-8: they are looked up by name.
    fn name(&mut self, what: &str) -> Parse<String> {
        let at = self.pos;
        let bytes = self.raw_string(what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Fault(format!("{what} at byte {at} is not valid UTF-8")))
    }

    /// String values are decoded leniently: some tokenizers store raw-byte
    /// tokens, and replacing invalid sequences keeps the rest of the file
    /// usable.
    fn text(&mut self, what: &str) -> Parse<String> {
        Ok(String::from_utf8_lossy(self.raw_string(what)?).into_owned())
    }

    fn value_type(&mut self, what: &str) -> Parse<ValueType> {
        let at = self.pos;
        let id = self.u32(what)?;
        ValueType::from_gguf_id(id)
            .ok_or_else(|| Fault(format!("unknown value type {id} at byte {at}")))
    }

    fn value(&mut self, ty: ValueType) -> Parse<Value> {
        let at = self.pos;
        Ok(match ty {
            ValueType::U8 => Value::U8(self.array::<1>("the value")?[0]),
            ValueType::I8 => Value::I8(i8::from_le_bytes(self.array("the value")?)),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array("the value")?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array("the value")?)),
            ValueType::U32 => Value::U32(self.u32("the value")?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array("the value")?)),
            ValueType::U64 => Value::U64(self.u64("the value")?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array("the value")?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array("the value")?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array("the value")?)),
            ValueType::Bool => Value::Bool(bool_byte(self.array::<1>("the value")?[0], at)?),
            ValueType::String => Value::String(self.text("the string")?),
            ValueType::Array => Value::Array(self.array_value(0)?),
        })
    }

    /// An array: u32 element type, u64 count, then the elements.
    fn array_value(&mut self, depth: usize) -> Parse<Array> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(Fault(format!(
                "arrays nested more than {MAX_ARRAY_DEPTH} deep at byte {}",
                self.pos
            )));
        }
        let elem = self.value_type("the array's element type")?;
        let count = self.u64("the array's length")?;
        let n = self.check_count(count, elem.min_encoded_len(), "the array")?;
        // Fixed-width elements: one bounds check, then decode the slice.
        macro_rules! numbers {
            ($variant:ident, $t:ty) => {{
                let bytes = self.take(n * std::mem::size_of::<$t>(), "the array")?;
                Array::$variant(
                    bytes
                        .chunks_exact(std::mem::size_of::<$t>())
                        .map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or_default()))
                        .collect(),
                )
            }};
        }
        let at = self.pos;
        Ok(match elem {
            ValueType::U8 => numbers!(U8, u8),
            ValueType::I8 => numbers!(I8, i8),
            ValueType::U16 => numbers!(U16, u16),
            ValueType::I16 => numbers!(I16, i16),
            ValueType::U32 => numbers!(U32, u32),
            ValueType::I32 => numbers!(I32, i32),
            ValueType::U64 => numbers!(U64, u64),
            ValueType::I64 => numbers!(I64, i64),
            ValueType::F32 => numbers!(F32, f32),
            ValueType::F64 => numbers!(F64, f64),
            ValueType::Bool => Array::Bool(
                self.take(n, "the array")?
                    .iter()
                    .enumerate()
                    .map(|(i, &byte)| bool_byte(byte, at + i))
                    .collect::<Parse<_>>()?,
            ),
            ValueType::String => Array::String(
                (0..n)
                    .map(|i| {
                        self.text("the string")
                            .map_err(|f| f.context(format!("item {i}")))
                    })
                    .collect::<Parse<_>>()?,
            ),
            ValueType::Array => Array::Array(
                (0..n)
                    .map(|i| {
                        self.array_value(depth + 1)
                            .map_err(|f| f.context(format!("item {i}")))
                    })
                    .collect::<Parse<_>>()?,
            ),
        })
    }
}

fn bool_byte(byte: u8, at: usize) -> Parse<bool> {
    match byte {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Fault(format!(
            "bool at byte {at} is {byte}, which is neither 0 nor 1"
        ))),
    }
}

/// Parse everything up to the end of the tensor infos.
pub fn parse_header(bytes: &[u8]) -> Parse<RawHeader> {
    let mut c = Cursor::new(bytes);
    let magic = c.take(4, "the magic number")?;
    if magic != b"GGUF" {
        return Err(Fault(format!(
            "not a GGUF file: it starts with {magic:02x?}, expected \"GGUF\""
        )));
    }
    let version = c.u32("the version")?;
    match version {
        2 | 3 => {}
        1 => {
            return Err(Fault(
                "GGUF version 1 is not supported (only 2 and 3)".into(),
            ))
        }
        // A byte-swapped 2 or 3 is a big-endian file.
        0x0200_0000 | 0x0300_0000 => {
            return Err(Fault("big-endian GGUF files are not supported".into()))
        }
        v => {
            return Err(Fault(format!(
                "unknown GGUF version {v} (only 2 and 3 are supported)"
            )))
        }
    }
    let tensor_count = c.u64("the tensor count")?;
    let kv_count = c.u64("the metadata count")?;
    // Both counts are checked before either list is read, so that an absurd
    // tensor count fails at once instead of after megabytes of metadata.
    let n_tensors = c.check_count(tensor_count, MIN_TENSOR_INFO, "the tensor count")?;
    let n_kv = c.check_count(kv_count, MIN_KV, "the metadata count")?;

    let mut metadata = Vec::with_capacity(n_kv);
    for i in 0..n_kv {
        let key = c
            .name("the key")
            .map_err(|f| f.context(format!("metadata entry #{i}")))?;
        let value = c
            .value_type("the value type")
            .and_then(|ty| c.value(ty))
            .map_err(|f| f.context(format!("metadata `{key}`")))?;
        metadata.push((key, value));
    }

    let mut tensors = Vec::with_capacity(n_tensors);
    for i in 0..n_tensors {
        let info = tensor_info(&mut c).map_err(|f| f.context(format!("tensor info #{i}")))?;
        tensors.push(info);
    }
    Ok(RawHeader {
        version,
        metadata,
        tensors,
        end: c.pos,
    })
}

fn tensor_info(c: &mut Cursor) -> Parse<RawTensorInfo> {
    let name = c.name("the tensor name")?;
    let named = |f: Fault| f.context(format!("`{name}`"));
    let rank = c.u32("the rank").map_err(named)?;
    if rank > MAX_DIMS {
        return Err(named(Fault(format!(
            "has {rank} dimensions; GGUF allows at most {MAX_DIMS}"
        ))));
    }
    let dims = (0..rank)
        .map(|_| c.u64("a dimension"))
        .collect::<Parse<Vec<_>>>()
        .map_err(named)?;
    let type_id = c.u32("the type").map_err(named)?;
    let offset = c.u64("the data offset").map_err(named)?;
    Ok(RawTensorInfo {
        name,
        dims,
        type_id,
        offset,
    })
}
