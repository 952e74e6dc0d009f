//! Every WGSL kernel against its CPU twin (or a plain f64 reference) on
//! random inputs, with sizes that are not multiples of the workgroup or
//! tile sizes. Runs on any adapter; in CI on Mesa's lavapipe.

mod common;

use common::gpu::{run, GpuTest};
use common::Rng;
use monologue::backend::gpu::batch::Batch;
use monologue::backend::gpu::kernels::{self, AttentionBuffers, AttentionDims, RopeTables};
use monologue::backend::gpu::weight::GPU_FORMATS;
use monologue::backend::gpu::{Gpu, GpuOptions, GpuWeight};
use monologue::ops;
use monologue::ops::attention::KvCache;
use monologue::ops::rope::{RopeCache, RopeLayout};
use monologue::tensor::{AlignedBuf, DType, Storage, Tensor};

fn main() {
    let tests: &[GpuTest] = &[
        (
            "matmul_matches_an_f64_reference_in_every_format",
            matmul_matches_an_f64_reference_in_every_format,
        ),
        (
            "tiled_matmul_in_f32_matches_an_f64_reference",
            tiled_matmul_in_f32_matches_an_f64_reference,
        ),
        (
            "tiled_matmul_in_f16_stays_close",
            tiled_matmul_in_f16_stays_close,
        ),
        (
            "matmul_reads_from_a_chosen_first_row",
            matmul_reads_from_a_chosen_first_row,
        ),
        (
            "embedding_dequantizes_rows_exactly",
            embedding_dequantizes_rows_exactly,
        ),
        (
            "weights_cut_into_shards_give_the_same_results",
            weights_cut_into_shards_give_the_same_results,
        ),
        ("rmsnorm_matches_the_cpu", rmsnorm_matches_the_cpu),
        ("layernorm_matches_the_cpu", layernorm_matches_the_cpu),
        (
            "rope_matches_the_cpu_in_both_layouts",
            rope_matches_the_cpu_in_both_layouts,
        ),
        (
            "attention_matches_the_cpu_for_prefill_then_decode",
            attention_matches_the_cpu_for_prefill_then_decode,
        ),
        ("softmax_matches_the_cpu", softmax_matches_the_cpu),
        (
            "elementwise_and_activations_match_the_cpu",
            elementwise_and_activations_match_the_cpu,
        ),
        (
            "argmax_picks_the_first_largest",
            argmax_picks_the_first_largest,
        ),
        (
            "top_k_picks_the_largest_in_the_samplers_order",
            top_k_picks_the_largest_in_the_samplers_order,
        ),
        (
            "bad_operands_are_errors_not_panics",
            bad_operands_are_errors_not_panics,
        ),
        (
            "profiling_records_gpu_kernels",
            profiling_records_gpu_kernels,
        ),
    ];
    run(tests);
}

fn tensor(dtype: DType, values: &[f32], shape: &[usize]) -> Tensor {
    let mut bytes = vec![0u8; dtype.bytes_for(values.len()).unwrap()];
    monologue::quant::quantize(dtype, values, &mut bytes).unwrap();
    Tensor::from_storage(
        Storage::owned(AlignedBuf::from_bytes(&bytes)),
        dtype,
        shape.to_vec(),
    )
    .unwrap()
}

fn submit<'a>(gpu: &'a Gpu, record: impl FnOnce(&mut Batch<'a>)) {
    let mut b = Batch::new(gpu);
    record(&mut b);
    b.submit().unwrap();
}

/// max |a − b| / (max |b| + tiny): one number for "how far off".
fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs())) + 1e-30;
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).abs())
        .fold(0.0, f64::max)
        / scale
}

