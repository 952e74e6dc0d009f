//! Why decode quantizes activations to 8 bits: speed and accuracy of the
//! two ways to multiply a quantized weight matrix by a vector, on SmolLM2's
//! real weights and the real activations that reach them.
//!
//! - `q8a`: the engine's kernel. The activation vector is quantized once to
//!   8-bit blocks (`Q8A`, as llama.cpp does) and the dot products run on
//!   integers.
//! - `f32`: activations kept in f32; each weight row is expanded to f32 in
//!   a cache-resident buffer and dotted with the SIMD f32 kernel.
//!
//! Accuracy is the relative RMS error against an f64 product of the same
//! (dequantized) weights and the exact activations; speed is the median of
//! many products, weights read from a warm cache (these matrices are small).
//!
//!     cargo run --release -p monologue --example activation_precision [MODEL.gguf]

use monologue::backend::cpu::{pool, simd, vector};
use monologue::bench::median_seconds;
use monologue::inspect::run_with_cache;
use monologue::io::ModelFile;
use monologue::model::LoadOptions;
use monologue::quant;
use monologue::tensor::Tensor;
use monologue::LanguageModel;
use std::sync::Mutex;

const TEXT: &str = "The Eiffel Tower, completed in 1889, stands on the Champ de Mars in Paris. \
    Engineers at the time argued about its 7,300 tonnes of wrought iron.";

/// `y = W x` with f32 activations: expand each row, then a SIMD dot.
fn matvec_f32_activations(w: &Tensor, x: &[f32], y: &mut [f32]) {
    let (n, k) = (w.dims()[0], w.dims()[1]);
    let row_bytes = w.dtype().bytes_for(k).unwrap();
    let bytes = w.as_bytes().unwrap();
    let isa = simd::active();
    let pool = pool::global();
    let parts: Vec<Mutex<&mut [f32]>> = {
        let threads = pool.threads();
        let mut rest = y;
        let mut parts = Vec::new();
        for t in 0..threads {
            let r = pool::split_range(n, t, threads, 16);
            let (mine, tail) = rest.split_at_mut(r.len());
            parts.push(Mutex::new(mine));
            rest = tail;
        }
        parts
    };
    pool.run(&|part, threads| {
        let rows = pool::split_range(n, part, threads, 16);
        let mut out = parts[part].lock().unwrap();
        let mut row = vec![0f32; k];
        for (i, r) in rows.enumerate() {
            quant::dequantize(
                w.dtype(),
                &bytes[r * row_bytes..(r + 1) * row_bytes],
                &mut row,
            )
            .unwrap();
            out[i] = vector::dot(isa, &row, x);
        }
    });
}

fn rel_rms(ours: &[f32], exact: &[f64]) -> f64 {
    let err: f64 = ours
        .iter()
        .zip(exact)
        .map(|(&a, &b)| (a as f64 - b).powi(2))
        .sum();
    let norm: f64 = exact.iter().map(|b| b * b).sum();
    (err / norm).sqrt()
}

