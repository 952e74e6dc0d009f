//! Exporting a trained GPT as a GGUF file that llama.cpp (and our own
//! loader) runs.
//!
//! A checkpoint is already a Hugging Face GPT-2 folder (`config.json`,
//! `model.safetensors`, `tokenizer.json`), which `transformers` loads as
//! it is; [`export_gguf`] turns it, or any other GPT-2 folder, into one
//! GGUF file in llama.cpp's `gpt2` layout:
//!
//! ```text
//! transformer.wte / wpe             → token_embd / position_embd     [vocab | context, width]
//! transformer.h.N.ln_1 / ln_2       → blk.N.attn_norm / ffn_norm     weight and bias
//! transformer.h.N.attn.c_attn       → blk.N.attn_qkv                 [3·width, width]
//! transformer.h.N.attn.c_proj       → blk.N.attn_output              [width, width]
//! transformer.h.N.mlp.c_fc / c_proj → blk.N.ffn_up / ffn_down        [ffn, width] / [width, ffn]
//! transformer.ln_f                  → output_norm
//! lm_head (only when untied)        → output                         (llama.cpp ties to token_embd without it)
//! ```
//!
//! Hugging Face stores GPT-2's matrices as `Conv1D`, `[in, out]`; GGUF
//! (like `nn.Linear`) wants `[out, in]`, so each is transposed. Matrices
//! keep their float type; norms and biases are written as f32. The
//! tokenizer goes into `tokenizer.ggml.*` (`model = "gpt2"`, byte-level
//! BPE), padded with unused tokens when the embedding has more rows.

use super::checkpoint;
use crate::error::{Error, Result};
use crate::io::gguf::writer::GgufWriter;
use crate::io::{Array, HfConfig, ModelFile, Value};
use crate::model::{Gpt2Config, Naming, Part, Weights};
use crate::tensor::DType;
use crate::tokenizer::{TokenKind, Tokenizer};
use std::path::Path;

/// GGUF's token types (`tokenizer.ggml.token_type`).
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;

/// Writes the GPT-2 in `model` (a training run's folder, one of its
/// checkpoints, or a Hugging Face GPT-2 folder) to `out` as GGUF,
/// atomically.
pub fn export_gguf(model: &Path, out: &Path) -> Result<()> {
    gguf(model)?.write(out)
}

/// The GGUF file [`export_gguf`] writes, not yet written.
pub fn gguf(model: &Path) -> Result<GgufWriter> {
    let dir = checkpoint::resolve(model)?;
    let what = "a training run's folder, a checkpoint, or a Hugging Face GPT-2 folder";
    if !dir.is_dir() {
        return Err(Error::NotFound(format!(
            "{}: no such folder (export takes {what})",
            dir.display()
        )));
    }
    if !dir.join("config.json").is_file() {
        return Err(Error::NotFound(format!(
            "{}: no config.json, so not a model folder (export takes {what})",
            dir.display()
        )));
    }
    let hf = HfConfig::open(&dir)?;
    if hf.model_type != "gpt2" {
        return Err(Error::Invalid(format!(
            "{}: model_type `{}`; export writes GPT-2 models only",
            dir.display(),
            hf.model_type
        )));
    }
    let config = Gpt2Config::from_hf(&hf)?;
    let file = ModelFile::open(&dir)?;
    let weights = Weights {
        file: &file,
        quantize: None,
        patch: None,
    };
    let tokenizer = Tokenizer::from_hf_dir(&dir)?;
    let name = model
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "gpt".into());

    let w = GgufWriter::new()
        .alignment(32)
        .kv("general.architecture", Value::String("gpt2".into()))
        .kv("general.name", Value::String(name));
    let w = hyperparameters(w, &config);
    let w = vocabulary(w, &tokenizer, config.vocab_size)
        .map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))?;
    tensors(w, &weights, &config, !hf.tie_word_embeddings)
}

fn hyperparameters(w: GgufWriter, c: &Gpt2Config) -> GgufWriter {
    let u32_of = |x: usize| Value::U32(x as u32);
    w.kv("gpt2.context_length", u32_of(c.context_length))
        .kv("gpt2.embedding_length", u32_of(c.d_model))
        .kv("gpt2.feed_forward_length", u32_of(c.d_ff))
        .kv("gpt2.block_count", u32_of(c.n_layers))
        .kv("gpt2.attention.head_count", u32_of(c.n_heads))
        .kv("gpt2.attention.layer_norm_epsilon", Value::F32(c.norm_eps))
}