fn as_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// W · x on the GPU for each (rows, cols, tokens), every format; returns
/// the worst relative error against an f64 product of the same weights.
fn matmul_error(gpu: &Gpu, seed: u64, cases: &[(usize, usize, usize)]) -> f64 {
    let mut rng = Rng::new(seed);
    let mut worst = 0f64;
    for dtype in GPU_FORMATS {
        // Rows of whole blocks: 32 weights, or 256 for the K-quants.
        let k = dtype.block_len().max(32) / 32;
        for &(rows, cols, tokens) in cases {
            let cols = (cols * k).next_multiple_of(32 * k);
            let w = tensor(dtype, &rng.normals(rows * cols), &[rows, cols]);
            let dense = w.to_f32_vec().unwrap(); // what the GPU must multiply by
            let x = rng.normals(tokens * cols);
            let want: Vec<f64> = (0..tokens)
                .flat_map(|t| {
                    let (dense, x) = (&dense, &x);
                    (0..rows).map(move |r| {
                        (0..cols)
                            .map(|c| dense[r * cols + c] as f64 * x[t * cols + c] as f64)
                            .sum()
                    })
                })
                .collect();
            let gw = GpuWeight::upload(gpu, "w", &w).unwrap();
            let gx = gpu.upload_f32("x", &x).unwrap();
            let gy = gpu.zeros("y", 4 * (tokens * rows) as u64).unwrap();
            submit(gpu, |b| {
                kernels::matmul(b, &gw, &gx, 0, tokens, &gy).unwrap()
            });
            let got = gpu.read_f32(&gy, 0, tokens * rows).unwrap();
            let err = rel_err(&got, &want);
            eprintln!("      {dtype} [{rows}, {cols}] x {tokens}: {err:.1e}");
            worst = worst.max(err);
        }
    }
    worst
}

/// Few tokens (decoding, short feeds) go through matvec.wgsl, in f32.
const MATVEC_CASES: [(usize, usize, usize); 4] =
    [(1, 32, 1), (7, 96, 3), (70, 608, 1), (67, 65, 9)];

/// Many tokens go through the tiled matmul.wgsl: sizes on and off its
/// 64-row × 32-token tiles.
const TILED_CASES: [(usize, usize, usize); 5] = [
    (1, 32, 16),
    (64, 32, 32),
    (130, 64, 17),
    (67, 65, 40),
    (200, 96, 64),
];

fn matmul_matches_an_f64_reference_in_every_format(gpu: &Gpu) {
    let err = matmul_error(gpu, 1, &MATVEC_CASES);
    assert!(err < 1e-5, "matvec: error {err}");
}

/// The tiled kernel in f32 tiles (`wgpu-f32`, and every adapter without
/// `shader-f16`): as exact as matvec.
fn tiled_matmul_in_f32_matches_an_f64_reference(_: &Gpu) {
    let options = GpuOptions {
        f32_only: true,
        ..Default::default()
    };
    let gpu = Gpu::open(&options).unwrap();
    assert!(!gpu.has_f16());
    let err = matmul_error(&gpu, 2, &TILED_CASES);
    assert!(err < 1e-5, "tiled matmul, f32 tiles: error {err}");
}

/// With `shader-f16` the tiles hold f16 (an 11-bit mantissa): within a few
/// parts in 10⁴, and measurably not the f32 result, which shows the f16
/// path ran. Lavapipe offers `shader-f16`, so CI runs this.
fn tiled_matmul_in_f16_stays_close(gpu: &Gpu) {
    assert!(
        gpu.has_f16(),
        "this adapter does not offer shader-f16, so the f16 tiles cannot be tested here"
    );
    let err = matmul_error(gpu, 2, &TILED_CASES);
    assert!(err < 2e-3, "tiled matmul, f16 tiles: error {err}");
    assert!(
        err > 1e-5,
        "error {err}: as exact as f32, so the f16 tiles did not run"
    );
}

fn matmul_reads_from_a_chosen_first_row(gpu: &Gpu) {
    let mut rng = Rng::new(2);
    let (rows, cols, tokens) = (9, 64, 5);
    let w = tensor(DType::Q8_0, &rng.normals(rows * cols), &[rows, cols]);
    let x = rng.normals(tokens * cols);
    let gw = GpuWeight::upload(gpu, "w", &w).unwrap();
    let gx = gpu.upload_f32("x", &x).unwrap();
    let all = gpu.zeros("all", 4 * (tokens * rows) as u64).unwrap();
    let last = gpu.zeros("last", 4 * rows as u64).unwrap();
    submit(gpu, |b| {
        kernels::matmul(b, &gw, &gx, 0, tokens, &all).unwrap();
        kernels::matmul(b, &gw, &gx, tokens - 1, 1, &last).unwrap();
    });
    let all = gpu.read_f32(&all, 0, tokens * rows).unwrap();
    let last = gpu.read_f32(&last, 0, rows).unwrap();
    assert_eq!(&all[(tokens - 1) * rows..], &last[..]);
}

