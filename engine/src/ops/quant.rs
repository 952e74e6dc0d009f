//! Matrix products with weights in any storage type: `y = W x` for one
//! activation vector (decode) or for `T` of them (prefill).
//!
//! Quantized weights are never expanded. The activations are quantized
//! once (to `BlockQ8A`, or `BlockQ8K` for the K-quants) and the dot
//! products run on integers (`backend::cpu::quant_dot`). Output rows are
//! split between the pool's threads in tiles. With several activation rows,
//! each thread packs a tile of weight rows for the GEMM and runs every
//! token over it while it is in cache, so weights are read from memory
//! once.

use crate::backend::cpu::pool::{self, ThreadPool};
use crate::backend::cpu::quant_dot::packed::{PackedBlocks, PackedRows, ROWS};
use crate::backend::cpu::quant_dot::{self as dot, Activations, Kernels, RowKernels};
use crate::backend::cpu::simd::{self, Isa};
use crate::error::{Error, Result};
use crate::ops::launch;
use crate::profile::Cost;
use crate::quant::{cast, f16_to_f32};
use crate::tensor::{DType, Tensor};
use half::{bf16, f16};
use std::ops::Range;

/// `y[n] = Σ_k w[n, k] x[k]` for `w` of shape `[N, K]`, any dtype.
pub fn matvec(w: &Tensor, x: &[f32], y: &mut [f32]) -> Result<()> {
    matvec_with(simd::active(), pool::global(), w, x, y)
}

/// [`matvec`] on an explicit SIMD path and thread pool (tests, benchmarks).
pub fn matvec_with(
    isa: Isa,
    pool: &ThreadPool,
    w: &Tensor,
    x: &[f32],
    y: &mut [f32],
) -> Result<()> {
    product(isa, pool, w, x, 1, y, true)
}

/// `y[t, n] = Σ_k w[n, k] x[t, k]` for `T = t` activation rows, all
/// row-major: `x` is `[T, K]`, `y` is `[T, N]`.
pub fn matmul(w: &Tensor, x: &[f32], t: usize, y: &mut [f32]) -> Result<()> {
    matmul_with(simd::active(), pool::global(), w, x, t, y)
}

/// [`matmul`] on an explicit SIMD path and thread pool.
pub fn matmul_with(
    isa: Isa,
    pool: &ThreadPool,
    w: &Tensor,
    x: &[f32],
    t: usize,
    y: &mut [f32],
) -> Result<()> {
    product(isa, pool, w, x, t, y, false)
}

fn product(
    isa: Isa,
    pool: &ThreadPool,
    w: &Tensor,
    x: &[f32],
    t: usize,
    y: &mut [f32],
    vector: bool,
) -> Result<()> {
    let op = if vector { "matvec" } else { "matmul" };
    let &[n, k] = w.dims() else {
        return Err(Error::shape(format!("{op} weights"), "[N, K]", w.shape()));
    };
    if Some(x.len()) != t.checked_mul(k) {
        return Err(Error::shape(format!("{op} activations"), [t, k], x.len()));
    }
    if Some(y.len()) != t.checked_mul(n) {
        return Err(Error::shape(format!("{op} output"), [t, n], y.len()));
    }
    if !isa.is_supported() {
        return Err(Error::Invalid(format!(
            "{op}: this CPU does not support the {} kernels",
            isa.name()
        )));
    }
    let dtype = w.dtype();
    let bytes = w.as_bytes()?;
    let cost = Cost {
        bytes: (bytes.len() + 4 * (x.len() + y.len())) as u64,
        flops: 2 * (n * k * t) as u64,
    };
    let shapes = || format!("{dtype}{} x f32[{t}, {k}]", w.shape());
    launch(kernel_name(op, dtype), cost, shapes, || {
        if t == 0 || n == 0 {
            return Ok(());
        }
        if k == 0 {
            y.fill(0.0);
            return Ok(());
        }
        let tile = tile_rows(dtype, k);
        crate::quant::with_block!(dtype, B => quantized::<B>(
            isa,
            pool,
            cast(bytes)?,
            k,
            x,
            y,
            tile,
        ), plain => match dtype {
            DType::F16 => float(pool, cast::<f16>(bytes)?, k, x, y, tile, |v| f16_to_f32(*v)),
            DType::BF16 => float(pool, cast::<bf16>(bytes)?, k, x, y, tile, |v| v.to_f32()),
            _ => float(pool, cast::<f32>(bytes)?, k, x, y, tile, |v| *v),
        });
        Ok(())
    })
}

