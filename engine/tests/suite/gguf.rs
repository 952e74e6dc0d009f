//! GGUF reader on small files built by the test writer: every value type
//! round-trips, tensors come back zero-copy with the right shapes, and
//! hostile files are refused with a precise message.

use crate::common;

use common::gguf_writer::{header, put_str, put_u32, put_u64, put_value, GgufWriter};
use monologue::io::{Array, GgufFile, Value};
use monologue::tensor::StorageKind;
use monologue::DType;
use proptest::prelude::*;

fn parse(bytes: &[u8]) -> monologue::Result<GgufFile> {
    GgufFile::from_bytes(bytes, "test.gguf")
}

fn error_of(bytes: &[u8]) -> String {
    match parse(bytes) {
        Ok(_) => panic!("a broken file was accepted"),
        Err(e) => e.to_string(),
    }
}

fn every_value_type() -> Vec<(&'static str, Value)> {
    vec![
        ("u8", Value::U8(200)),
        ("i8", Value::I8(-100)),
        ("u16", Value::U16(60_000)),
        ("i16", Value::I16(-30_000)),
        ("u32", Value::U32(4_000_000_000)),
        ("i32", Value::I32(-2_000_000_000)),
        ("u64", Value::U64(u64::MAX)),
        ("i64", Value::I64(i64::MIN)),
        ("f32", Value::F32(1e-5)),
        ("f64", Value::F64(-2.5e300)),
        ("bool", Value::Bool(true)),
        ("string", Value::String("héllo <|im_start|>".into())),
        ("empty_string", Value::String(String::new())),
        ("a_u8", Value::Array(Array::U8(vec![1, 2, 255]))),
        ("a_i8", Value::Array(Array::I8(vec![-1, 0, 1]))),
        ("a_u16", Value::Array(Array::U16(vec![7, 65535]))),
        ("a_i16", Value::Array(Array::I16(vec![-7]))),
        ("a_u32", Value::Array(Array::U32(vec![1, 2, 3]))),
        ("a_i32", Value::Array(Array::I32(vec![-1, 1, 3, 6]))),
        ("a_u64", Value::Array(Array::U64(vec![u64::MAX]))),
        ("a_i64", Value::Array(Array::I64(vec![i64::MAX, -1]))),
        ("a_f32", Value::Array(Array::F32(vec![0.0, -0.5, 1e30]))),
        ("a_f64", Value::Array(Array::F64(vec![1.0 / 3.0]))),
        ("a_bool", Value::Array(Array::Bool(vec![true, false]))),
        ("a_empty", Value::Array(Array::F32(vec![]))),
        (
            "a_string",
            Value::Array(Array::String(vec![
                "<|endoftext|>".into(),
                "".into(),
                "Ġthe".into(),
            ])),
        ),
        (
            "a_nested",
            Value::Array(Array::Array(vec![
                Array::U8(vec![1]),
                Array::String(vec!["x".into()]),
                Array::Array(vec![Array::I64(vec![-5])]),
            ])),
        ),
    ]
}

#[test]
fn every_value_type_round_trips() {
    for version in [2, 3] {
        let mut w = GgufWriter::new();
        w.version = version;
        for (k, v) in every_value_type() {
            w = w.kv(k, v);
        }
        let file = parse(&w.build().bytes).unwrap();
        assert_eq!(file.version(), version);
        let got: Vec<(&str, Value)> = file
            .metadata()
            .iter()
            .map(|(k, v)| (k, v.clone()))
            .collect();
        assert_eq!(got, every_value_type(), "values and their order survive");
        let m = file.metadata();
        assert_eq!(m.get_u64("u8").unwrap(), 200);
        assert_eq!(m.get_i32("i16").unwrap(), -30_000);
        assert_eq!(m.get_u32("u32").unwrap(), 4_000_000_000);
        assert!(m
            .get_i32("u32")
            .unwrap_err()
            .to_string()
            .contains("does not fit in i32"));
        assert_eq!(m.get_f32("f32").unwrap(), 1e-5);
        assert!(m.get_bool("bool").unwrap());
        assert_eq!(m.get_str("string").unwrap(), "héllo <|im_start|>");
        assert_eq!(m.get_str_array("a_string").unwrap()[2], "Ġthe");
        assert_eq!(m.get_i32_array("a_i32").unwrap(), [-1, 1, 3, 6]);
        assert_eq!(m.get_f32_array("a_f32").unwrap()[1], -0.5);
    }
}