fn embedding_dequantizes_rows_exactly(gpu: &Gpu) {
    let mut rng = Rng::new(3);
    let (vocab, d) = (50, 768);
    let ids = [0u32, 49, 7, 7, 23];
    for dtype in GPU_FORMATS {
        let table = tensor(dtype, &rng.normals(vocab * d), &[vocab, d]);
        let mut want = vec![0f32; ids.len() * d];
        ops::embedding::embedding(&table, &ids, &mut want).unwrap();
        let gt = GpuWeight::upload(gpu, "table", &table).unwrap();
        let gids = gpu.upload("ids", bytemuck::cast_slice(&ids)).unwrap();
        let out = gpu.zeros("out", 4 * want.len() as u64).unwrap();
        submit(gpu, |b| {
            kernels::embedding(b, &gt, &gids, ids.len(), &out).unwrap()
        });
        let got = gpu.read_f32(&out, 0, want.len()).unwrap();
        assert_eq!(got, want, "{dtype}");
    }
}

/// A weight too large for one binding is cut into shards of rows (Gemma
/// 3's embedding on WebGPU): with shards of 7 rows (the last one short),
/// the embedding, decode and tiled prefill give exactly what one shard
/// gives, for every format.
fn weights_cut_into_shards_give_the_same_results(gpu: &Gpu) {
    let mut rng = Rng::new(11);
    let (rows, ids) = (50, [0u32, 49, 7, 13, 23, 48]);
    for dtype in GPU_FORMATS {
        let cols = dtype.block_len().max(32) * 2;
        let w = tensor(dtype, &rng.normals(rows * cols), &[rows, cols]);
        let whole = GpuWeight::upload(gpu, "w", &w).unwrap();
        let cut = GpuWeight::upload_in_shards(gpu, "w", &w, 7).unwrap();
        assert_eq!((whole.shards.len(), cut.shards.len()), (1, 8));
        let gids = gpu.upload("ids", bytemuck::cast_slice(&ids)).unwrap();
        for tokens in [1, 40] {
            let x = gpu.upload_f32("x", &rng.normals(tokens * cols)).unwrap();
            let run = |gw: &GpuWeight| {
                let y = gpu.zeros("y", 4 * (tokens * rows) as u64).unwrap();
                let e = gpu.zeros("e", 4 * (ids.len() * cols) as u64).unwrap();
                submit(gpu, |b| {
                    kernels::matmul(b, gw, &x, 0, tokens, &y).unwrap();
                    kernels::embedding(b, gw, &gids, ids.len(), &e).unwrap();
                });
                let y = gpu.read_f32(&y, 0, tokens * rows).unwrap();
                (y, gpu.read_f32(&e, 0, ids.len() * cols).unwrap())
            };
            let (want, got) = (run(&whole), run(&cut));
            assert_eq!(got.0, want.0, "{dtype}: {tokens} tokens");
            assert_eq!(got.1, want.1, "{dtype}: embedding");
        }
    }
}

fn rmsnorm_matches_the_cpu(gpu: &Gpu) {
    let mut rng = Rng::new(4);
    for (rows, cols) in [(1, 37), (3, 576), (5, 1000)] {
        let x = rng.normals(rows * cols);
        let w = rng.normals(cols);
        let mut want = vec![0f32; rows * cols];
        ops::norm::rmsnorm(&x, &w, 1e-5, &mut want).unwrap();
        let (gx, gw) = (
            gpu.upload_f32("x", &x).unwrap(),
            gpu.upload_f32("w", &w).unwrap(),
        );
        let out = gpu.zeros("out", 4 * want.len() as u64).unwrap();
        submit(gpu, |b| {
            kernels::rmsnorm(b, &gx, &gw, &out, rows, cols, 1e-5).unwrap()
        });
        let got = gpu.read_f32(&out, 0, want.len()).unwrap();
        let err = rel_err(&got, &as_f64(&want));
        assert!(err < 1e-5, "[{rows}, {cols}]: {err}");
        // In place, as the per-head q/k norms and Gemma's post-norms run.
        let mut want_in_place = x.clone();
        ops::norm::rmsnorm_inplace(&mut want_in_place, &w, 1e-5).unwrap();
        assert_eq!(want_in_place, want, "the CPU's two forms agree");
        submit(gpu, |b| {
            kernels::rmsnorm_inplace(b, &gx, &gw, rows, cols, 1e-5).unwrap()
        });
        let got = gpu.read_f32(&gx, 0, want.len()).unwrap();
        let err = rel_err(&got, &as_f64(&want));
        assert!(err < 1e-5, "in place [{rows}, {cols}]: {err}");
    }
}