/// `tokenizer.ggml.*`: the tokens (padded to `vocab` with unused ones),
/// their types, the merges, the pre-tokenizer and the special ids.
fn vocabulary(mut w: GgufWriter, tok: &Tokenizer, vocab: usize) -> Result<GgufWriter> {
    let texts = tok.vocab_texts();
    if texts.len() > vocab {
        return Err(Error::Invalid(format!(
            "the tokenizer has {} tokens but the model embeds only {vocab}",
            texts.len()
        )));
    }
    let ids = tok.special_ids();
    let kind = |id: usize| match tok.token_kind(id as u32) {
        Some(TokenKind::Normal) => NORMAL,
        Some(TokenKind::Special) => CONTROL,
        Some(TokenKind::UserDefined) => USER_DEFINED,
        _ if ids.unk == Some(id as u32) => UNKNOWN,
        _ => UNUSED,
    };
    let mut tokens = texts.to_vec();
    let mut types: Vec<i32> = (0..texts.len()).map(kind).collect();
    for i in texts.len()..vocab {
        tokens.push(format!("[PAD{i}]"));
        types.push(UNUSED);
    }
    let merges = tok
        .merges()
        .iter()
        .map(|&(a, b)| format!("{} {}", texts[a as usize], texts[b as usize]))
        .collect();
    w = w
        .kv("tokenizer.ggml.model", Value::String("gpt2".into()))
        .kv(
            "tokenizer.ggml.pre",
            Value::String(tok.pre_tokenizer().name().into()),
        )
        .kv("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)))
        .kv("tokenizer.ggml.token_type", Value::Array(Array::I32(types)))
        .kv("tokenizer.ggml.merges", Value::Array(Array::String(merges)));
    for (key, id) in [
        ("bos_token_id", ids.bos),
        ("eos_token_id", ids.eos),
        ("unknown_token_id", ids.unk),
        ("padding_token_id", ids.pad),
    ] {
        if let Some(id) = id {
            w = w.kv(&format!("tokenizer.ggml.{key}"), Value::U32(id));
        }
    }
    Ok(w.kv(
        "tokenizer.ggml.add_bos_token",
        Value::Bool(tok.add_bos_default()),
    ))
}

/// Every weight under its GGUF name, matrices `[out, in]`.
fn tensors(
    mut w: GgufWriter,
    weights: &Weights,
    c: &Gpt2Config,
    untied_head: bool,
) -> Result<GgufWriter> {
    let (d, ff) = (c.d_model, c.d_ff);
    // Checkpoints saved from `GPT2LMHeadModel` put the body under
    // `transformer.`; some saved from `GPT2Model` do not.
    let hf = Naming::HuggingFaceGpt2 {
        prefixed: !weights.has("wte.weight"),
    };
    // (part, layer, suffix, shape: [out, in] for a Conv1D matrix).
    let mut parts = vec![
        (Part::TokenEmbedding, 0, "weight", vec![c.vocab_size, d]),
        (
            Part::PositionEmbedding,
            0,
            "weight",
            vec![c.context_length, d],
        ),
        (Part::OutputNorm, 0, "weight", vec![d]),
        (Part::OutputNorm, 0, "bias", vec![d]),
    ];
    for i in 0..c.n_layers {
        parts.extend([
            (Part::AttnNorm, i, "weight", vec![d]),
            (Part::AttnNorm, i, "bias", vec![d]),
            (Part::AttnQkv, i, "weight", vec![3 * d, d]),
            (Part::AttnQkv, i, "bias", vec![3 * d]),
            (Part::AttnOutput, i, "weight", vec![d, d]),
            (Part::AttnOutput, i, "bias", vec![d]),
            (Part::FfnNorm, i, "weight", vec![d]),
            (Part::FfnNorm, i, "bias", vec![d]),
            (Part::FfnUp, i, "weight", vec![ff, d]),
            (Part::FfnUp, i, "bias", vec![ff]),
            (Part::FfnDown, i, "weight", vec![d, ff]),
            (Part::FfnDown, i, "bias", vec![d]),
        ]);
    }
    let head = hf.name(Part::Output, 0, "weight");
    if untied_head && weights.has(&head) {
        parts.push((Part::Output, 0, "weight", vec![c.vocab_size, d]));
    }
    for (part, layer, suffix, shape) in parts {
        let source = hf.name(part, layer, suffix);
        let target = Naming::Gguf.name(part, layer, suffix);
        let embedding = matches!(
            part,
            Part::TokenEmbedding | Part::PositionEmbedding | Part::Output
        );
        let tensor = match shape[..] {
            [len] => {
                let values = weights.vector(&source, len)?;
                w = w.f32_tensor(&target, &shape, &values);
                continue;
            }
            [rows, cols] if embedding => weights.tensor(&source, &[rows, cols])?,
            [rows, cols] => weights.matrix_transposed(&source, rows, cols)?,
            _ => unreachable!("weights are vectors or matrices"),
        };
        let dtype = tensor.dtype();
        if !matches!(dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Err(Error::Invalid(format!(
                "{}: tensor {source} is {dtype}; export reads f32, f16 and bf16",
                weights.file.path()
            )));
        }
        w = w.tensor(&target, dtype, &shape, tensor.as_bytes()?.to_vec());
    }
    Ok(w)
}