/// `ys[i] = ws[i] x` for several quantized matrices of one type that share
/// the activation vector `x` (a layer's Q, K and V projections, or its gate
/// and up projections), in one launch: `x` is quantized once and the
/// threads split the rows of all the matrices together, so that small
/// matrices do not each pay for a dispatch and a wait.
pub fn matvec_many(ws: &[&Tensor], x: &[f32], ys: &mut [&mut [f32]]) -> Result<()> {
    let isa = simd::active();
    let Some(first) = ws.first() else {
        return Ok(());
    };
    let dtype = first.dtype();
    let k = x.len();
    if ws.len() != ys.len() {
        return Err(Error::Invalid(format!(
            "matvec_many: {} weight matrices but {} outputs",
            ws.len(),
            ys.len()
        )));
    }
    for (w, y) in ws.iter().zip(ys.iter()) {
        if w.dtype() != dtype || !dtype.is_quantized() {
            return Err(Error::DType {
                op: format!("matvec_many (all {dtype}, quantized)"),
                dtype: w.dtype().to_string(),
            });
        }
        if w.dims() != [y.len(), k] {
            return Err(Error::shape("matvec_many weights", [y.len(), k], w.dims()));
        }
    }
    let total_rows: usize = ys.iter().map(|y| y.len()).sum();
    let weight_bytes: usize = ws.iter().map(|w| w.as_bytes().map_or(0, <[u8]>::len)).sum();
    let cost = Cost {
        bytes: (weight_bytes + 4 * (k + total_rows)) as u64,
        flops: 2 * (total_rows * k) as u64,
    };
    let shapes = || {
        let list: Vec<String> = ws.iter().map(|w| w.shape().to_string()).collect();
        format!("{dtype}{{{}}} x f32[1, {k}]", list.join(", "))
    };
    let pool = pool::global();
    launch(kernel_name("matvec", dtype), cost, shapes, || {
        let tile = tile_rows(dtype, k);
        let bytes: Vec<&[u8]> = ws.iter().map(|w| w.as_bytes()).collect::<Result<_>>()?;
        crate::quant::with_block!(dtype, B => many::<B>(isa, pool, &bytes, x, ys, tile), plain => Err(Error::DType {
            op: "matvec_many".into(),
            dtype: dtype.to_string(),
        }))
    })
}

/// [`matvec_many`]'s body for one block type: the rows of all matrices are
/// numbered one after another and split between the threads in tiles; a
/// tile that crosses from one matrix into the next is cut there.
fn many<B: RowKernels>(
    isa: Isa,
    pool: &ThreadPool,
    bytes: &[&[u8]],
    x: &[f32],
    ys: &mut [&mut [f32]],
    tile: usize,
) -> Result<()> {
    let ws: Vec<&[B]> = bytes.iter().map(|b| cast::<B>(b)).collect::<Result<_>>()?;
    let xq = Activations::quantize(isa, B::DTYPE, x);
    // Row ranges of each matrix in the joint numbering.
    let mut starts = Vec::with_capacity(ys.len() + 1);
    starts.push(0);
    for y in ys.iter() {
        starts.push(starts.last().unwrap_or(&0) + y.len());
    }
    let outs: Vec<Out> = ys.iter_mut().map(|y| Out(y.as_mut_ptr())).collect();
    let total = *starts.last().unwrap_or(&0);
    parallel_tiles(pool, total, tile, &|r| {
        let mut at = r.start;
        while at < r.end {
            // The matrix holding row `at`, and the part of `r` inside it.
            let m = starts.partition_point(|&s| s <= at) - 1;
            let end = r.end.min(starts[m + 1]);
            let local = at - starts[m]..end - starts[m];
            let per_row = ws[m].len() / (starts[m + 1] - starts[m]);
            // SAFETY: tiles are disjoint (see `parallel_tiles`), so these
            // rows of matrix m's output are this call's alone.
            let y = unsafe { outs[m].row(0, 0, local.clone()) };
            one_token(
                isa,
                &ws[m][local.start * per_row..local.end * per_row],
                &xq,
                0,
                y,
            );
            at = end;
        }
    });
    Ok(())
}

/// Rows per tile of work: about 16 KiB of weights, in whole groups of
/// eight rows (the SIMD row kernels take eight at a time).
fn tile_rows(dtype: DType, k: usize) -> usize {
    let rows = 16 * 1024 / dtype.bytes_for(k).unwrap_or(1).max(1);
    rows.div_ceil(ROWS).max(1) * ROWS
}

