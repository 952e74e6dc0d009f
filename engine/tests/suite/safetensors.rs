//! Safetensors files (single and sharded) written with the `safetensors`
//! crate, and Hugging Face `config.json` parsing.

use crate::common;

use monologue::io::{inspect_json, HfConfig, ModelFile, SafetensorsFile, Value};
use monologue::tensor::StorageKind;
use monologue::DType;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Serialize `(name, dtype, shape, bytes)` tensors with `format = pt`.
fn serialize(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            (*name, TensorView::new(*dtype, shape.clone(), data).unwrap())
        })
        .collect();
    let metadata = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    safetensors::serialize(views, &metadata).unwrap()
}

fn sample() -> Vec<u8> {
    serialize(&[
        (
            "a.weight",
            Dtype::F32,
            vec![2, 3],
            f32_bytes(&[1., 2., 3., 4., 5., 6.]),
        ),
        ("b.half", Dtype::F16, vec![4], vec![0; 8]),
        (
            "c.brain",
            Dtype::BF16,
            vec![2, 2],
            vec![0x80, 0x3f, 0, 0x40, 0, 0, 0, 0],
        ),
    ])
}

fn dir(name: &str) -> PathBuf {
    let dir = common::scratch(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_single_file_gives_mapped_tensors() {
    let path = dir("single").join("weights.bin"); // recognised by content, not name
    std::fs::write(&path, sample()).unwrap();
    let file = ModelFile::open(&path).unwrap();
    assert_eq!(file.format().name(), "safetensors");
    assert_eq!(file.metadata().get_str("format").unwrap(), "pt");
    let offsets: Vec<_> = file.tensors().iter().map(|t| t.offset).collect();
    assert!(offsets.is_sorted(), "on-disk order: {offsets:?}");
    let info = |name| file.tensors().iter().find(|t| t.name == name).unwrap();
    assert_eq!(info("c.brain").dtype().unwrap(), DType::BF16);
    assert_eq!(info("b.half").bytes, 8);

    let a = file.tensor("a.weight").unwrap();
    assert_eq!(a.storage().kind(), StorageKind::Mapped);
    assert_eq!(a.dims(), [2, 3]);
    assert_eq!(a.as_f32().unwrap(), [1., 2., 3., 4., 5., 6.]);
    let c = file.tensor("c.brain").unwrap();
    assert_eq!(c.to_f32_vec().unwrap(), [1., 2., 0., 0.]);

    let json = inspect_json(&file);
    assert_eq!(json["format"], "safetensors");
    assert_eq!(json["tensors"][0]["name"], "a.weight");
    assert_eq!(json["tensors"][0]["shape"], serde_json::json!([2, 3]));
    assert_eq!(json["tensors"][0]["dtype"], "F32");
    assert_eq!(json["metadata"]["format"], "pt");
}

#[test]
fn misaligned_data_is_copied_into_aligned_storage() {
    // A header of 9 bytes puts the data at offset 17, misaligned for f32.
    let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let pad = (1..).find(|p| (8 + header.len() + p) % 4 == 1).unwrap();
    let mut bytes = ((header.len() + pad) as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend(std::iter::repeat_n(b' ', pad));
    bytes.extend(f32_bytes(&[1.5, -2.0]));
    let path = dir("misaligned").join("m.safetensors");
    std::fs::write(&path, &bytes).unwrap();
    let file = SafetensorsFile::open(&path).unwrap();
    assert_eq!(file.tensors()[0].offset % 4, 1);
    let w = file.tensor("w").unwrap();
    assert_eq!(w.storage().kind(), StorageKind::Owned);
    assert_eq!(w.as_f32().unwrap(), [1.5, -2.0]);
}

#[test]
fn bad_files_are_refused_clearly() {
    let ints = serialize(&[("position_ids", Dtype::I64, vec![2], vec![0; 16])]);
    let e = SafetensorsFile::from_bytes(&ints, "x.safetensors")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "x.safetensors: tensor `position_ids` has dtype I64; only F32, F16 and BF16 are supported"
    );
    let whole = sample();
    let e = SafetensorsFile::from_bytes(&whole[..whole.len() - 1], "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("do not cover the data section exactly"), "{e}");
    let e = ModelFile::from_bytes(&whole[..20], "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("header length points past the end"), "{e}");
    let e = ModelFile::from_bytes(b"hello, world", "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a GGUF or safetensors file"), "{e}");
    for cut in 0..whole.len() {
        assert!(
            ModelFile::from_bytes(&whole[..cut], "x").is_err(),
            "cut at {cut}"
        );
    }
}

/// Two shards and an index, as `transformers` writes them.
fn sharded(name: &str, weight_map: serde_json::Value) -> PathBuf {
    let dir = dir(name);
    let one = serialize(&[(
        "embed",
        Dtype::F32,
        vec![2, 2],
        f32_bytes(&[1., 2., 3., 4.]),
    )]);
    let two = serialize(&[
        ("norm", Dtype::F32, vec![2], f32_bytes(&[5., 6.])),
        ("head", Dtype::F16, vec![2], vec![0; 4]),
    ]);
    std::fs::write(dir.join("model-00001-of-00002.safetensors"), one).unwrap();
    std::fs::write(dir.join("model-00002-of-00002.safetensors"), two).unwrap();
    let index = serde_json::json!({"metadata": {"total_size": 28}, "weight_map": weight_map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    dir
}

fn good_weight_map() -> serde_json::Value {
    serde_json::json!({
        "embed": "model-00001-of-00002.safetensors",
        "norm": "model-00002-of-00002.safetensors",
        "head": "model-00002-of-00002.safetensors",
    })
}

#[test]
fn sharded_checkpoints_open_from_the_directory_or_the_index() {
    let dir = sharded("sharded", good_weight_map());
    for path in [dir.clone(), dir.join("model.safetensors.index.json")] {
        let file = ModelFile::open(&path).unwrap();
        assert_eq!(file.tensors().len(), 3);
        assert_eq!(file.metadata().get("total_size"), Some(&Value::U64(28)));
        assert_eq!(file.metadata().get_str("format").unwrap(), "pt");
        assert_eq!(file.tensor("norm").unwrap().as_f32().unwrap(), [5., 6.]);
        assert_eq!(
            file.tensor("embed").unwrap().as_f32().unwrap(),
            [1., 2., 3., 4.]
        );
    }
}

#[test]
fn inconsistent_indexes_are_refused() {
    let expect = |dir: &Path, needle: &str| {
        let e = ModelFile::open(dir).expect_err("accepted").to_string();
        assert!(e.contains(needle), "{e}");
    };
    let mut wrong = good_weight_map();
    wrong["norm"] = "model-00001-of-00002.safetensors".into();
    expect(
        &sharded("wrong-shard", wrong),
        "puts `norm` in model-00001-of-00002.safetensors, but that shard does not hold it",
    );
    let mut escape = good_weight_map();
    escape["norm"] = "../secret.safetensors".into();
    expect(&sharded("escape", escape), "is not a plain file name");
    let mut missing = good_weight_map();
    missing["extra"] = "model-00003-of-00003.safetensors".into();
    expect(
        &sharded("missing", missing),
        "model-00003-of-00003.safetensors",
    );
    expect(&dir("empty-dir"), "has neither model.safetensors nor");
}

const SMOLLM2_CONFIG: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
  "num_attention_heads": 9, "num_key_value_heads": 3, "rms_norm_eps": 1e-05,
  "rope_theta": 100000, "vocab_size": 49152, "max_position_embeddings": 8192,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "bos_token_id": 1, "eos_token_id": 2, "rope_scaling": null, "hidden_act": "silu"
}"#;

#[test]
fn llama_qwen2_and_gpt2_configs_parse() {
    let c = HfConfig::from_json(SMOLLM2_CONFIG, "config.json").unwrap();
    assert_eq!(
        (c.hidden_size, c.num_hidden_layers, c.num_attention_heads),
        (576, 30, 9)
    );
    assert_eq!(
        (c.num_key_value_heads, c.head_dim, c.intermediate_size),
        (3, 64, 1536)
    );
    assert_eq!((c.norm_eps, c.rope_theta), (1e-5, 100_000.0));
    assert!(c.tie_word_embeddings);
    assert_eq!(c.eos_token_ids, [2]);
    assert_eq!(c.torch_dtype.as_deref(), Some("bfloat16"));

    let qwen = r#"{"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
        "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
        "vocab_size": 151936, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06,
        "eos_token_id": [151645, 151643], "sliding_window": 32768}"#;
    let q = HfConfig::from_json(qwen, "qwen.json").unwrap();
    assert_eq!(
        (q.head_dim, q.eos_token_ids.as_slice()),
        (64, &[151645, 151643][..])
    );
    assert!(
        !q.tie_word_embeddings,
        "Qwen2 and Llama do not tie by default"
    );
    assert_eq!(q.max_position_embeddings, None);

    let gpt2 = r#"{"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12,
        "n_inner": null, "n_positions": 1024, "n_ctx": 1024, "vocab_size": 50257,
        "layer_norm_epsilon": 1e-05, "activation_function": "gelu_new",
        "bos_token_id": 50256, "eos_token_id": 50256}"#;
    let g = HfConfig::from_json(gpt2, "gpt2.json").unwrap();
    assert_eq!(
        (g.hidden_size, g.num_hidden_layers, g.intermediate_size),
        (768, 12, 3072)
    );
    assert_eq!(
        (g.num_key_value_heads, g.max_position_embeddings),
        (12, Some(1024))
    );
    assert!(g.tie_word_embeddings);
    assert_eq!(g.hidden_act.as_deref(), Some("gelu_new"));
}

#[test]
fn configs_missing_required_keys_say_which() {
    let no_layers = SMOLLM2_CONFIG.replace(r#""num_hidden_layers": 30,"#, "");
    let e = HfConfig::from_json(&no_layers, "config.json")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "config.json: missing required key `num_hidden_layers` (or `n_layer`)"
    );
    let e = HfConfig::from_json("{\"model_type\": 3}", "c.json")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("c.json: not a valid config.json: invalid type"),
        "{e}"
    );

    let d = dir("config");
    std::fs::write(d.join("config.json"), SMOLLM2_CONFIG).unwrap();
    assert_eq!(HfConfig::open(&d).unwrap().vocab_size, 49152);
}
