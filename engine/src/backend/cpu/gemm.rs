//! Dense matrix products, `C[m, n] = A[m, k] · B`, on the `matrixmultiply`
//! crate's single-threaded f32 kernels, with the work split across our pool.
//!
//! f16 / bf16 `B` is converted to f32 a tile at a time into a small scratch
//! buffer (kept in cache) and multiplied from there, so a half-precision
//! weight matrix is never expanded whole in memory.

use super::pool;
use super::simd::Isa;
use super::vector;
use half::{bf16, f16, slice::HalfFloatSliceExt};

/// How `B` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BLayout {
    /// `[k, n]`, row-major: `C = A · B`.
    KN,
    /// `[n, k]`: rows are output features, as model weights are stored
    /// (`[out, in]`), so `C = A · Bᵀ` — a linear layer `y = x · Wᵀ`.
    NK,
}

/// The elements of `B`.
#[derive(Debug, Clone, Copy)]
pub enum Elems<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    BF16(&'a [bf16]),
}

/// Bytes of f32 scratch per thread for converted tiles of `B` (an L2's share).
const TILE_BYTES: usize = 256 * 1024;
/// Below this many multiply-adds threads cost more than they save.
const MIN_PARALLEL_MACS: usize = 1 << 15;
/// At most this many rows of `A` (decoding, small batches) use dot products
/// instead of the GEMM, which would pack, i.e. copy, all of `B` and waste
/// most of its register tile on so few rows.
const MAX_DOT_ROWS: usize = 8;

/// `out[m, n] = a[m, k] · b`. Lengths are the caller's to check.
pub fn matmul(
    isa: Isa,
    a: &[f32],
    b: Elems<'_>,
    layout: BLayout,
    (m, k, n): (usize, usize, usize),
    out: &mut [f32],
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    let pool = pool::global();
    // A few shares per thread, claimed as threads get free (see `pool`).
    let parts = if m * k * n < MIN_PARALLEL_MACS {
        1
    } else {
        4 * pool.threads()
    };
    let c = SharedOut(out.as_mut_ptr());
    // Split output columns (B's columns or weight rows), so each thread
    // streams its own part of B; 16 keeps shares on cache-line boundaries.
    pool.for_each(parts, &|part| {
        let cols = pool::split_range(n, part, parts, 16);
        if cols.is_empty() {
            return;
        }
        // SAFETY: threads write disjoint column ranges of `out`, which
        // outlives `run`; `a` and `b` hold m*k and k*n elements.
        unsafe { columns(isa, a, b, layout, (m, k, n), cols, c.get()) };
    });
}

/// The raw output pointer, shared by the pool's threads (see the SAFETY
/// note in [`matmul`]).
struct SharedOut(*mut f32);
unsafe impl Sync for SharedOut {}

impl SharedOut {
    // A method, so that closures capture the wrapper rather than the field.
    fn get(&self) -> *mut f32 {
        self.0
    }
}

/// Compute columns `cols` of C.
unsafe fn columns(
    isa: Isa,
    a: &[f32],
    b: Elems<'_>,
    layout: BLayout,
    (m, k, n): (usize, usize, usize),
    cols: std::ops::Range<usize>,
    c: *mut f32,
) {
    let dots = m <= MAX_DOT_ROWS && layout == BLayout::NK;
    let fit = (TILE_BYTES / 4 / k).max(16); // columns of B that fit the scratch
    let tile = match (b, layout) {
        // Few rows: tiles small enough to stay in cache while every row of
        // A is dotted with them, so B is read from memory once.
        _ if dots => fit,
        // f32 [k, n] B is used in place, in one piece.
        (Elems::F32(_), BLayout::KN) => cols.len(),
        // Otherwise B is converted a tile at a time (at least 64 columns,
        // so the GEMM's repacking of A per tile stays a small overhead).
        _ => fit.max(64),
    };
    let (mut scratch, mut rows) = (Vec::new(), Vec::new());
    let mut j0 = cols.start;
    while j0 < cols.end {
        let nb = tile.min(cols.end - j0);
        // The tile as f32, with its row stride (its column stride is 1).
        let (bt, rsb): (&[f32], usize) = match (b, layout) {
            (Elems::F32(b), BLayout::KN) => (&b[j0..], n),
            (Elems::F32(b), BLayout::NK) if dots => (&b[j0 * k..], k),
            (_, BLayout::NK) if dots => {
                scratch.resize(nb * k, 0.0);
                convert(b, j0 * k, &mut scratch);
                (&scratch, k)
            }
            (_, BLayout::NK) => {
                // matrixmultiply packs B quickly only from unit column
                // stride, and [n, k] storage has stride k: transpose first.
                scratch.resize(k * nb, 0.0);
                transpose_tile(b, k, j0, &mut rows, &mut scratch);
                (&scratch, nb)
            }
            (_, BLayout::KN) => {
                scratch.resize(k * nb, 0.0);
                for (p, dst) in scratch.chunks_exact_mut(nb).enumerate() {
                    convert(b, p * n + j0, dst);
                }
                (&scratch, nb)
            }
        };
        if dots {
            for i in 0..m {
                let row = std::slice::from_raw_parts_mut(c.add(i * n + j0), nb);
                vector::dots(isa, &a[i * k..(i + 1) * k], bt, k, 1.0, row);
            }
        } else {
            matrixmultiply::sgemm(
                m,
                k,
                nb,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                bt.as_ptr(),
                rsb as isize,
                1,
                0.0, // beta = 0: C is overwritten, never read
                c.add(j0),
                n as isize,
                1,
            );
        }
        j0 += nb;
    }
}

/// Rows `j0..j0 + nb` of B stored `[n, k]`, as f32 in `dst` laid out
/// `[k, nb]` (nb = dst.len() / k). Eight rows at a time are converted into
/// `rows`, then interleaved, so reads and writes both stay sequential.
fn transpose_tile(b: Elems<'_>, k: usize, j0: usize, rows: &mut Vec<f32>, dst: &mut [f32]) {
    const R: usize = 8;
    let nb = dst.len() / k;
    for r0 in (0..nb).step_by(R) {
        let h = R.min(nb - r0);
        rows.resize(h * k, 0.0);
        convert(b, (j0 + r0) * k, rows);
        for (p, out) in dst.chunks_exact_mut(nb).enumerate() {
            for (r, v) in out[r0..r0 + h].iter_mut().enumerate() {
                *v = rows[r * k + p];
            }
        }
    }
}

/// Convert `dst.len()` half-precision elements of `b` from `start` to f32.
fn convert(b: Elems<'_>, start: usize, dst: &mut [f32]) {
    let end = start + dst.len();
    match b {
        Elems::F32(s) => dst.copy_from_slice(&s[start..end]),
        Elems::F16(s) => s[start..end].convert_to_f32_slice(dst),
        Elems::BF16(s) => s[start..end].convert_to_f32_slice(dst),
    }
}