/// What rounding the weights themselves costs, for scale: Gaussian weights
/// `[n, k]` quantized to `dtype`, applied to `x`, against the f32 weights.
fn weight_rounding_error(dtype: monologue::DType, n: usize, x: &[f32]) -> f64 {
    let k = x.len();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ((seed >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let weights: Vec<f32> = (0..n * k)
        .map(|_| {
            ((-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos()) as f32
        })
        .collect();
    let mut bytes = vec![0u8; dtype.bytes_for(n * k).unwrap()];
    quant::quantize(dtype, &weights, &mut bytes).unwrap();
    let mut rounded = vec![0f32; n * k];
    quant::dequantize(dtype, &bytes, &mut rounded).unwrap();
    let product = |w: &[f32]| -> Vec<f64> {
        w.chunks(k)
            .map(|row| row.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum())
            .collect()
    };
    let exact = product(&weights);
    let ours: Vec<f32> = product(&rounded).iter().map(|&v| v as f32).collect();
    rel_rms(&ours, &exact)
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "smollm2".into());
    let lm = LanguageModel::load(&path, &LoadOptions::default()).expect("model");
    let file = ModelFile::open(&lm.path).expect("model file");
    let ids = lm.encode(TEXT);
    let eps = file
        .metadata()
        .get_f32("llama.attention.layer_norm_rms_epsilon")
        .unwrap_or(1e-5);
    // The inputs of the projections, as the model computes them: the normed
    // residual stream enters q/k/v and gate/up; attn.z enters the output
    // projection; mlp.hidden enters the down projection.
    let (_, cache) = run_with_cache(
        &*lm.model,
        &ids,
        &[
            "blocks.*.attn.z",
            "blocks.*.mlp.hidden",
            "blocks.*.resid_mid",
        ],
    )
    .expect("cache");
    println!(
        "SIMD path {}, {} threads, {} tokens of real activations\n",
        simd::active().name(),
        pool::global().threads(),
        ids.len()
    );
    println!("| weight | dtype | shape | q8a rel. error | f32 rel. error | q8a µs | f32 µs | f32 / q8a time |");
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    let mut weight_errors = Vec::new();
    for layer in [2usize, 15, 28] {
        for (weight, input) in [
            ("attn_output", format!("blocks.{layer}.attn.z")),
            ("ffn_down", format!("blocks.{layer}.mlp.hidden")),
            ("ffn_up", format!("blocks.{layer}.resid_mid")),
        ] {
            let name = format!("blk.{layer}.{weight}.weight");
            let w = file.tensor(&name).expect("weight");
            let (n, k) = (w.dims()[0], w.dims()[1]);
            let mut acts = cache.get(&input).unwrap().to_f32_vec().unwrap();
            if weight == "ffn_up" {
                // The feed-forward block reads the normed residual stream.
                let norm = file
                    .tensor(&format!("blk.{layer}.ffn_norm.weight"))
                    .unwrap();
                let raw = acts.clone();
                monologue::ops::norm::rmsnorm(&raw, norm.as_f32().unwrap(), eps, &mut acts)
                    .unwrap();
            }
            let mut dense = vec![0f32; n * k];
            quant::dequantize(w.dtype(), w.as_bytes().unwrap(), &mut dense).unwrap();
            let (mut e_q8a, mut e_f32) = (0.0, 0.0);
            let (mut y_q8a, mut y_f32) = (vec![0f32; n], vec![0f32; n]);
            for x in acts.chunks(k) {
                let exact: Vec<f64> = dense
                    .chunks(k)
                    .map(|row| row.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum())
                    .collect();
                monologue::ops::quant::matvec(&w, x, &mut y_q8a).unwrap();
                matvec_f32_activations(&w, x, &mut y_f32);
                e_q8a += rel_rms(&y_q8a, &exact);
                e_f32 += rel_rms(&y_f32, &exact);
            }
            let rows = (acts.len() / k) as f64;
            let x = &acts[..k];
            let t_q8a = median_seconds(200, || {
                monologue::ops::quant::matvec(&w, x, &mut y_q8a).unwrap();
            });
            let t_f32 = median_seconds(200, || matvec_f32_activations(&w, x, &mut y_f32));
            if layer == 15 {
                weight_errors.push((name.clone(), weight_rounding_error(w.dtype(), n, x)));
            }
            println!(
                "| {name} | {} | [{n}, {k}] | {:.2e} | {:.2e} | {:.1} | {:.1} | {:.2}× |",
                w.dtype(),
                e_q8a / rows,
                e_f32 / rows,
                t_q8a * 1e6,
                t_f32 * 1e6,
                t_f32 / t_q8a
            );
        }
    }
    println!("\nFor scale, rounding Gaussian weights of the same shape and type, f32 activations:");
    for (name, e) in weight_errors {
        println!("  {name}: {e:.2e}");
    }
}