fn layernorm_matches_the_cpu(gpu: &Gpu) {
    let mut rng = Rng::new(5);
    for (rows, cols) in [(1, 37), (3, 768), (4, 1000)] {
        // An offset mean, which a one-pass variance would lose precision on.
        let x: Vec<f32> = rng.normals(rows * cols).iter().map(|v| v + 30.0).collect();
        let (w, bias) = (rng.normals(cols), rng.normals(cols));
        let mut want = vec![0f32; rows * cols];
        ops::norm::layernorm(&x, &w, Some(&bias), 1e-5, &mut want).unwrap();
        let (gx, gw, gb) = (
            gpu.upload_f32("x", &x).unwrap(),
            gpu.upload_f32("w", &w).unwrap(),
            gpu.upload_f32("bias", &bias).unwrap(),
        );
        let out = gpu.zeros("out", 4 * want.len() as u64).unwrap();
        submit(gpu, |b| {
            kernels::layernorm(b, &gx, &gw, &gb, &out, rows, cols, 1e-5).unwrap()
        });
        let got = gpu.read_f32(&out, 0, want.len()).unwrap();
        let err = rel_err(&got, &as_f64(&want));
        assert!(err < 1e-5, "[{rows}, {cols}]: {err}");
    }
}

fn rope_tables(gpu: &Gpu, cache: &RopeCache, neox: bool) -> RopeTables {
    let tables = cache.covering(cache.max_pos()).unwrap();
    RopeTables {
        cos: gpu.upload_f32("cos", tables.cos()).unwrap(),
        sin: gpu.upload_f32("sin", tables.sin()).unwrap(),
        half: cache.rot_dim() / 2,
        max_pos: cache.max_pos(),
        neox,
    }
}

fn rope_matches_the_cpu_in_both_layouts(gpu: &Gpu) {
    let mut rng = Rng::new(5);
    let (tokens, heads, head_dim, pos0) = (3, 5, 40, 11);
    for (layout, rot) in [
        (RopeLayout::Interleaved, 40),
        (RopeLayout::NeoX, 40),
        (RopeLayout::NeoX, 24),
    ] {
        let cache = RopeCache::new(10000.0, rot, 64).unwrap();
        let x = rng.normals(tokens * heads * head_dim);
        let mut want = x.clone();
        let positions: Vec<usize> = (pos0..pos0 + tokens).collect();
        ops::rope::rope(&mut want, &positions, heads, head_dim, layout, &cache).unwrap();
        let tables = rope_tables(gpu, &cache, layout == RopeLayout::NeoX);
        let gx = gpu.upload_f32("x", &x).unwrap();
        submit(gpu, |b| {
            kernels::rope(b, &gx, &tables, tokens, heads, head_dim, pos0).unwrap()
        });
        let got = gpu.read_f32(&gx, 0, x.len()).unwrap();
        let err = rel_err(&got, &as_f64(&want));
        assert!(err < 1e-6, "{layout:?} rot {rot}: {err}");
    }
}

fn attention_matches_the_cpu_for_prefill_then_decode(gpu: &Gpu) {
    let mut rng = Rng::new(6);
    // Plain causal attention, then a sliding window shorter than the
    // prefill with its own score scale (Gemma 3's local layers).
    let windowed = ops::attention::Scope {
        scale: 0.2,
        window: Some(24),
    };
    for scope in [ops::attention::Scope::causal(40), windowed] {
        attention_case(gpu, &mut rng, scope);
    }
}

