//! Typed launches of the WGSL kernels: each checks its operands, fills its
//! uniform block and records one dispatch. They mirror the CPU twins in
//! `crate::ops`, under the same names in the profile.

use super::batch::{bind, Batch, Bind};
use super::shaders::KernelId;
use super::weight::{GpuWeight, Shard};
use crate::error::{Error, Result};
use crate::profile::Cost;
use wgpu::Buffer;

/// Threads per workgroup of the one-dimensional kernels.
const WG: usize = 64;

fn groups_1d(n: usize) -> [u32; 3] {
    [n.div_ceil(WG) as u32, 1, 1]
}

fn u(n: usize) -> u32 {
    n as u32
}

/// Fails unless `buffer` holds at least `len` f32 values.
fn check_len(what: &str, buffer: &Buffer, len: usize) -> Result<()> {
    if buffer.size() < 4 * len as u64 {
        return Err(Error::Invalid(format!(
            "{what}: buffer of {} bytes is smaller than the {len} values it must hold",
            buffer.size()
        )));
    }
    Ok(())
}

/// The weight's buffers at their slots (quants at 0, scales at 3).
fn weight_binds(shard: &Shard) -> Vec<Bind> {
    let mut binds = vec![bind(0, &shard.quants)];
    if let Some(s) = &shard.scales {
        binds.push(bind(3, s));
    }
    binds
}

/// Tokens from which a product goes through the tiled kernel (weights
/// read once per 32 tokens) rather than matvec's (once per 8).
const TILED_FROM: usize = 16;

/// `y[t, :] = W · x[first + t, :]` for `tokens` rows of x: matvec.wgsl for
/// a few tokens (decoding), the tiled matmul.wgsl for more (prefill).
pub fn matmul(
    b: &mut Batch<'_>,
    w: &GpuWeight,
    x: &Buffer,
    first: usize,
    tokens: usize,
    y: &Buffer,
) -> Result<()> {
    check_len("matmul input", x, (first + tokens) * w.cols)?;
    check_len("matmul output", y, tokens * w.rows)?;
    let tiled = tokens >= TILED_FROM;
    // 64 rows per workgroup, the workgroups spread over x and y.
    let (per_group, tokens_per_group) = if tiled { (64, 32) } else { (WG, 8) };
    let most = b.gpu().limits.max_compute_workgroups_per_dimension as usize;
    let (name, kernel) = if tiled {
        let precision = if b.gpu().has_f16() {
            "tile_f16"
        } else {
            "tile_f32"
        };
        let kernel = KernelId::with_format("matmul", "main", w.format());
        ("matmul", kernel.in_precision(precision))
    } else {
        (
            "matvec",
            KernelId::with_format("matvec", "main", w.format()),
        )
    };
    // One dispatch per shard, each filling its columns of y.
    for shard in &w.shards {
        let workgroups = shard.rows.div_ceil(per_group);
        let grid_x = workgroups.min(most);
        let mut binds = weight_binds(shard);
        binds.push(bind(1, x));
        binds.push(bind(2, y));
        let shard_bytes = w.dtype.bytes_for(shard.rows * w.cols).unwrap_or(0) as u64;
        let cost = Cost {
            bytes: shard_bytes * tokens.div_ceil(tokens_per_group) as u64
                + 4 * (tokens * (shard.rows + w.cols)) as u64,
            flops: 2 * (tokens * shard.rows * w.cols) as u64,
        };
        let params = [
            u(shard.rows),
            u(w.cols),
            u(tokens),
            u(grid_x),
            u(first),
            u(w.rows),
            u(shard.first_row),
        ];
        b.dispatch(
            name,
            kernel,
            binds,
            &params,
            [
                u(grid_x),
                u(workgroups.div_ceil(grid_x)),
                u(tokens.div_ceil(tokens_per_group)),
            ],
            cost,
            || {
                format!(
                    "{}[{}, {}] x f32[{tokens}, {}]",
                    w.dtype.name(),
                    shard.rows,
                    w.cols,
                    w.cols
                )
            },
        )?;
    }
    Ok(())
}