fn kernel_name(op: &str, dtype: DType) -> &'static str {
    let vector = op == "matvec";
    macro_rules! names {
        ($($variant:ident => $stem:literal,)*) => {
            match dtype {
                $(DType::$variant => [concat!("matmul_", $stem), concat!("matvec_", $stem)][vector as usize],)*
            }
        };
    }
    names! {
        F32 => "f32", F16 => "f16", BF16 => "bf16", Q8_0 => "q8_0", Q4_0 => "q4_0",
        Q4_1 => "q4_1", Q5_0 => "q5_0", Q5_1 => "q5_1", Q2_K => "q2_k", Q3_K => "q3_k",
        Q4_K => "q4_k", Q5_K => "q5_k", Q6_K => "q6_k", IQ4_NL => "iq4_nl", IQ4_XS => "iq4_xs",
    }
}

/// `y = w · x` for activation row `token` of `x` (each row `w`'s length).
fn one_token<B: RowKernels>(isa: Isa, w: &[B], x: &Activations, token: usize, y: &mut [f32]) {
    let per_row = w.len() / y.len().max(1);
    match (B::KERNELS, x) {
        (Kernels::Q8a { rows, .. }, Activations::Q8a(x)) => {
            let blocks = per_row * B::DTYPE.block_len() / 32;
            rows(isa, w, &x[token * blocks..(token + 1) * blocks], y)
        }
        (Kernels::Q8k { rows, .. }, Activations::Q8k(x)) => {
            rows(isa, w, &x[token * per_row..(token + 1) * per_row], y)
        }
        _ => unreachable!("activations are quantized for B"),
    }
}

/// From this many activation rows on, weight rows are packed for the GEMM
/// (the results are the same either way). Packing a row of a Q8A format
/// costs about one token's row kernel, and the GEMM takes four tokens at a
/// time; a K-quant row's packing costs about eight.
const GEMM_MIN_TOKENS: usize = 4;
const GEMM_K_MIN_TOKENS: usize = 8;

/// Quantize the activation rows once; then, from [`GEMM_MIN_TOKENS`] rows
/// on ([`GEMM_K_MIN_TOKENS`] for the K-quants) where the SIMD path has the
/// GEMMs, pack each tile of weight rows and
/// run every token over it; otherwise run the row kernel over tiles.
fn quantized<B: RowKernels>(
    isa: Isa,
    pool: &ThreadPool,
    w: &[B],
    k: usize,
    x: &[f32],
    y: &mut [f32],
    tile: usize,
) {
    let t = x.len() / k;
    let n = y.len() / t;
    let per_row = w.len() / n; // weight blocks per row
    let xq = Activations::quantize(isa, B::DTYPE, x);
    let gemm = |min_tokens| t >= min_tokens && dot::has_gemm(isa);
    match (B::KERNELS, &xq) {
        (Kernels::Q8a { pack, gemm: g, .. }, Activations::Q8a(xq)) if gemm(GEMM_MIN_TOKENS) => {
            let units = xq.len() / t;
            // Codes, d and m of one packed unit.
            let group_bytes = units * (256 + 64);
            packed_gemm(
                pool,
                (n, t, y),
                (xq, units),
                group_bytes,
                &|p: &mut PackedBlocks, rows: Range<usize>| {
                    pack(
                        isa,
                        p,
                        &w[rows.start * per_row..rows.end * per_row],
                        per_row,
                    )
                },
                &|p, x4, out| g(isa, p, x4, out),
            )
        }
        (Kernels::Q8k { pack, .. }, Activations::Q8k(xq)) if gemm(GEMM_K_MIN_TOKENS) => {
            packed_gemm(
                pool,
                (n, t, y),
                (xq, per_row),
                per_row * PACKED_GROUP_BYTES,
                &|p: &mut PackedRows, rows: Range<usize>| {
                    pack(p, &w[rows.start * per_row..rows.end * per_row], per_row)
                },
                &|p, x4, out| dot::gemm_k(isa, p, x4, out),
            )
        }
        _ => {
            let out = Out(y.as_mut_ptr());
            parallel_tiles(pool, n, tile, &|r| {
                for ti in 0..t {
                    // SAFETY: rows `r` are this tile's alone (see
                    // `parallel_tiles`).
                    let y = unsafe { out.row(n, ti, r.clone()) };
                    one_token(isa, &w[r.start * per_row..r.end * per_row], &xq, ti, y);
                }
            });
        }
    }
}

/// Bytes of one packed group of eight K-quant rows per super-block (codes,
/// scale and min words, d and m).
const PACKED_GROUP_BYTES: usize = 2048 + 512 + 256 + 64;

/// Packs the weight rows in a range (at most [`ROWS`]) into `P`.
type Pack<'a, P> = dyn Fn(&mut P, Range<usize>) + Sync + 'a;