fn two_tensor_file() -> GgufWriter {
    let q8: Vec<u8> = (0..2 * 34).map(|i| i as u8).collect(); // 2 rows of one Q8_0 block
    GgufWriter::new()
        .kv("general.architecture", Value::String("test".into()))
        .f32_tensor("norm", &[2, 3], &[1., 2., 3., 4., 5., 6.])
        .tensor("embd", DType::Q8_0, &[2, 32], q8)
}

#[test]
fn tensors_are_zero_copy_windows_with_outermost_first_shapes() {
    let written = two_tensor_file().build();
    let path = common::scratch("two.gguf");
    std::fs::write(&path, &written.bytes).unwrap();
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.data_offset(), written.data_offset);
    let infos = file.tensors();
    assert_eq!(infos.len(), 2);
    assert_eq!(infos[0].shape.dims(), [2, 3]);
    assert_eq!(infos[0].offset, written.data_offset);
    assert_eq!(infos[0].bytes, 24);
    assert_eq!(infos[1].dtype().unwrap(), DType::Q8_0);
    assert_eq!(infos[1].offset, written.data_offset + 32, "aligned to 32");

    let norm = file.tensor("norm").unwrap();
    assert_eq!(norm.storage().kind(), StorageKind::Mapped);
    assert_eq!(norm.as_f32().unwrap(), [1., 2., 3., 4., 5., 6.]);
    let embd = file.tensor("embd").unwrap();
    assert_eq!(embd.dims(), [2, 32]);
    assert_eq!(embd.as_bytes().unwrap()[67], 67);
    let missing = file.tensor("nope").unwrap_err().to_string();
    assert!(missing.contains("no tensor named `nope`"), "{missing}");
    std::fs::remove_file(path).ok();
}

#[test]
fn custom_alignment_is_honoured() {
    let written = two_tensor_file().alignment(64).build();
    let file = parse(&written.bytes).unwrap();
    assert_eq!(file.alignment(), 64);
    assert_eq!(file.data_offset() % 64, 0);
    assert_eq!(file.tensors()[1].offset, file.data_offset() + 64);
    assert_eq!(file.tensor("norm").unwrap().as_f32().unwrap()[5], 6.);
}

#[test]
fn truncation_anywhere_is_an_error() {
    let written = two_tensor_file().build();
    let bytes = &written.bytes;
    for cut in 0..bytes.len() {
        let e = error_of(&bytes[..cut]);
        assert!(e.starts_with("test.gguf: "), "{e}");
    }
    // At a boundary the message says what was being read, and where.
    let after_first_info = written.boundaries[2];
    let e = error_of(&bytes[..after_first_info]);
    assert!(e.contains("tensor info #1"), "{e}");
    assert!(
        e.contains(&format!("file ends at byte {after_first_info}")),
        "{e}"
    );
    let e = error_of(&bytes[..written.data_offset + 10]);
    assert!(
        e.contains("`norm`") && e.contains("past the end of the file"),
        "{e}"
    );
}

/// A header, then one metadata entry whose value bytes are `value`.
fn with_kv(key: &str, value: &[u8]) -> Vec<u8> {
    let mut out = header(3, 0, 1);
    put_str(&mut out, key);
    out.extend_from_slice(value);
    out
}