/// `out[t, :] = table[ids[t], :]`; `ids` holds `tokens` u32 ids, each
/// already checked to be below the table's rows.
pub fn embedding(
    b: &mut Batch<'_>,
    table: &GpuWeight,
    ids: &Buffer,
    tokens: usize,
    out: &Buffer,
) -> Result<()> {
    check_len("embedding output", out, tokens * table.cols)?;
    let blocks = tokens * table.cols / 32;
    // One dispatch per shard; each writes the tokens whose rows it holds.
    for shard in &table.shards {
        let mut binds = weight_binds(shard);
        binds.push(bind(1, ids));
        binds.push(bind(2, out));
        b.dispatch(
            "embedding",
            KernelId::with_format("embedding", "main", table.format()),
            binds,
            &[u(table.cols), u(tokens), u(shard.first_row), u(shard.rows)],
            groups_1d(blocks),
            Cost {
                bytes: 8 * (tokens * table.cols) as u64 / table.shards.len() as u64,
                flops: 0,
            },
            || {
                format!(
                    "{}[{}, {}] x {tokens} ids",
                    table.dtype.name(),
                    shard.rows,
                    table.cols
                )
            },
        )?;
    }
    Ok(())
}

/// RMSNorm of `rows` rows of `cols`.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm(
    b: &mut Batch<'_>,
    x: &Buffer,
    weight: &Buffer,
    out: &Buffer,
    rows: usize,
    cols: usize,
    eps: f32,
) -> Result<()> {
    check_len("rmsnorm input", x, rows * cols)?;
    check_len("rmsnorm weight", weight, cols)?;
    check_len("rmsnorm output", out, rows * cols)?;
    b.dispatch(
        "rmsnorm",
        KernelId::new("norm", "rmsnorm"),
        vec![bind(0, x), bind(1, weight), bind(2, out)],
        &[u(cols), eps.to_bits()],
        [u(rows), 1, 1],
        Cost {
            bytes: 4 * (2 * rows * cols + cols) as u64,
            flops: 4 * (rows * cols) as u64,
        },
        || format!("f32[{rows}, {cols}]"),
    )
}

/// RMSNorm of `rows` rows of `cols` in `x`, in place (per-head q/k norms).
pub fn rmsnorm_inplace(
    b: &mut Batch<'_>,
    x: &Buffer,
    weight: &Buffer,
    rows: usize,
    cols: usize,
    eps: f32,
) -> Result<()> {
    check_len("rmsnorm input", x, rows * cols)?;
    check_len("rmsnorm weight", weight, cols)?;
    b.dispatch(
        "rmsnorm",
        KernelId::new("norm", "rmsnorm_in_place"),
        vec![bind(1, weight), bind(2, x)],
        &[u(cols), eps.to_bits()],
        [u(rows), 1, 1],
        Cost {
            bytes: 4 * (2 * rows * cols + cols) as u64,
            flops: 4 * (rows * cols) as u64,
        },
        || format!("f32[{rows}, {cols}]"),
    )
}

/// LayerNorm of `rows` rows of `cols`, with its scale and bias.
#[allow(clippy::too_many_arguments)]
pub fn layernorm(
    b: &mut Batch<'_>,
    x: &Buffer,
    weight: &Buffer,
    bias: &Buffer,
    out: &Buffer,
    rows: usize,
    cols: usize,
    eps: f32,
) -> Result<()> {
    check_len("layernorm input", x, rows * cols)?;
    check_len("layernorm weight", weight, cols)?;
    check_len("layernorm bias", bias, cols)?;
    check_len("layernorm output", out, rows * cols)?;
    b.dispatch(
        "layernorm",
        KernelId::new("norm", "layernorm"),
        vec![bind(0, x), bind(1, weight), bind(2, out), bind(3, bias)],
        &[u(cols), eps.to_bits()],
        [u(rows), 1, 1],
        Cost {
            bytes: 4 * (2 * rows * cols + 2 * cols) as u64,
            flops: 7 * (rows * cols) as u64,
        },
        || format!("f32[{rows}, {cols}]"),
    )
}

/// Where rotary embedding reads its angles: the CPU twin's tables.
pub struct RopeTables {
    pub cos: Buffer,
    pub sin: Buffer,
    pub half: usize,
    pub max_pos: usize,
    pub neox: bool,
}

/// Rotary embedding in place on `x = [tokens, heads, head_dim]` at
/// positions `pos0..pos0 + tokens`.
pub fn rope(
    b: &mut Batch<'_>,
    x: &Buffer,
    tables: &RopeTables,
    tokens: usize,
    heads: usize,
    head_dim: usize,
    pos0: usize,
) -> Result<()> {
    check_len("rope input", x, tokens * heads * head_dim)?;
    if pos0 + tokens > tables.max_pos {
        return Err(Error::Invalid(format!(
            "rope: position {} is beyond the {} positions the table was built for",
            pos0 + tokens - 1,
            tables.max_pos
        )));
    }
    let pairs = tokens * heads * tables.half;
    b.dispatch(
        "rope",
        KernelId::new("rope", "main"),
        vec![bind(0, x), bind(1, &tables.cos), bind(2, &tables.sin)],
        &[
            u(tokens),
            u(heads),
            u(head_dim),
            u(tables.half),
            u(tables.neox as usize),
            u(pos0),
        ],
        groups_1d(pairs),
        Cost {
            bytes: 24 * pairs as u64,
            flops: 6 * pairs as u64,
        },
        || format!("f32[{tokens}, {heads}, {head_dim}] rot {}", 2 * tables.half),
    )
}

