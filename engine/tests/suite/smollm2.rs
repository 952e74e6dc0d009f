//! The GGUF reader on the real default model, SmolLM2-135M-Instruct Q4_1,
//! checked against what the file declares and against the Python `gguf`
//! package's reader. Needs `scripts/fetch-model.sh` to have been run.

use crate::common;

use monologue::io::{inspect_json, GgufFile, ModelFile};
use monologue::tensor::StorageKind;
use monologue::DType;
use serde_json::Value as Json;
use std::path::Path;
use std::process::Command;

#[test]
fn tensors_are_as_the_file_declares() {
    let file = GgufFile::open(common::smollm2()).unwrap();
    let tensors = file.tensors();
    assert_eq!(tensors.len(), 272);
    assert_eq!(file.version(), 3);

    let embd = file.tensor_info("token_embd.weight").unwrap();
    assert_eq!(embd.dtype().unwrap(), DType::Q8_0);
    assert_eq!(embd.shape.dims(), [49152, 576]);
    assert_eq!(embd.offset, file.data_offset());

    for t in tensors {
        let expected = if t.name.ends_with("norm.weight") {
            (DType::F32, 1)
        } else if t.name == "token_embd.weight" {
            (DType::Q8_0, 2)
        } else {
            (DType::Q4_1, 2)
        };
        assert_eq!((t.dtype().unwrap(), t.shape.rank()), expected, "{}", t.name);
    }
    let q = file.tensor_info("blk.0.attn_q.weight").unwrap();
    assert_eq!(q.shape.dims(), [576, 576]);
    let k = file.tensor_info("blk.29.attn_k.weight").unwrap();
    assert_eq!(k.shape.dims(), [192, 576], "3 kv heads of 64");
    let down = file.tensor_info("blk.0.ffn_down.weight").unwrap();
    assert_eq!(down.shape.dims(), [576, 1536]);

    // The last tensor ends exactly at the end of the file.
    let end = tensors.iter().map(|t| t.offset + t.bytes).max().unwrap();
    assert_eq!(
        end as u64,
        std::fs::metadata(common::smollm2()).unwrap().len()
    );
}

#[test]
fn metadata_is_as_the_file_declares() {
    let file = GgufFile::open(common::smollm2()).unwrap();
    let m = file.metadata();
    assert_eq!(m.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(m.get_u32("llama.block_count").unwrap(), 30);
    assert_eq!(m.get_u32("llama.embedding_length").unwrap(), 576);
    assert_eq!(m.get_u32("llama.attention.head_count").unwrap(), 9);
    assert_eq!(m.get_u32("llama.attention.head_count_kv").unwrap(), 3);
    assert_eq!(m.get_f32("llama.rope.freq_base").unwrap(), 100_000.0);
    assert_eq!(
        m.get_f32("llama.attention.layer_norm_rms_epsilon").unwrap(),
        1e-5
    );
    let tokens = m.get_str_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.len(), 49152);
    assert_eq!(tokens[..3], ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]);
    assert_eq!(
        m.get_i32_array("tokenizer.ggml.token_type").unwrap().len(),
        49152
    );
    assert_eq!(
        m.get_str_array("tokenizer.ggml.merges").unwrap().len(),
        48900
    );
    assert_eq!(m.get_u32("tokenizer.ggml.eos_token_id").unwrap(), 2);
}

#[test]
fn every_tensor_is_a_window_of_the_map() {
    let file = GgufFile::open(common::smollm2()).unwrap();
    for info in file.tensors() {
        let t = file.tensor(&info.name).unwrap();
        assert_eq!(t.storage().kind(), StorageKind::Mapped, "{}", info.name);
        assert_eq!(t.dims(), info.shape.dims());
        assert_eq!(t.storage().len(), info.bytes);
    }
    let norm = file.tensor("output_norm.weight").unwrap();
    assert!(norm.as_f32().unwrap().iter().all(|x| x.is_finite()));
}

/// Run the committed Python script, which reads the file with `gguf`.
fn python_inspect(model: &Path) -> Json {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference/gguf_inspect.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(model)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 for the gguf cross-check ({e}); install Python 3 and `pip install gguf`")
        });
    assert!(
        out.status.success(),
        "{} failed (the cross-check needs Python 3 with `pip install gguf`): {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the reference script prints JSON")
}

/// Equal, allowing f32-sized rounding between Python's f64 of an f32 and
/// our shortest decimal of it.
fn same(ours: &Json, theirs: &Json) -> bool {
    match (ours, theirs) {
        (Json::Number(a), Json::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
        }
        (Json::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        _ => ours == theirs,
    }
}

#[test]
fn agrees_with_the_python_gguf_reader() {
    agrees_with_gguf_reader(&common::smollm2());
}

/// `monologue inspect --json` of `model` equals the `gguf` package's reading:
/// every tensor's name, type, shape, offset and size, and every metadata
/// value in the file's order.
pub fn agrees_with_gguf_reader(model: &Path) {
    let theirs = python_inspect(model);
    let ours = inspect_json(&ModelFile::open(model).unwrap());
    assert_eq!(ours["format"], theirs["format"]);
    assert_eq!(
        ours["tensors"], theirs["tensors"],
        "names, types, shapes, offsets, sizes"
    );

    let (ours, theirs) = (
        ours["metadata"].as_object().unwrap(),
        theirs["metadata"].as_object().unwrap(),
    );
    // Both keep the file's order.
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (key, value) in theirs {
        assert!(
            same(&ours[key], value),
            "metadata `{key}`: ours {} vs gguf {}",
            ours[key],
            value
        );
    }
}

/// Tiny deterministic generator, so failures reproduce.
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

#[test]
fn every_truncation_of_the_real_file_is_an_error() {
    let path = common::smollm2();
    let whole = monologue::io::load_file(&path).unwrap();
    let file = GgufFile::from_storage(whole.clone(), "smollm2").unwrap();
    let data = file.data_offset();

    let mut cuts: Vec<usize> = (0..64).collect(); // magic, version, counts, first key
    let mut seed = 1;
    cuts.extend((0..200).map(|_| lcg(&mut seed) as usize % data));
    cuts.extend([data - 1, data, whole.len() - 1]);
    // Inside the data of every tenth tensor.
    for t in file.tensors().iter().step_by(10) {
        cuts.extend([t.offset, t.offset + t.bytes - 1]);
    }
    for cut in cuts {
        let prefix = whole.slice(0..cut).unwrap();
        match GgufFile::from_storage(prefix, "smollm2") {
            Ok(_) => panic!("the file cut at byte {cut} was accepted"),
            Err(e) => assert!(e.to_string().starts_with("smollm2: "), "{e}"),
        }
    }
}