fn attention_case(gpu: &Gpu, rng: &mut Rng, scope: ops::attention::Scope) {
    let (heads, kv_heads, hd, capacity) = (6, 2, 40, 80);
    let kv_width = kv_heads * hd;
    let mut cpu_cache = KvCache::new(capacity, kv_heads, hd, DType::F32).unwrap();
    let k_cache = gpu
        .zeros("k cache", 4 * (capacity * kv_width) as u64)
        .unwrap();
    let v_cache = gpu
        .zeros("v cache", 4 * (capacity * kv_width) as u64)
        .unwrap();
    // A 70-token prefill (more keys than a workgroup), then one decode step.
    let mut pos0 = 0;
    for tokens in [70, 1] {
        let q = rng.normals(tokens * heads * hd);
        let k = rng.normals(tokens * kv_width);
        let v = rng.normals(tokens * kv_width);
        let span = pos0 + tokens;
        let mut want = vec![0f32; q.len()];
        let mut want_probs = vec![0f32; tokens * heads * span];
        ops::attention::attention(
            &q,
            &k,
            &v,
            &mut cpu_cache,
            pos0,
            scope,
            &mut want,
            Some(&mut want_probs),
        )
        .unwrap();
        let (gq, gk, gv) = (
            gpu.upload_f32("q", &q).unwrap(),
            gpu.upload_f32("k", &k).unwrap(),
            gpu.upload_f32("v", &v).unwrap(),
        );
        let scores = gpu.zeros("scores", 4 * want_probs.len() as u64).unwrap();
        let out = gpu.zeros("out", 4 * q.len() as u64).unwrap();
        let dims = AttentionDims {
            tokens,
            heads,
            kv_heads,
            head_dim: hd,
            pos0,
            scale: scope.scale,
            window: scope.window,
            cache_rows: 0,
        };
        let buffers = AttentionBuffers {
            q: &gq,
            k_new: &gk,
            v_new: &gv,
            k_cache: &k_cache,
            v_cache: &v_cache,
            scores: &scores,
            out: &out,
        };
        submit(gpu, |b| kernels::attention(b, dims, &buffers).unwrap());
        let got = gpu.read_f32(&out, 0, q.len()).unwrap();
        let probs = gpu.read_f32(&scores, 0, want_probs.len()).unwrap();
        let err = rel_err(&got, &as_f64(&want));
        assert!(
            err < 1e-5,
            "{scope:?} {tokens} tokens at {pos0}: output error {err}"
        );
        let err = rel_err(&probs, &as_f64(&want_probs));
        assert!(
            err < 1e-5,
            "{scope:?} {tokens} tokens at {pos0}: probability error {err}"
        );
        pos0 += tokens;
    }
}

fn softmax_matches_the_cpu(gpu: &Gpu) {
    let mut rng = Rng::new(7);
    let (rows, cols) = (4, 300);
    let x: Vec<f32> = rng.normals(rows * cols).iter().map(|v| v * 8.0).collect();
    let mut want = x.clone();
    ops::softmax::softmax(&mut want, cols).unwrap();
    let gx = gpu.upload_f32("x", &x).unwrap();
    submit(gpu, |b| kernels::softmax(b, &gx, rows, cols).unwrap());
    let got = gpu.read_f32(&gx, 0, x.len()).unwrap();
    let err = rel_err(&got, &as_f64(&want));
    assert!(err < 1e-5, "{err}");
}

fn elementwise_and_activations_match_the_cpu(gpu: &Gpu) {
    let mut rng = Rng::new(8);
    let (len, cols) = (6 * 77, 77);
    let (x, y, bias) = (rng.normals(len), rng.normals(len), rng.normals(cols));
    let gx = gpu.upload_f32("x", &x).unwrap();
    let gy = gpu.upload_f32("y", &y).unwrap();
    let gb = gpu.upload_f32("bias", &bias).unwrap();
    // x + y, then + bias on every row, then swiglu with y, gelu, × 1.7
    // and geglu with y.
    submit(gpu, |b| {
        kernels::add(b, &gx, &gy, len).unwrap();
        kernels::add_rows(b, &gx, &gb, len, cols).unwrap();
        kernels::swiglu(b, &gx, &gy, len).unwrap();
        kernels::gelu(b, &gx, len).unwrap();
        kernels::scale(b, &gx, 1.7, len).unwrap();
        kernels::geglu(b, &gx, &gy, len).unwrap();
    });
    let mut want = x.clone();
    ops::elementwise::add_inplace(&mut want, &y).unwrap();
    for row in want.chunks_exact_mut(cols) {
        ops::elementwise::add_inplace(row, &bias).unwrap();
    }
    ops::activation::swiglu_inplace(&mut want, &y).unwrap();
    ops::activation::gelu(&mut want);
    ops::elementwise::scale(&mut want, 1.7);
    ops::activation::geglu_inplace(&mut want, &y).unwrap();
    let got = gpu.read_f32(&gx, 0, len).unwrap();
    let err = rel_err(&got, &as_f64(&want));
    assert!(err < 1e-5, "{err}");
}