/// The shapes of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct AttentionDims {
    pub tokens: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub pos0: usize,
    /// The factor on every score (usually 1/√head_dim).
    pub scale: f32,
    /// A sliding window: each query sees only its last `window` keys.
    pub window: Option<usize>,
    /// Rows of the key/value cache: position `p` lives in row `p % rows`
    /// (a sliding-window layer's cache holds only its window and a chunk); 0 means one row per position.
    pub cache_rows: usize,
}

impl AttentionDims {
    pub fn span(&self) -> usize {
        self.pos0 + self.tokens
    }

    /// (query, key) pairs the causal mask (and window) lets through, over
    /// all heads.
    fn pairs(&self) -> u64 {
        let seen = |t: usize| {
            let end = self.pos0 + t + 1;
            end - self.window.map_or(0, |w| end.saturating_sub(w))
        };
        (self.heads * (0..self.tokens).map(seen).sum::<usize>()) as u64
    }

    /// The operands, as the profile shows them.
    fn shapes(&self) -> String {
        format!(
            "q f32[{}, {}, {}] kv f32[{}, {}, {}]",
            self.tokens,
            self.heads,
            self.head_dim,
            self.span(),
            self.kv_heads,
            self.head_dim
        )
    }

    /// The cache's rows: `cache_rows`, or one per position.
    fn rows(&self) -> usize {
        if self.cache_rows == 0 {
            self.span()
        } else {
            self.cache_rows
        }
    }

    fn params(&self) -> [u32; 12] {
        let scale = self.scale;
        // 0 means no window (a window of 0 keys is refused).
        let window = self.window.map_or(0, u);
        [
            u(self.tokens),
            u(self.heads),
            u(self.kv_heads),
            u(self.head_dim),
            u(self.pos0),
            u(self.span()),
            scale.to_bits(),
            window,
            u(self.rows()),
            0,
            0,
            0,
        ]
    }
}

/// The buffers of one layer's attention.
pub struct AttentionBuffers<'a> {
    pub q: &'a Buffer,
    pub k_new: &'a Buffer,
    pub v_new: &'a Buffer,
    pub k_cache: &'a Buffer,
    pub v_cache: &'a Buffer,
    /// `[tokens, heads, span]`: scores, then probabilities.
    pub scores: &'a Buffer,
    pub out: &'a Buffer,
}

/// Causal grouped-query attention of the new tokens over the cache, which
/// first receives their keys and values.
pub fn attention(b: &mut Batch<'_>, d: AttentionDims, buf: &AttentionBuffers<'_>) -> Result<()> {
    attention_probabilities(b, d, buf)?;
    attention_mix(b, d, buf)
}

/// Fails unless the heads divide evenly and every buffer holds what the
/// two halves of [`attention`] read and write.
fn check_attention(d: AttentionDims, buf: &AttentionBuffers<'_>) -> Result<()> {
    if d.heads == 0 || d.kv_heads == 0 || !d.heads.is_multiple_of(d.kv_heads) || d.tokens == 0 {
        return Err(Error::Invalid(format!(
            "attention: {} heads must be a positive multiple of {} key/value heads, over at least one token",
            d.heads, d.kv_heads
        )));
    }
    if d.window == Some(0) {
        return Err(Error::Invalid(
            "attention: a sliding window of 0 keys leaves nothing to attend to".into(),
        ));
    }
    // Wrapping rows must still hold every key the chunk's queries see.
    let needed = match d.window {
        Some(w) => (w + d.tokens - 1).min(d.span()),
        None => d.span(),
    };
    if d.rows() < needed {
        return Err(Error::Invalid(format!(
            "attention: a cache of {} rows cannot hold the {needed} keys {} queries at position {} see",
            d.rows(),
            d.tokens,
            d.pos0
        )));
    }
    let kv_width = d.kv_heads * d.head_dim;
    let rows = d.tokens * d.heads;
    check_len("attention queries", buf.q, rows * d.head_dim)?;
    check_len("attention new keys", buf.k_new, d.tokens * kv_width)?;
    check_len("attention new values", buf.v_new, d.tokens * kv_width)?;
    let held = d.rows().min(d.span());
    check_len("attention key cache", buf.k_cache, held * kv_width)?;
    check_len("attention value cache", buf.v_cache, held * kv_width)?;
    check_len("attention scores", buf.scores, rows * d.span())?;
    check_len("attention output", buf.out, rows * d.head_dim)
}

