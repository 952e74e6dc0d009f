//! Tiny random-weight Hugging Face checkpoints (Llama in TinyLlama's layout,
//! Llama 3.1's scaled RoPE, Mistral's sliding window, Phi-3's fused
//! projections, Qwen2, Qwen3, Gemma 3, GPT-2) against what `transformers` computed on them, recorded
//! by `tests/reference/make_hf_fixtures.py` into `tests/fixtures/hf/`.
//!
//! Tolerances (max |ours − transformers| over every logit):
//! - f32 weights: 1e-4, in every way of feeding the tokens (one prefill,
//!   token-by-token decode, split prefill then decode); greedy tokens equal.
//! - F16 / BF16 weights: 1e-4 against transformers run in f32 on the same
//!   rounded weights (we widen half weights exactly), and within
//!   [`BF16_VS_F32`] (0.15) / [`F16_VS_F32`] (0.03) of the f32 model.
//! - Q8_0 on load (weights and activations quantized): within [`Q8_0_TOL`]
//!   (0.3) max-abs and [`Q8_0_RMS`] (0.06) root-mean-square of the f32
//!   reference, whose logits spread with a standard deviation of about 1.2;
//!   greedy tokens equal up to the first step whose top-2 margin is below
//!   twice the largest difference seen on that input's prompt.

use crate::common;

use common::gguf_writer::GgufWriter;
use common::hf_reference::{fixture, reference, Case};
use monologue::io::{SafetensorsFile, Value};
use monologue::model::{LoadOptions, Logits, Model};
use monologue::tokenizer::Tokenizer;
use monologue::DType;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

const F32_TOL: f32 = 1e-4;
const BF16_VS_F32: f32 = 0.15;
const F16_VS_F32: f32 = 0.03;
const Q8_0_TOL: f32 = 0.3;
/// Root-mean-square logit difference (logits have a spread of about 1.2).
const Q8_0_RMS: f32 = 0.06;