#[test]
fn absurd_counts_and_lengths_are_refused_before_allocating() {
    let e = error_of(&header(3, 1_000_000_000_000, 0));
    assert!(e.contains("tensor count claims 1000000000000 items"), "{e}");
    let e = error_of(&header(3, 0, u64::MAX));
    assert!(
        e.contains("metadata count claims 18446744073709551615"),
        "{e}"
    );

    let mut string = Vec::new();
    put_u32(&mut string, 8);
    put_u64(&mut string, 1_000_000_000_000_000);
    let e = error_of(&with_kv("k", &string));
    assert!(
        e.contains("metadata `k`") && e.contains("claims 1000000000000000 bytes"),
        "{e}"
    );

    let mut array = Vec::new();
    put_u32(&mut array, 9);
    put_u32(&mut array, 6); // f32
    put_u64(&mut array, 1 << 60);
    let e = error_of(&with_kv("k", &array));
    assert!(e.contains("array claims 1152921504606846976 items"), "{e}");

    // Each level of nesting costs 12 bytes; a million levels fit in 12 MB.
    let mut bomb = Vec::new();
    put_u32(&mut bomb, 9);
    for _ in 0..1_000_000 {
        put_u32(&mut bomb, 9);
        put_u64(&mut bomb, 1);
    }
    let e = error_of(&with_kv("bomb", &bomb));
    assert!(e.contains("nested more than 8 deep"), "{e}");

    let mut key = header(3, 0, 1);
    put_u64(&mut key, u64::MAX);
    key.extend_from_slice(&[0; 16]);
    let e = error_of(&key);
    assert!(
        e.contains("metadata entry #0") && e.contains("claims 18446744073709551615 bytes"),
        "{e}"
    );
}

#[test]
fn malformed_headers_are_named_precisely() {
    let e = error_of(b"GGUX\x03\0\0\0");
    assert!(e.contains("not a GGUF file"), "{e}");
    let e = error_of(&header(1, 0, 0));
    assert!(e.contains("version 1 is not supported"), "{e}");
    let e = error_of(&header(0x0300_0000, 0, 0));
    assert!(e.contains("big-endian"), "{e}");
    let e = error_of(&header(7, 0, 0));
    assert!(e.contains("unknown GGUF version 7"), "{e}");

    let mut bad_type = Vec::new();
    put_u32(&mut bad_type, 13);
    let e = error_of(&with_kv("k", &bad_type));
    assert!(e.contains("unknown value type 13"), "{e}");

    let mut bad_bool = Vec::new();
    put_u32(&mut bad_bool, 7);
    bad_bool.push(2);
    let e = error_of(&with_kv("flag", &bad_bool));
    assert!(e.contains("`flag`") && e.contains("neither 0 nor 1"), "{e}");

    let mut bad_key = header(3, 0, 1);
    put_u64(&mut bad_key, 2);
    bad_key.extend_from_slice(&[0xff, 0xfe]);
    put_value(&mut bad_key, &Value::U8(1));
    let e = error_of(&bad_key);
    assert!(e.contains("not valid UTF-8"), "{e}");

    let dup = GgufWriter::new()
        .kv("a", Value::U8(1))
        .kv("a", Value::U8(2))
        .build();
    assert!(error_of(&dup.bytes).contains("`a` appears twice"));

    for bad in [0u32, 48] {
        let e = error_of(&two_tensor_file().alignment(bad).build().bytes);
        assert!(
            e.contains("general.alignment") && e.contains("not a power of two"),
            "{e}"
        );
    }
    let e = error_of(
        &GgufWriter::new()
            .kv("general.alignment", Value::String("32".into()))
            .build()
            .bytes,
    );
    assert!(e.contains("is a string, expected an integer"), "{e}");
}

/// One tensor info with the given fields, and `data_len` bytes of data.
fn one_tensor(name: &str, dims: &[u64], type_id: u32, offset: u64, data_len: usize) -> Vec<u8> {
    let mut out = header(3, 1, 0);
    put_str(&mut out, name);
    put_u32(&mut out, dims.len() as u32);
    for &d in dims {
        put_u64(&mut out, d);
    }
    put_u32(&mut out, type_id);
    put_u64(&mut out, offset);
    out.resize(out.len().next_multiple_of(32) + data_len, 0);
    out
}