/// The first half of [`attention`]: the new keys and values stored, and
/// each query's softmax over the keys it sees in `buf.scores`
/// (`[tokens, heads, pos0 + tokens]`, exactly zero past the causal limit).
pub fn attention_probabilities(
    b: &mut Batch<'_>,
    d: AttentionDims,
    buf: &AttentionBuffers<'_>,
) -> Result<()> {
    check_attention(d, buf)?;
    let kv_width = d.kv_heads * d.head_dim;
    let rows = d.tokens * d.heads;
    let params = d.params();
    let shapes = || d.shapes();
    b.dispatch(
        "kv_store",
        KernelId::new("attention", "store_kv"),
        vec![
            bind(1, buf.k_cache),
            bind(2, buf.v_cache),
            bind(5, buf.k_new),
            bind(6, buf.v_new),
        ],
        &params,
        groups_1d(d.tokens * kv_width),
        Cost {
            bytes: 16 * (d.tokens * kv_width) as u64,
            flops: 0,
        },
        shapes,
    )?;
    let pairs = d.pairs();
    b.dispatch(
        "attention_scores",
        KernelId::new("attention", "score"),
        vec![bind(0, buf.q), bind(1, buf.k_cache), bind(3, buf.scores)],
        &params,
        [d.span().div_ceil(WG) as u32, u(rows), 1],
        Cost {
            bytes: 4 * (rows * d.head_dim + d.span() * kv_width + rows * d.span()) as u64,
            flops: 2 * pairs * d.head_dim as u64,
        },
        shapes,
    )?;
    softmax(b, buf.scores, rows, d.span())
}

/// The second half of [`attention`]: each head's mix of the cached values
/// weighted by the probabilities in `buf.scores`.
pub fn attention_mix(
    b: &mut Batch<'_>,
    d: AttentionDims,
    buf: &AttentionBuffers<'_>,
) -> Result<()> {
    check_attention(d, buf)?;
    let kv_width = d.kv_heads * d.head_dim;
    let rows = d.tokens * d.heads;
    let params = d.params();
    let pairs = d.pairs();
    let shapes = || d.shapes();
    b.dispatch(
        "attention_mix",
        KernelId::new("attention", "mix"),
        vec![bind(2, buf.v_cache), bind(3, buf.scores), bind(7, buf.out)],
        &params,
        [u(rows), 1, 1],
        Cost {
            bytes: 4 * (rows * d.span() + d.span() * kv_width + rows * d.head_dim) as u64,
            flops: 2 * pairs * d.head_dim as u64,
        },
        shapes,
    )
}

/// Softmax of each of `rows` rows of `cols`, in place.
pub fn softmax(b: &mut Batch<'_>, x: &Buffer, rows: usize, cols: usize) -> Result<()> {
    check_len("softmax input", x, rows * cols)?;
    b.dispatch(
        "softmax",
        KernelId::new("softmax", "main"),
        vec![bind(0, x)],
        &[u(cols)],
        [u(rows), 1, 1],
        Cost {
            bytes: 12 * (rows * cols) as u64,
            flops: 5 * (rows * cols) as u64,
        },
        || format!("f32[{rows}, {cols}]"),
    )
}

/// `x += y` over `len` values.
pub fn add(b: &mut Batch<'_>, x: &Buffer, y: &Buffer, len: usize) -> Result<()> {
    check_len("add", x, len)?;
    check_len("add", y, len)?;
    b.dispatch(
        "add",
        KernelId::new("elementwise", "add"),
        vec![bind(0, x), bind(1, y)],
        &[u(len), 1, 0],
        groups_1d(len),
        Cost {
            bytes: 12 * len as u64,
            flops: len as u64,
        },
        || format!("f32[{len}]"),
    )
}

/// `x *= factor` over `len` values.
pub fn scale(b: &mut Batch<'_>, x: &Buffer, factor: f32, len: usize) -> Result<()> {
    check_len("scale", x, len)?;
    b.dispatch(
        "scale",
        KernelId::new("elementwise", "scale"),
        vec![bind(0, x)],
        &[u(len), 1, factor.to_bits()],
        groups_1d(len),
        Cost {
            bytes: 8 * len as u64,
            flops: len as u64,
        },
        || format!("f32[{len}]"),
    )
}