/// Eight packed rows times four tokens' activations.
type Gemm<'a, P, A> = dyn Fn(&P, [&[A]; 4], &mut [[f32; ROWS]; 4]) + Sync + 'a;

/// Prefill through a packed GEMM: each thread packs a tile of rows (about
/// 192 KiB packed, so that it stays in L2; `group_bytes` is one group of
/// eight rows), then runs every token over it, eight rows by four tokens at
/// a time. `xq` holds `per_token` activation blocks per token.
fn packed_gemm<P: Default, A: Sync>(
    pool: &ThreadPool,
    (n, t, y): (usize, usize, &mut [f32]),
    (xq, per_token): (&[A], usize),
    group_bytes: usize,
    pack: &Pack<P>,
    gemm: &Gemm<P, A>,
) {
    let groups = (192 * 1024 / group_bytes.max(1)).max(1);
    let out = Out(y.as_mut_ptr());
    parallel_tiles(pool, n, groups * ROWS, &|r| {
        let packs: Vec<P> = r
            .clone()
            .step_by(ROWS)
            .map(|first| {
                let mut p = P::default();
                pack(&mut p, first..(first + ROWS).min(r.end));
                p
            })
            .collect();
        let mut four = [[0f32; ROWS]; 4];
        for t0 in (0..t).step_by(4) {
            // Past the last token, repeat it (its results are not stored).
            let token = |i: usize| {
                let ti = (t0 + i).min(t - 1);
                &xq[ti * per_token..(ti + 1) * per_token]
            };
            let x4 = [token(0), token(1), token(2), token(3)];
            for (g, p) in packs.iter().enumerate() {
                gemm(p, x4, &mut four);
                let first = r.start + g * ROWS;
                let rows = first..(first + ROWS).min(r.end);
                for (i, four) in four.iter().enumerate().take(t - t0) {
                    // SAFETY: rows `r` are this tile's alone (see
                    // `parallel_tiles`).
                    let y = unsafe { out.row(n, t0 + i, rows.clone()) };
                    y.copy_from_slice(&four[..rows.len()]);
                }
            }
        }
    });
}

/// Plain float weights: a straightforward f32 dot product per row.
fn float<T: Sync>(
    pool: &ThreadPool,
    w: &[T],
    k: usize,
    x: &[f32],
    y: &mut [f32],
    tile: usize,
    to_f32: impl Fn(&T) -> f32 + Sync,
) {
    parallel_rows(pool, x.len() / k, y, tile, &|r, t, out| {
        let xt = &x[t * k..(t + 1) * k];
        for (o, row) in out
            .iter_mut()
            .zip(w[r.start * k..r.end * k].chunks_exact(k))
        {
            *o = row.iter().zip(xt).map(|(w, x)| to_f32(w) * x).sum();
        }
    });
}

/// The output `y` (`[t, n]`) as a raw pointer that threads may share
/// because each writes only its own rows.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: see `parallel_rows`: threads write disjoint parts.
unsafe impl Sync for Out {}
unsafe impl Send for Out {}

impl Out {
    /// `y[t, rows]` of a `[_, n]` output.
    ///
    /// # Safety
    /// No other thread may access these elements while the slice lives, and
    /// they must lie inside `y`.
    unsafe fn row<'a>(self, n: usize, t: usize, rows: Range<usize>) -> &'a mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(t * n + rows.start), rows.len())
    }
}

/// Fills `out = y[t, rows]` given `(rows, t, out)`.
type TileBody<'a> = dyn Fn(Range<usize>, usize, &mut [f32]) + Sync + 'a;

/// Split the `n` output rows between the pool's threads; each calls
/// `body(rows, t, out)` for tiles of `tile` rows and every activation row
/// `t`, where `out` is `y[t, rows]`.
fn parallel_rows(pool: &ThreadPool, t: usize, y: &mut [f32], tile: usize, body: &TileBody) {
    let n = y.len() / t;
    let out = Out(y.as_mut_ptr());
    parallel_tiles(pool, n, tile, &|rows| {
        for ti in 0..t {
            // SAFETY: `rows` is this tile's alone (see `parallel_tiles`), and
            // `y` is borrowed mutably until this function returns.
            body(rows.clone(), ti, unsafe { out.row(n, ti, rows.clone()) });
        }
    });
}

/// Split `n` output rows into tiles of `tile` rows, which the pool's
/// threads claim as they get free. Different calls of `body` get disjoint
/// ranges, so each may write those rows of the output.
fn parallel_tiles(pool: &ThreadPool, n: usize, tile: usize, body: &(dyn Fn(Range<usize>) + Sync)) {
    pool.for_each(n.div_ceil(tile), &|i| {
        body(i * tile..((i + 1) * tile).min(n))
    });
}