#[test]
fn bad_tensor_infos_are_named_precisely() {
    assert!(parse(&one_tensor("w", &[4, 2], 0, 0, 32)).is_ok());
    for id in [4, 99] {
        let e = error_of(&one_tensor("w", &[32], id, 0, 64));
        assert!(
            e.contains(&format!(
                "tensor `w` has type id {id}, which is not a ggml type"
            )),
            "{e}"
        );
    }
    let e = error_of(&one_tensor("w", &[1, 1, 1, 1, 1], 0, 0, 4));
    assert!(e.contains("`w`: has 5 dimensions"), "{e}");
    let e = error_of(&one_tensor("w", &[33, 1], 3, 0, 64));
    assert!(e.contains("not a multiple of the block length 32"), "{e}");
    let e = error_of(&one_tensor("w", &[1 << 40, 1 << 40], 0, 0, 4));
    assert!(e.contains("too large"), "{e}");
    let e = error_of(&one_tensor("w", &[4], 0, 8, 64));
    assert!(
        e.contains("data offset 8, which is not a multiple of the alignment 32"),
        "{e}"
    );
    let e = error_of(&one_tensor("w", &[4], 0, 0, 15));
    assert!(
        e.contains("tensor `w` (16 bytes at data offset 0) reaches past the end"),
        "{e}"
    );
    let e = error_of(&one_tensor("w", &[4], 0, u64::MAX - 31, 64));
    assert!(e.contains("past the end"), "{e}");

    let dup = GgufWriter::new()
        .f32_tensor("w", &[1], &[1.])
        .f32_tensor("w", &[1], &[2.])
        .build();
    let e = error_of(&dup.bytes);
    assert!(
        e.contains("tensor `w` appears twice (tensor infos #0 and #1)"),
        "{e}"
    );
}

/// A file may hold types the engine has no kernels for (IQ2_XXS, TQ1_0,
/// MXFP4): it opens, lists them with their sizes, and only asking for such
/// a tensor is an error, one that names the tensor and its type.
#[test]
fn types_without_kernels_are_listed_and_refused_by_name() {
    let types = [("iq2", 16, 66), ("ternary", 34, 54), ("fp4", 39, 17 * 8)];
    let mut w = GgufWriter::new().f32_tensor("norm", &[2], &[1., 2.]);
    for (name, id, bytes) in types {
        let t = monologue::tensor::GgmlType::from_id(id).unwrap();
        w = w.tensor_of_type(name, t, &[1, 256], vec![0; bytes]);
    }
    let file = parse(&w.build().bytes).unwrap();
    let listed: Vec<(&str, &str, usize)> = file
        .tensors()
        .iter()
        .map(|t| (t.name.as_str(), t.ggml_type.name(), t.bytes))
        .collect();
    assert_eq!(
        listed,
        [
            ("norm", "F32", 8),
            ("iq2", "IQ2_XXS", 66),
            ("ternary", "TQ1_0", 54),
            ("fp4", "MXFP4", 136)
        ]
    );
    let text = monologue::io::inspect_text(&monologue::io::ModelFile::Gguf(
        parse(&w.build().bytes).unwrap(),
    ));
    assert!(text.contains("IQ2_XXS") && text.contains("MXFP4"), "{text}");
    assert!(file.tensor("norm").is_ok());
    let e = file.tensor("ternary").unwrap_err().to_string();
    assert!(
        e.contains("tensor `ternary` is stored as TQ1_0, a type Monologue cannot compute with"),
        "{e}"
    );
}