fn load(dir: &Path, quantize: Option<DType>) -> Box<dyn Model> {
    monologue::load::model(
        dir,
        &LoadOptions {
            quantize,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// Logits of every position, the tokens fed in chunks of the given sizes.
fn logits_in_chunks(model: &dyn Model, ids: &[u32], chunks: &[usize]) -> Vec<f32> {
    let mut state = model.new_state(128).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    for &n in chunks {
        out.extend(
            model
                .forward(&mut state, &ids[at..at + n], Logits::All)
                .unwrap(),
        );
        at += n;
    }
    assert_eq!(at, ids.len());
    assert_eq!(state.position(), ids.len());
    out
}

fn greedy(model: &dyn Model, ids: &[u32], n: usize) -> Vec<u32> {
    common::greedy(model, ids, n)
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// The largest |a − b|, and the position (row of `vocab`) where it is.
fn max_diff(a: &[f32], b: &[f32], vocab: usize) -> (f32, usize) {
    assert_eq!(a.len(), b.len());
    let mut worst = (0f32, 0);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let d = (x - y).abs();
        // NaN fails the comparison below through `!(d <= tol)`.
        if d > worst.0 || d.is_nan() {
            worst = (d, i / vocab);
        }
    }
    worst
}

fn rms_diff(a: &[f32], b: &[f32]) -> f32 {
    let sum: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    (sum / a.len() as f64).sqrt() as f32
}

fn check_close(what: &str, ours: &[f32], theirs: &[f32], vocab: usize, tol: f32) -> f32 {
    let (d, pos) = max_diff(ours, theirs, vocab);
    assert!(
        d <= tol,
        "{what}: logits differ by {d} at position {pos} (tolerance {tol})"
    );
    d
}

/// Prefill, decode and split prefill all match transformers; greedy tokens
/// are identical.
fn matches_transformers(name: &str) {
    let dir = fixture(name);
    let model = load(&dir, None);
    let vocab = model.info().vocab_size;
    let mut worst = 0f32;
    for (i, case) in reference(&dir).iter().enumerate() {
        let t = case.ids.len();
        let what = |how: &str| format!("{name} input {i} ({t} tokens), {how}");
        let prefill = logits_in_chunks(&*model, &case.ids, &[t]);
        worst = worst.max(check_close(
            &what("prefill"),
            &prefill,
            &case.logits,
            vocab,
            F32_TOL,
        ));
        let decode = logits_in_chunks(&*model, &case.ids, &vec![1; t]);
        worst = worst.max(check_close(
            &what("decode"),
            &decode,
            &case.logits,
            vocab,
            F32_TOL,
        ));
        if t >= 3 {
            // Two prefills, then one token at a time.
            let (a, b) = (t / 3, t / 3);
            let mut chunks = vec![a, b];
            chunks.extend(std::iter::repeat_n(1, t - a - b));
            let split = logits_in_chunks(&*model, &case.ids, &chunks);
            worst = worst.max(check_close(
                &what("split prefill"),
                &split,
                &case.logits,
                vocab,
                F32_TOL,
            ));
        }
        assert_eq!(
            greedy(&*model, &case.ids, case.greedy.len()),
            case.greedy,
            "{}",
            what("greedy")
        );
    }
    eprintln!("{name}: max |logit difference| {worst:.2e}");
}

#[test]
fn llama_matches_transformers() {
    matches_transformers("llama");
}

#[test]
fn qwen2_matches_transformers() {
    matches_transformers("qwen2");
}

#[test]
fn gpt2_matches_transformers() {
    matches_transformers("gpt2");
}

/// Per-head q/k norms; heads of 32 on a width of 64.
#[test]
fn qwen3_matches_transformers() {
    matches_transformers("qwen3");
}

/// Scaled embeddings, (1 + w) norms before and after each block, q/k
/// norms, GeGLU, and five sliding-window layers (window 8, RoPE base 1e4)
/// before a global one (base 1e6): the 32-token input reaches far past the
/// window.
#[test]
fn gemma3_matches_transformers() {
    matches_transformers("gemma3");
}

/// Llama 3.1's `rope_scaling` (kept, blended and divided frequencies).
#[test]
fn llama3_rope_scaling_matches_transformers() {
    matches_transformers("llama3");
}

/// YaRN `rope_scaling` (kept, blended and divided frequencies, and the
/// magnitude on q and k).
#[test]
fn qwen3_yarn_rope_scaling_matches_transformers() {
    matches_transformers("qwen3-yarn");
}

/// A sliding window of 8 on every layer.
#[test]
fn mistral_sliding_window_matches_transformers() {
    matches_transformers("mistral");
}

/// Fused qkv and gate/up projections; RoPE on half of each head.
#[test]
fn phi3_matches_transformers() {
    matches_transformers("phi3");
}

/// BF16 / F16 checkpoints: exact widening, so as close as f32 to transformers
/// on the rounded weights, and near the f32 model.
fn half_copy_matches(name: &str, f32_name: &str, dtype: DType, vs_f32: f32) {
    let dir = fixture(name);
    let file = SafetensorsFile::open(&dir).unwrap();
    assert!(file.tensors().iter().all(|t| t.dtype().unwrap() == dtype));
    let model = load(&dir, None);
    let vocab = model.info().vocab_size;
    let full = reference(&fixture(f32_name));
    let mut worst = 0f32;
    for (i, (case, f32_case)) in reference(&dir).iter().zip(&full).enumerate() {
        let ours = logits_in_chunks(&*model, &case.ids, &[case.ids.len()]);
        check_close(
            &format!("{name} input {i}"),
            &ours,
            &case.logits,
            vocab,
            F32_TOL,
        );
        worst = worst.max(check_close(
            &format!("{name} input {i} against the f32 model"),
            &ours,
            &f32_case.logits,
            vocab,
            vs_f32,
        ));
        assert_eq!(
            greedy(&*model, &case.ids, case.greedy.len()),
            case.greedy,
            "{name} input {i} greedy"
        );
    }
    eprintln!("{name}: max |logit difference| from the f32 model {worst:.3}");
}

#[test]
fn bf16_llama_matches() {
    half_copy_matches("llama-bf16", "llama", DType::BF16, BF16_VS_F32);
}

#[test]
fn f16_qwen2_matches() {
    half_copy_matches("qwen2-f16", "qwen2", DType::F16, F16_VS_F32);
}

/// Greedy tokens equal the reference's until a step whose margin is too
/// small for an error of `err` to decide (after which the sequences may
/// part). The number of steps compared.
fn greedy_agrees_where_margin_allows(what: &str, ours: &[u32], case: &Case, err: f32) -> usize {
    for (step, (&a, &b)) in ours.iter().zip(&case.greedy).enumerate() {
        if case.greedy_margin[step] < 2.0 * err {
            return step;
        }
        assert_eq!(
            a, b,
            "{what}: greedy step {step} differs with margin {}",
            case.greedy_margin[step]
        );
    }
    ours.len()
}

#[test]
fn q8_0_on_load_stays_close() {
    for name in ["llama", "qwen2", "gpt2"] {
        let dir = fixture(name);
        let model = load(&dir, Some(DType::Q8_0));
        let vocab = model.info().vocab_size;
        let (mut worst, mut worst_rms, mut compared) = (0f32, 0f32, 0);
        for (i, case) in reference(&dir).iter().enumerate() {
            let what = format!("{name} Q8_0 input {i}");
            let ours = logits_in_chunks(&*model, &case.ids, &[case.ids.len()]);
            let err = check_close(&what, &ours, &case.logits, vocab, Q8_0_TOL);
            worst = worst.max(err);
            let rms = rms_diff(&ours, &case.logits);
            assert!(rms <= Q8_0_RMS, "{what}: rms logit difference {rms}");
            worst_rms = worst_rms.max(rms);
            // Decode runs the matrix-vector kernel rather than the
            // matrix-matrix one: the same within the same tolerance.
            let decode = logits_in_chunks(&*model, &case.ids, &vec![1; case.ids.len()]);
            check_close(&what, &decode, &case.logits, vocab, Q8_0_TOL);
            let tokens = greedy(&*model, &case.ids, case.greedy.len());
            compared += greedy_agrees_where_margin_allows(&what, &tokens, case, err);
        }
        eprintln!(
            "{name} Q8_0: max |logit difference| {worst:.3}, rms {worst_rms:.4}; \
             {compared} greedy steps compared"
        );
    }
}

/// The fixtures' rows (64 wide) are too short for 256-weight K-quant
/// blocks, so quantizing to a K-quant on load takes llama.cpp's 32-weight
/// fallback instead: the same logits, bit for bit, as asking for it.
#[test]
fn k_quants_on_load_fall_back_for_short_rows() {
    let dir = fixture("llama");
    let ids = &reference(&dir)[0].ids;
    let plain = logits_in_chunks(&*load(&dir, None), ids, &[ids.len()]);
    for (wanted, fallback) in [
        (DType::Q4_K, DType::Q5_0),
        (DType::Q5_K, DType::Q5_1),
        (DType::Q6_K, DType::Q8_0),
        (DType::IQ4_XS, DType::IQ4_NL),
    ] {
        let ours = logits_in_chunks(&*load(&dir, Some(wanted)), ids, &[ids.len()]);
        let theirs = logits_in_chunks(&*load(&dir, Some(fallback)), ids, &[ids.len()]);
        assert_eq!(ours, theirs, "{wanted} should fall back to {fallback}");
        assert_ne!(ours, plain, "{wanted}: nothing was quantized");
    }
}

// ----- GGUF and naming variants, built from the fixtures -----

/// The f32 values and shape of every tensor in a fixture.
fn tensors(dir: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let file = SafetensorsFile::open(dir).unwrap();
    file.tensors()
        .iter()
        .map(|t| {
            let values = file.tensor(&t.name).unwrap().to_f32_vec().unwrap();
            (t.name.clone(), t.shape.dims().to_vec(), values)
        })
        .collect()
}

fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// The GPT-2 fixture as llama.cpp's converter would write it: GGUF names,
/// matrices `[out, in]`.
#[test]
fn gpt2_from_gguf_matches_transformers() {
    let dir = fixture("gpt2");
    let hf: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let u = |k: &str| Value::U32(hf[k].as_u64().unwrap() as u32);
    let mut w = GgufWriter::new()
        .kv("general.architecture", Value::String("gpt2".into()))
        .kv("gpt2.context_length", u("n_positions"))
        .kv("gpt2.embedding_length", u("n_embd"))
        .kv("gpt2.feed_forward_length", u("n_inner"))
        .kv("gpt2.block_count", u("n_layer"))
        .kv("gpt2.attention.head_count", u("n_head"))
        .kv(
            "gpt2.attention.layer_norm_epsilon",
            Value::F32(hf["layer_norm_epsilon"].as_f64().unwrap() as f32),
        );
    for (name, shape, values) in tensors(&dir) {
        let name = name.strip_prefix("transformer.").unwrap().to_string();
        let gguf = name
            .replace("wte.", "token_embd.")
            .replace("wpe.", "position_embd.")
            .replace("ln_f.", "output_norm.")
            .replace("h.", "blk.")
            .replace(".ln_1.", ".attn_norm.")
            .replace(".attn.c_attn.", ".attn_qkv.")
            .replace(".attn.c_proj.", ".attn_output.")
            .replace(".ln_2.", ".ffn_norm.")
            .replace(".mlp.c_fc.", ".ffn_up.")
            .replace(".mlp.c_proj.", ".ffn_down.");
        w = match shape[..] {
            // Conv1D `[in, out]` → `[out, in]`; the embeddings stay.
            [rows, cols] if gguf.starts_with("blk.") => {
                w.f32_tensor(&gguf, &[cols, rows], &transpose(&values, rows, cols))
            }
            _ => w.f32_tensor(&gguf, &shape, &values),
        };
    }
    let path = common::scratch("gpt2-tiny.gguf");
    std::fs::write(&path, w.build().bytes).unwrap();
    let model = load(&path, None);
    let vocab = model.info().vocab_size;
    for (i, case) in reference(&dir).iter().enumerate() {
        let t = case.ids.len();
        let ours = logits_in_chunks(&*model, &case.ids, &[t]);
        check_close(
            &format!("gpt2 GGUF input {i}"),
            &ours,
            &case.logits,
            vocab,
            F32_TOL,
        );
        assert_eq!(greedy(&*model, &case.ids, case.greedy.len()), case.greedy);
    }
    std::fs::remove_file(&path).unwrap();
}

/// How a test writes one tensor of a converted fixture: (writer, GGUF name,
/// shape, values) → writer.
type WriteTensor<'a> = &'a dyn Fn(GgufWriter, &str, &[usize], &[f32]) -> GgufWriter;

fn as_f32(w: GgufWriter, name: &str, shape: &[usize], values: &[f32]) -> GgufWriter {
    w.f32_tensor(name, shape, values)
}

/// Llama and Qwen2 fixtures as llama.cpp's converter writes them: GGUF
/// names, and for `llama` the rows of Q and K permuted within each head so
/// that rotation pairs are adjacent (interleaved rope).
fn llama_family_from_gguf(name: &str) {
    let path = llama_family_gguf(name, "tiny", &as_f32);
    let dir = fixture(name);
    let model = load(&path, None);
    let vocab = model.info().vocab_size;
    for (i, case) in reference(&dir).iter().enumerate() {
        let t = case.ids.len();
        let ours = logits_in_chunks(&*model, &case.ids, &[t]);
        let what = format!("{name} GGUF input {i}");
        check_close(&what, &ours, &case.logits, vocab, F32_TOL);
        assert_eq!(
            greedy(&*model, &case.ids, case.greedy.len()),
            case.greedy,
            "{what}"
        );
    }
    std::fs::remove_file(&path).unwrap();
}

/// llama.cpp's logits on a fixture's `llama_cpp.gguf`, per input of
/// reference.json (tests/reference/llama_cpp_tiny.py).
fn llama_cpp_logits(dir: &Path) -> Vec<Vec<f32>> {
    let index: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("llama_cpp.json")).unwrap())
            .unwrap();
    let blob = std::fs::read(dir.join("llama_cpp.bin")).unwrap();
    index["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|input| {
            let at = input["logits"]["offset"].as_u64().unwrap() as usize;
            let len: u64 = input["logits"]["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .product();
            blob[at..at + 4 * len as usize]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect()
}

/// Each tiny checkpoint as llama.cpp's own converter (convert_hf_to_gguf.py)
/// wrote it: our logits from that file equal transformers' and llama.cpp's
/// on it (llama-cpp-python, f32 cache). Two documented exceptions: llama.cpp
/// computes Gemma's GELU from an f16 table, which puts it 1.3e-2 from
/// transformers (we are within 1e-4 of transformers); and the converter
/// writes Mistral as `llama` without its window, so from that file both
/// engines attend to every key and transformers is not the reference.
#[test]
fn llama_cpp_conversions_match_transformers_and_llama_cpp() {
    const GEMMA_GELU_TABLE: f32 = 2e-2;
    for (name, vs_transformers, vs_llama_cpp) in [
        ("llama", true, F32_TOL),
        ("qwen2", true, F32_TOL),
        ("qwen3", true, F32_TOL),
        ("llama3", true, F32_TOL),
        ("qwen3-yarn", true, F32_TOL),
        ("phi3", true, F32_TOL),
        ("gemma3", true, GEMMA_GELU_TABLE),
        ("mistral", false, F32_TOL),
    ] {
        let dir = fixture(name);
        let model = load(&dir.join("llama_cpp.gguf"), None);
        let vocab = model.info().vocab_size;
        let theirs = llama_cpp_logits(&dir);
        for (i, case) in reference(&dir).iter().enumerate() {
            let t = case.ids.len();
            let ours = logits_in_chunks(&*model, &case.ids, &[t]);
            let what = format!("{name} converted by llama.cpp, input {i}");
            if vs_transformers {
                check_close(
                    &format!("{what} vs transformers"),
                    &ours,
                    &case.logits,
                    vocab,
                    F32_TOL,
                );
            }
            check_close(
                &format!("{what} vs llama.cpp"),
                &ours,
                &theirs[i],
                vocab,
                vs_llama_cpp,
            );
        }
    }
}

/// A model that needs a tensor in a type without kernels does not load,
/// and the error names the tensor and its type.
#[test]
fn a_weight_in_a_type_without_kernels_is_named_when_loading() {
    let mxfp4 = monologue::tensor::GgmlType::from_id(39).unwrap();
    let write: WriteTensor = &|w, name, shape, values| {
        if name == "blk.1.attn_k.weight" {
            let bytes = mxfp4.bytes_for(values.len()).unwrap();
            w.tensor_of_type(name, mxfp4, shape, vec![0; bytes])
        } else {
            w.f32_tensor(name, shape, values)
        }
    };
    let path = llama_family_gguf("llama", "mxfp4", write);
    let e = monologue::load::model(&path, &LoadOptions::default())
        .err()
        .expect("a weight the engine cannot read")
        .to_string();
    assert!(
        e.contains(
            "tensor `blk.1.attn_k.weight` is stored as MXFP4, a type Monologue cannot compute with"
        ),
        "{e}"
    );
    std::fs::remove_file(&path).unwrap();
}

/// Fixture `name` written as a GGUF file (tensors through `write`) in a
/// scratch file tagged `tag`.
fn llama_family_gguf(name: &str, tag: &str, write: WriteTensor) -> PathBuf {
    let dir = fixture(name);
    let hf: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    // llama.cpp's names: Llama 3.1 is `llama`, Gemma 3's text model `gemma3`.
    let arch = match hf["model_type"].as_str().unwrap() {
        "gemma3_text" => "gemma3",
        other => other,
    }
    .to_string();
    let gemma = arch == "gemma3";
    let num = |k: &str| hf[k].as_u64().unwrap() as usize;
    let (n_heads, n_kv) = (num("num_attention_heads"), num("num_key_value_heads"));
    let head_dim = hf["head_dim"]
        .as_u64()
        .map_or(num("hidden_size") / n_heads, |h| h as usize);
    let rope = &hf["rope_parameters"];
    let theta = rope["rope_theta"]
        .as_f64()
        .or(rope["full_attention"]["rope_theta"].as_f64())
        .unwrap() as f32;
    let key = |k: &str| format!("{arch}.{k}");
    let mut w = GgufWriter::new()
        .kv("general.architecture", Value::String(arch.clone()))
        .kv(
            &key("context_length"),
            Value::U32(num("max_position_embeddings") as u32),
        )
        .kv(
            &key("embedding_length"),
            Value::U32(num("hidden_size") as u32),
        )
        .kv(
            &key("feed_forward_length"),
            Value::U32(num("intermediate_size") as u32),
        )
        .kv(
            &key("block_count"),
            Value::U32(num("num_hidden_layers") as u32),
        )
        .kv(&key("attention.head_count"), Value::U32(n_heads as u32))
        .kv(&key("attention.head_count_kv"), Value::U32(n_kv as u32))
        .kv(
            &key("attention.layer_norm_rms_epsilon"),
            Value::F32(hf["rms_norm_eps"].as_f64().unwrap() as f32),
        )
        .kv(&key("rope.freq_base"), Value::F32(theta))
        .kv(&key("attention.key_length"), Value::U32(head_dim as u32))
        .kv(&key("attention.value_length"), Value::U32(head_dim as u32));
    // Phi-3's partial rotary: the rotated dimensions per head.
    if let Some(f) = rope["partial_rotary_factor"].as_f64() {
        w = w.kv(
            &key("rope.dimension_count"),
            Value::U32((head_dim as f64 * f) as u32),
        );
    }
    if gemma {
        w = w.kv(
            &key("attention.sliding_window"),
            Value::U32(num("sliding_window") as u32),
        );
    }
    // Llama 3.1's divisors, as transformers computed them.
    let index: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    if let Some(freqs) = index["rope_freqs"].as_array() {
        let freqs: Vec<f32> = freqs.iter().map(|f| f.as_f64().unwrap() as f32).collect();
        w = write(w, "rope_freqs.weight", &[freqs.len()], &freqs);
    }
    // Row i + head_dim/2 of each head (NeoX pair partner) moves next to row i.
    let interleave = |values: &[f32], heads: usize, cols: usize| {
        let mut out = vec![0f32; values.len()];
        for h in 0..heads {
            for i in 0..head_dim / 2 {
                for (dst, src) in [(2 * i, i), (2 * i + 1, i + head_dim / 2)] {
                    let (d, s) = ((h * head_dim + dst) * cols, (h * head_dim + src) * cols);
                    out[d..d + cols].copy_from_slice(&values[s..s + cols]);
                }
            }
        }
        out
    };
    for (name, shape, values) in tensors(&dir) {
        let gguf = name
            .replace("model.embed_tokens.", "token_embd.")
            .replace("model.norm.", "output_norm.")
            .replace("lm_head.", "output.")
            .replace("model.layers.", "blk.")
            .replace(".input_layernorm.", ".attn_norm.")
            .replace(".self_attn.q_proj.", ".attn_q.")
            .replace(".self_attn.k_proj.", ".attn_k.")
            .replace(".self_attn.v_proj.", ".attn_v.")
            .replace(".self_attn.o_proj.", ".attn_output.")
            .replace(".self_attn.qkv_proj.", ".attn_qkv.")
            .replace(".mlp.gate_up_proj.", ".ffn_up.")
            .replace(".self_attn.q_norm.", ".attn_q_norm.")
            .replace(".self_attn.k_norm.", ".attn_k_norm.");
        // Gemma's post_attention_layernorm is its attention output's norm.
        let gguf = match gemma {
            true => gguf
                .replace(".post_attention_layernorm.", ".post_attention_norm.")
                .replace(".pre_feedforward_layernorm.", ".ffn_norm.")
                .replace(".post_feedforward_layernorm.", ".post_ffw_norm."),
            false => gguf.replace(".post_attention_layernorm.", ".ffn_norm."),
        };
        let gguf = gguf
            .replace(".mlp.gate_proj.", ".ffn_gate.")
            .replace(".mlp.up_proj.", ".ffn_up.")
            .replace(".mlp.down_proj.", ".ffn_down.");
        let values = match (arch.as_str(), &shape[..]) {
            ("llama", &[_, cols]) if gguf.ends_with("attn_q.weight") => {
                interleave(&values, n_heads, cols)
            }
            ("llama", &[_, cols]) if gguf.ends_with("attn_k.weight") => {
                interleave(&values, n_kv, cols)
            }
            // llama.cpp's converter stores Gemma's (1 + w) norm scales.
            ("gemma3", _) if gguf.ends_with("norm.weight") => {
                values.iter().map(|v| v + 1.0).collect()
            }
            _ => values,
        };
        w = write(w, &gguf, &shape, &values);
    }
    let path = common::scratch(&format!("{name}-{tag}.gguf"));
    std::fs::write(&path, w.build().bytes).unwrap();
    path
}

#[test]
fn llama_from_gguf_matches_transformers() {
    llama_family_from_gguf("llama");
}

#[test]
fn qwen2_from_gguf_matches_transformers() {
    llama_family_from_gguf("qwen2");
}

#[test]
fn qwen3_from_gguf_matches_transformers() {
    llama_family_from_gguf("qwen3");
}

/// Gemma 3 as llama.cpp's converter writes it: norms shifted by 1, the
/// sliding window in the metadata, the local RoPE base implied.
#[test]
fn gemma3_from_gguf_matches_transformers() {
    llama_family_from_gguf("gemma3");
}

#[test]
fn phi3_from_gguf_matches_transformers() {
    llama_family_from_gguf("phi3");
}

/// Llama 3.1's RoPE factors as the tensor `rope_freqs.weight`, with the
/// values transformers computed.
#[test]
fn llama3_from_gguf_matches_transformers() {
    llama_family_from_gguf("llama3");
}

/// A copy of fixture `name` in a scratch folder with its tensors rewritten
/// by `edit` (name, shape, values → kept or dropped) and `config.json` by
/// `edit_config`.
fn edited_copy(
    name: &str,
    tag: &str,
    edit: impl Fn(String, Vec<usize>, Vec<f32>) -> Option<(String, Vec<usize>, Vec<f32>)>,
    edit_config: impl Fn(&mut Json),
) -> PathBuf {
    let src = fixture(name);
    let dir = common::scratch(&format!("{name}-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let kept: Vec<_> = tensors(&src)
        .into_iter()
        .filter_map(|(n, s, v)| edit(n, s, v))
        .map(|(n, s, v)| {
            (
                n,
                s,
                v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
            )
        })
        .collect();
    let views: Vec<_> = kept
        .iter()
        .map(|(n, s, bytes)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), bytes)
                    .unwrap();
            (n.clone(), view)
        })
        .collect();
    safetensors::tensor::serialize_to_file(views, &None, &dir.join("model.safetensors")).unwrap();
    let mut config: Json =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit_config(&mut config);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

/// Gemma 3's language model read from a multimodal checkpoint
/// (`Gemma3ForConditionalGeneration`): the text config's left-out keys take
/// Gemma3TextConfig's defaults, the weights come from under the language
/// model's prefix, the vision tower is left alone.
#[test]
fn gemma3_multimodal_text_model_matches_transformers() {
    let config = std::fs::read_to_string(fixture("gemma3-mm").join("config.json")).unwrap();
    // The fixture relies on defaults: the config does not say these.
    for key in [
        "\"rms_norm_eps\"",
        "\"hidden_activation\"",
        "\"rope_local_base_freq\"",
    ] {
        assert!(!config.contains(key), "the fixture writes {key}");
    }
    matches_transformers("gemma3-mm");
}

/// transformers saves the language model under `language_model.model.`
/// (the fixture's layout); checkpoints saved by transformers 4.52 to 4.57
/// keep it under `model.language_model.`, the vision tower under `model.`.
/// Both load.
#[test]
fn gemma3_multimodal_in_either_layout_loads() {
    let dir = edited_copy(
        "gemma3-mm",
        "new-layout",
        |n, s, v| {
            let n = match n.strip_prefix("language_model.model.") {
                Some(rest) => format!("model.language_model.{rest}"),
                None => format!("model.{n}"),
            };
            Some((n, s, v))
        },
        |_| {},
    );
    let model = load(&dir, None);
    let case = &reference(&fixture("gemma3-mm"))[2];
    let ours = logits_in_chunks(&*model, &case.ids, &[case.ids.len()]);
    let vocab = model.info().vocab_size;
    check_close(
        "gemma3-mm, newer layout",
        &ours,
        &case.logits,
        vocab,
        F32_TOL,
    );
    std::fs::remove_dir_all(&dir).unwrap();
    // Without the language model's embedding, the error names both layouts.
    let dir = edited_copy(
        "gemma3-mm",
        "no-embedding",
        |n, s, v| (!n.contains("embed_tokens")).then_some((n, s, v)),
        |_| {},
    );
    let e = load_error(&dir);
    assert!(
        e.contains("model.language_model.embed_tokens.weight") && e.contains("multimodal"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    // Another multimodal family is refused by name, not misread.
    let dir = edited_copy(
        "gemma3-mm",
        "llava",
        |n, s, v| Some((n, s, v)),
        |c| c["model_type"] = Json::String("llava".into()),
    );
    let e = load_error(&dir);
    assert!(e.contains("llava") && e.contains("multimodal"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gpt2_without_transformer_prefix_loads() {
    let dir = edited_copy(
        "gpt2",
        "bare",
        |n, s, v| {
            Some((
                n.strip_prefix("transformer.").unwrap_or(&n).to_string(),
                s,
                v,
            ))
        },
        |_| {},
    );
    let model = load(&dir, None);
    let case = &reference(&fixture("gpt2"))[2];
    let ours = logits_in_chunks(&*model, &case.ids, &[case.ids.len()]);
    check_close(
        "gpt2 without prefix",
        &ours,
        &case.logits,
        model.info().vocab_size,
        F32_TOL,
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn load_error(dir: &Path) -> String {
    match monologue::load::model(dir, &LoadOptions::default()) {
        Ok(_) => panic!("{} loaded, expected an error", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_tensor_is_named() {
    for (name, missing) in [
        ("llama", "model.layers.1.self_attn.k_proj.weight"),
        ("qwen2", "model.layers.0.self_attn.q_proj.bias"),
        ("gpt2", "transformer.wpe.weight"),
    ] {
        let dir = edited_copy(
            name,
            "missing",
            |n, s, v| (n != missing).then_some((n, s, v)),
            |_| {},
        );
        let e = load_error(&dir);
        assert!(e.contains(missing) && e.contains("missing"), "{name}: {e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn wrong_shape_names_tensor_and_shapes() {
    for (name, tensor, expected, found) in [
        // Llama's k_proj is [2 KV heads × 16, 64]; give it [64, 64].
        (
            "llama",
            "model.layers.0.self_attn.k_proj.weight",
            "[32, 64]",
            "[64, 64]",
        ),
        // GPT-2's Conv1D c_fc is stored [in 64, out 128]; give it [128, 64].
        (
            "gpt2",
            "transformer.h.1.mlp.c_fc.weight",
            "[64, 128]",
            "[128, 64]",
        ),
    ] {
        let dir = edited_copy(
            name,
            "shape",
            |n, s, v| {
                if n == tensor {
                    let (r, c) = (s[0], s[1]);
                    let (r2, c2) = if name == "llama" { (64, 64) } else { (c, r) };
                    Some((
                        n,
                        vec![r2, c2],
                        (0..r2 * c2).map(|i| v[i % (r * c)]).collect(),
                    ))
                } else {
                    Some((n, s, v))
                }
            },
            |_| {},
        );
        let e = load_error(&dir);
        assert!(
            e.contains(tensor) && e.contains(expected) && e.contains(found),
            "{name}: {e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn unsupported_model_type_is_an_error() {
    let dir = edited_copy(
        "llama",
        "mamba",
        |n, s, v| Some((n, s, v)),
        |c| c["model_type"] = Json::String("mamba".into()),
    );
    let e = load_error(&dir);
    assert!(e.contains("mamba") && e.contains("not supported"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Gemma configs that ask for what the forward pass does not compute are
/// refused by name: soft-capping (Gemma 2) and bidirectional attention
/// (EmbeddingGemma).
#[test]
fn gemma_variants_we_do_not_compute_are_refused() {
    for (key, value, says) in [
        (
            "final_logit_softcapping",
            serde_json::json!(30.0),
            "final_logit_softcapping",
        ),
        (
            "use_bidirectional_attention",
            serde_json::json!(true),
            "bidirectional",
        ),
    ] {
        let dir = edited_copy(
            "gemma3",
            key,
            |n, s, v| Some((n, s, v)),
            |c| c[key] = value.clone(),
        );
        let e = load_error(&dir);
        assert!(e.contains(says) && e.contains("not supported"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn unsupported_rope_scaling_is_refused_not_computed_wrong() {
    let dir = edited_copy(
        "llama",
        "rope-scaling",
        |n, s, v| Some((n, s, v)),
        |c| {
            c["rope_scaling"] = serde_json::json!({
                "rope_type": "longrope", "factor": 4.0, "original_max_position_embeddings": 32,
                "short_factor": [1.0], "long_factor": [1.0]
            })
        },
    );
    let e = load_error(&dir);
    assert!(
        e.contains("rope_scaling `longrope`") && e.contains("not supported"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    // A supported scheme with impossible parameters is refused by name.
    let dir = edited_copy(
        "llama",
        "rope-yarn-bad",
        |n, s, v| Some((n, s, v)),
        |c| {
            c["rope_scaling"] = serde_json::json!({
                "rope_type": "yarn", "factor": -4.0, "original_max_position_embeddings": 32
            })
        },
    );
    let e = load_error(&dir);
    assert!(e.contains("yarn") && e.contains("positive factor"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
    // `rope_type: default` (how transformers 5 writes plain RoPE) loads.
    let dir = edited_copy(
        "llama",
        "rope-default",
        |n, s, v| Some((n, s, v)),
        |c| {
            c["rope_parameters"] =
                serde_json::json!({ "rope_type": "default", "rope_theta": 10000.0 })
        },
    );
    monologue::load::model(&dir, &LoadOptions::default()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

// ----- tokenizers -----

fn tokenizer_encodes_like_transformers(name: &str) -> Tokenizer {
    let dir = fixture(name);
    let tok = Tokenizer::from_hf_dir(&dir).unwrap();
    let mut texts = 0;
    for case in reference(&dir) {
        if let Some(text) = &case.text {
            let ids = tok.encode(text, false, tok.add_bos_default());
            assert_eq!(ids, case.ids, "{name}: {text:?}");
            assert_eq!(
                tok.decode(&ids[usize::from(tok.add_bos_default())..])
                    .unwrap(),
                *text
            );
            texts += 1;
        }
    }
    assert!(texts >= 3);
    tok
}

#[test]
fn llama_tokenizer_adds_bos() {
    let tok = tokenizer_encodes_like_transformers("llama");
    assert_eq!(tok.bos_id(), tok.token_to_id("<s>"));
    assert_eq!(tok.eos_id(), tok.token_to_id("</s>"));
    assert!(tok.bos_id().is_some() && tok.add_bos_default());
    assert_eq!(tok.vocab_size(), 320);
}

#[test]
fn qwen2_tokenizer_has_no_bos() {
    let tok = tokenizer_encodes_like_transformers("qwen2");
    assert_eq!(tok.bos_id(), None);
    assert_eq!(tok.eos_id(), tok.token_to_id("<|im_end|>"));
    assert_eq!(tok.special_ids().pad, tok.token_to_id("<|endoftext|>"));
    assert!(!tok.add_bos_default());
}

#[test]
fn gpt2_tokenizer_from_json_and_from_vocab_merges() {
    let tok = tokenizer_encodes_like_transformers("gpt2");
    let eot = tok.token_to_id("<|endoftext|>");
    assert!(eot.is_some());
    assert_eq!((tok.bos_id(), tok.eos_id()), (eot, eot));
    assert!(!tok.add_bos_default());

    // The same folder without tokenizer.json: vocab.json + merges.txt.
    let src = fixture("gpt2");
    let dir = common::scratch("gpt2-vocab-merges");
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "vocab.json",
        "merges.txt",
        "tokenizer_config.json",
        "config.json",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let plain = Tokenizer::from_hf_dir(&dir).unwrap();
    assert_eq!((plain.bos_id(), plain.eos_id()), (eot, eot));
    assert!(plain.is_special(eot.unwrap()));
    for case in reference(&src) {
        if let Some(text) = &case.text {
            assert_eq!(plain.encode(text, false, false), case.ids, "{text:?}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let e = Tokenizer::from_hf_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("tokenizer.json"), "{e}");
}

/// Gemma 3's sliding layers keep about three windows of keys however long the
/// sequence (the global layer keeps every position); going back further
/// than a window forgets everything, and feeding again from there gives
/// the same logits as at first.
#[test]
fn sliding_layers_keep_only_their_window() {
    let dir = fixture("gemma3");
    let model = load(&dir, None);
    let info = model.info().clone();
    let case = reference(&dir)
        .into_iter()
        .max_by_key(|c| c.ids.len())
        .unwrap();
    // The input three times over: 96 positions, twelve windows.
    let ids = &[case.ids.clone(), case.ids.clone(), case.ids.clone()].concat();
    let window = 8;
    assert!(
        ids.len() > 3 * window,
        "the input must reach far past the window"
    );
    let mut state = model.new_state(128).unwrap();
    let mut last = Vec::new();
    for &id in ids {
        last = model.forward(&mut state, &[id], Logits::Last).unwrap();
    }
    let row = 2 * info.n_kv_heads * info.head_dim * 4;
    let sliding = info.n_layers - 1;
    let full_cache = info.n_layers * ids.len() * row;
    let bound = (ids.len() + sliding * 2 * (3 * window + 1)) * row;
    assert!(
        state.kv_bytes() <= bound && state.kv_bytes() < full_cache,
        "{} bytes held, a full cache is {full_cache}",
        state.kv_bytes()
    );
    // Back two positions: within the margin every layer keeps.
    state.truncate(ids.len() - 2);
    assert_eq!(state.position(), ids.len() - 2);
    let again = model
        .forward(&mut state, &ids[ids.len() - 2..], Logits::Last)
        .unwrap();
    assert_eq!(again, last);
    // Back to position 3: the sliding layers no longer hold what it needs.
    state.truncate(3);
    assert_eq!(state.position(), 0);
    let mut fresh = Vec::new();
    for &id in ids {
        fresh = model.forward(&mut state, &[id], Logits::Last).unwrap();
    }
    assert_eq!(fresh, last);
}