/// `x[r, :] += bias` for every row of `x` (`len` values, rows of `cols`).
pub fn add_rows(
    b: &mut Batch<'_>,
    x: &Buffer,
    bias: &Buffer,
    len: usize,
    cols: usize,
) -> Result<()> {
    check_len("add_rows", x, len)?;
    check_len("add_rows bias", bias, cols)?;
    b.dispatch(
        "add_bias",
        KernelId::new("elementwise", "add_rows"),
        vec![bind(0, x), bind(1, bias)],
        &[u(len), u(cols), 0],
        groups_1d(len),
        Cost {
            bytes: 8 * len as u64,
            flops: len as u64,
        },
        || format!("f32[{}, {cols}]", len / cols.max(1)),
    )
}

/// `gate = silu(gate) · up` over `len` values.
pub fn swiglu(b: &mut Batch<'_>, gate: &Buffer, up: &Buffer, len: usize) -> Result<()> {
    gated(b, "swiglu", 6, gate, up, len)
}

/// `gate = gelu_tanh(gate) · up` over `len` values.
pub fn geglu(b: &mut Batch<'_>, gate: &Buffer, up: &Buffer, len: usize) -> Result<()> {
    gated(b, "geglu", 10, gate, up, len)
}

/// activation.wgsl's gated kernel `name` (`gate = act(gate) · up`),
/// costing `flops` per value.
fn gated(
    b: &mut Batch<'_>,
    name: &'static str,
    flops: u64,
    gate: &Buffer,
    up: &Buffer,
    len: usize,
) -> Result<()> {
    check_len(name, gate, len)?;
    check_len(name, up, len)?;
    b.dispatch(
        name,
        KernelId::new("activation", name),
        vec![bind(0, gate), bind(1, up)],
        &[u(len)],
        groups_1d(len),
        Cost {
            bytes: 12 * len as u64,
            flops: flops * len as u64,
        },
        || format!("f32[{len}]"),
    )
}

/// GELU (tanh approximation) in place over `len` values.
pub fn gelu(b: &mut Batch<'_>, x: &Buffer, len: usize) -> Result<()> {
    check_len("gelu", x, len)?;
    b.dispatch(
        "gelu",
        KernelId::new("activation", "gelu"),
        vec![bind(0, x)],
        &[u(len)],
        groups_1d(len),
        Cost {
            bytes: 8 * len as u64,
            flops: 9 * len as u64,
        },
        || format!("f32[{len}]"),
    )
}

/// The index of each row's largest value into `best` (u32 per row).
pub fn argmax(
    b: &mut Batch<'_>,
    x: &Buffer,
    best: &Buffer,
    rows: usize,
    cols: usize,
) -> Result<()> {
    check_len("argmax input", x, rows * cols)?;
    check_len("argmax output", best, rows)?;
    b.dispatch(
        "argmax",
        KernelId::new("argmax", "main"),
        vec![bind(0, x), bind(2, best)],
        &[u(cols)],
        [u(rows), 1, 1],
        Cost {
            bytes: 4 * (rows * cols) as u64,
            flops: (rows * cols) as u64,
        },
        || format!("f32[{rows}, {cols}]"),
    )
}

/// The most candidates [`top_k`] picks.
pub const MAX_TOP_K: usize = 256;

/// The `k` largest of `cols` values (largest first, the lower index first
/// on a tie) into `picks`: `k` u32 ids, then the `k` values' f32 bits.
pub fn top_k(b: &mut Batch<'_>, x: &Buffer, picks: &Buffer, cols: usize, k: usize) -> Result<()> {
    if k == 0 || k > MAX_TOP_K.min(cols) {
        return Err(Error::Invalid(format!(
            "top_k: k = {k} must be between 1 and {}",
            MAX_TOP_K.min(cols)
        )));
    }
    check_len("top_k input", x, cols)?;
    check_len("top_k output", picks, 2 * k)?;
    b.dispatch(
        "top_k",
        KernelId::new("top_k", "main"),
        vec![bind(0, x), bind(2, picks)],
        &[u(cols), u(k)],
        [1, 1, 1],
        Cost {
            bytes: 4 * (k * cols) as u64,
            flops: (k * cols) as u64,
        },
        || format!("f32[{cols}], k = {k}"),
    )
}