#[test]
fn overlapping_tensors_are_refused() {
    let mut out = header(3, 2, 0);
    for (name, offset) in [("a", 0u64), ("b", 32)] {
        put_str(&mut out, name);
        put_u32(&mut out, 1);
        put_u64(&mut out, 16); // 64 bytes of f32
        put_u32(&mut out, 0);
        put_u64(&mut out, offset);
    }
    out.resize(out.len().next_multiple_of(32) + 96, 0);
    let e = error_of(&out);
    assert!(
        e.contains("tensors `a` (bytes") && e.contains("and `b`") && e.contains("overlap"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Flipped bytes and truncation never panic: the result is an error or
    /// a file whose every tensor can be built.
    #[test]
    fn corrupted_files_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut w = GgufWriter::new();
        for (k, v) in every_value_type() {
            w = w.kv(k, v);
        }
        let mut bytes = w
            .f32_tensor("norm", &[2, 3], &[1., 2., 3., 4., 5., 6.])
            .tensor("embd", DType::Q8_0, &[2, 32], vec![1; 68])
            .build()
            .bytes;
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= byte | 1;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(file) = parse(&bytes) {
            for info in file.tensors() {
                match info.dtype() {
                    Ok(_) => {
                        let t = file.tensor(&info.name).unwrap();
                        prop_assert_eq!(t.as_bytes().unwrap().len(), info.bytes);
                    }
                    // A flipped type id may name a type without kernels.
                    Err(_) => prop_assert!(file.tensor(&info.name).is_err()),
                }
            }
        }
    }

    /// Random key/value lists of numbers and strings round-trip exactly.
    #[test]
    fn random_metadata_round_trips(
        entries in proptest::collection::vec(
            ("[a-z.]{0,12}", prop_oneof![
                any::<u32>().prop_map(Value::U32),
                any::<i64>().prop_map(Value::I64),
                any::<bool>().prop_map(Value::Bool),
                ".{0,20}".prop_map(Value::String),
                proptest::collection::vec(any::<i16>(), 0..20).prop_map(|v| Value::Array(Array::I16(v))),
                proptest::collection::vec(".{0,5}", 0..10).prop_map(|v| Value::Array(Array::String(v))),
            ]),
            0..12,
        )
    ) {
        let mut seen = std::collections::HashSet::new();
        let entries: Vec<(String, Value)> =
            entries.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
        let mut w = GgufWriter::new();
        for (k, v) in &entries {
            w = w.kv(k, v.clone());
        }
        let file = parse(&w.build().bytes).unwrap();
        prop_assert_eq!(file.metadata().entries(), &entries[..]);
    }
}

#[test]
fn scaled_rope_in_gguf_metadata_is_refused() {
    let bytes = GgufWriter::new()
        .kv("general.architecture", Value::String("llama".into()))
        .kv("llama.embedding_length", Value::U32(64))
        .kv("llama.attention.head_count", Value::U32(4))
        .kv("llama.rope.scaling.type", Value::String("longrope".into()))
        .build()
        .bytes;
    let file = parse(&bytes).unwrap();
    let e = monologue::model::LlamaConfig::from_gguf(file.metadata(), 100, None).unwrap_err();
    assert!(
        e.to_string()
            .contains("RoPE scaling `longrope` is not supported"),
        "{e}"
    );
}

/// YaRN is supported, and a file that asks for it without its factor is
/// refused naming the missing key.
#[test]
fn yarn_in_gguf_metadata_needs_its_factor() {
    let bytes = GgufWriter::new()
        .kv("general.architecture", Value::String("llama".into()))
        .kv("llama.embedding_length", Value::U32(64))
        .kv("llama.attention.head_count", Value::U32(4))
        .kv("llama.rope.scaling.type", Value::String("yarn".into()))
        .build()
        .bytes;
    let file = parse(&bytes).unwrap();
    let e = monologue::model::LlamaConfig::from_gguf(file.metadata(), 100, None).unwrap_err();
    assert!(e.to_string().contains("llama.rope.scaling.factor"), "{e}");
}