fn argmax_picks_the_first_largest(gpu: &Gpu) {
    let mut rng = Rng::new(9);
    let (rows, cols) = (3, 1000);
    let mut x = rng.normals(rows * cols);
    // Row 1: a tie between 700 and 300 → 300; row 2: the last column.
    x[cols + 300] = 50.0;
    x[cols + 700] = 50.0;
    x[2 * cols + cols - 1] = 60.0;
    let gx = gpu.upload_f32("x", &x).unwrap();
    let best = gpu.zeros("best", 4 * rows as u64).unwrap();
    submit(gpu, |b| kernels::argmax(b, &gx, &best, rows, cols).unwrap());
    let got: Vec<u32> = bytemuck::pod_collect_to_vec(&gpu.read(&best, 0, 4 * rows as u64).unwrap());
    let want: Vec<u32> = x
        .chunks_exact(cols)
        .map(monologue::generate::argmax)
        .collect();
    assert_eq!(got, want);
    assert_eq!(&got[1..], &[300, 999]);
}

fn top_k_picks_the_largest_in_the_samplers_order(gpu: &Gpu) {
    let mut rng = Rng::new(10);
    let cols = 1000;
    // Rounded to tenths: many ties, broken by the lower index.
    let x: Vec<f32> = rng
        .normals(cols)
        .iter()
        .map(|v| (v * 10.0).round() / 10.0)
        .collect();
    let gx = gpu.upload_f32("x", &x).unwrap();
    for k in [1, 7, 40, 256] {
        let picks = gpu.zeros("picks", 8 * k as u64).unwrap();
        submit(gpu, |b| kernels::top_k(b, &gx, &picks, cols, k).unwrap());
        let words: Vec<u32> =
            bytemuck::pod_collect_to_vec(&gpu.read(&picks, 0, 8 * k as u64).unwrap());
        let got: Vec<(u32, f32)> = (0..k)
            .map(|j| (words[j], f32::from_bits(words[k + j])))
            .collect();
        assert_eq!(got, monologue::generate::top_k(&x, k), "k = {k}");
    }
    let picks = gpu.zeros("picks", 8).unwrap();
    let mut b = Batch::new(gpu);
    let err = kernels::top_k(&mut b, &gx, &picks, cols, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("k = 0"), "{err}");
}

fn bad_operands_are_errors_not_panics(gpu: &Gpu) {
    let w = tensor(DType::Q8_0, &vec![0.5; 64 * 32], &[64, 32]);
    let gw = GpuWeight::upload(gpu, "w", &w).unwrap();
    let small = gpu.zeros("small", 16).unwrap();
    let mut b = Batch::new(gpu);
    let err = kernels::matmul(&mut b, &gw, &small, 0, 1, &small)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("matmul input") && err.contains("smaller"),
        "{err}"
    );
}

fn profiling_records_gpu_kernels(gpu: &Gpu) {
    let x = gpu.upload_f32("x", &[1.0; 300]).unwrap();
    let y = gpu.upload_f32("y", &[2.0; 300]).unwrap();
    monologue::profile::start();
    submit(gpu, |b| {
        kernels::add(b, &x, &y, 300).unwrap();
        kernels::softmax(b, &x, 3, 100).unwrap();
    });
    let profile = monologue::profile::stop();
    let rows = profile.summary();
    let names: Vec<&str> = rows.iter().map(|r| r.kernel.as_str()).collect();
    assert!(
        names.contains(&"add") && names.contains(&"softmax"),
        "{names:?}"
    );
    let backend = if gpu.has_timestamps() {
        "wgpu"
    } else {
        "wgpu-wall"
    };
    assert!(
        rows.iter().all(|r| r.backend == backend),
        "{:?}",
        rows.iter().map(|r| &r.backend).collect::<Vec<_>>()
    );
    assert!(rows.iter().all(|r| r.total_ms > 0.0));
    let got = gpu.read_f32(&x, 0, 3).unwrap();
    assert!(
        (got[0] - 0.01).abs() < 1e-6,
        "softmax of 100 equal values: {got:?}"
    );
}
