//! Dot products of quantized weight rows with Q8A-quantized activations,
//! one implementation per weight format and SIMD level.
//!
//! `rows_*` computes `y[r] = w_r · x` for the `y.len()` consecutive rows in
//! `w`, each `x.len() * 32 / block_len` elements long. Each row kernel runs its
//! whole loop inside one `#[target_feature]` function so the per-block code
//! inlines. Callers pass an [`Isa`] the CPU supports (checked here).

pub mod portable;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod wasm_simd;

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub use portable as fallback;
/// What the portable level runs: SIMD128 in a wasm build that has it (the
/// browser's), plain Rust everywhere else.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use wasm_simd as fallback;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;

use super::simd::Isa;
use crate::error::{Error, Result};
use crate::quant::*;
use crate::tensor::DType;

/// `$rows` of the SIMD module for `isa`, or the portable `$portable` block
/// (the caller has asserted that the CPU supports `isa`).
macro_rules! simd_or {
    ($isa:expr, $rows:ident, $w:expr, $x:expr, $y:expr, $portable:block) => {
        // SAFETY: the caller asserted the CPU supports `isa`.
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2::$rows($w, $x, $y) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::plain::$rows($w, $x, $y) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => unsafe { avx512::vnni::$rows($w, $x, $y) },
            _ => $portable,
        }
    };
}

/// One weight format's row kernels.
macro_rules! dispatch {
    ($rows:ident, $block:ty, $dot:ident, $per_act:expr) => {
        #[doc = concat!("`y[r] = w_r · x` for `", stringify!($block), "` rows.")]
        pub fn $rows(isa: Isa, w: &[$block], x: &[BlockQ8A], y: &mut [f32]) {
            assert!(
                isa.is_supported(),
                "{} kernels on a CPU without them",
                isa.name()
            );
            let per_row = x.len() / $per_act;
            assert_eq!(
                w.len(),
                per_row * y.len(),
                "weight rows and activations disagree"
            );
            if per_row == 0 {
                y.fill(0.0);
                return;
            }
            simd_or!(isa, $rows, w, x, y, {
                for (y, row) in y.iter_mut().zip(w.chunks_exact(per_row)) {
                    *y = fallback::$dot(row, x);
                }
            })
        }
    };
}

/// One weight format's kernels for four activation rows at once.
macro_rules! dispatch4 {
    ($rows:ident, $block:ty, $dot:ident) => {
        #[doc = concat!("`y[4 r + j] = w_r · x_j` for `", stringify!($block), "` rows and four activation rows `x_j` (`x` holds them one after another); the same numbers as the one-row kernel.")]
        pub fn $rows(isa: Isa, w: &[$block], x: &[BlockQ8A], y: &mut [f32]) {
            assert!(
                isa.is_supported(),
                "{} kernels on a CPU without them",
                isa.name()
            );
            let per_row = x.len() / 4;
            assert!(
                x.len() == 4 * per_row && w.len() * 4 == per_row * y.len(),
                "weight rows and activations disagree"
            );
            if per_row == 0 {
                y.fill(0.0);
                return;
            }
            simd_or!(isa, $rows, w, x, y, {
                for (y, row) in y.chunks_exact_mut(4).zip(w.chunks_exact(per_row)) {
                    for (y, x) in y.iter_mut().zip(x.chunks_exact(per_row)) {
                        *y = fallback::$dot(row, x);
                    }
                }
            })
        }
    };
}

dispatch4!(rows4_q8_0, BlockQ8_0, dot_q8_0);
dispatch4!(rows4_q4_0, BlockQ4_0, dot_q4_0);
dispatch4!(rows4_q4_1, BlockQ4_1, dot_q4_1);
dispatch4!(rows4_q5_0, BlockQ5_0, dot_q5_0);
dispatch4!(rows4_q5_1, BlockQ5_1, dot_q5_1);
dispatch4!(rows4_iq4_nl, BlockIQ4NL, dot_iq4_nl);

dispatch!(rows_q8_0, BlockQ8_0, dot_q8_0, 1);
dispatch!(rows_q4_0, BlockQ4_0, dot_q4_0, 1);
dispatch!(rows_q4_1, BlockQ4_1, dot_q4_1, 1);
dispatch!(rows_q5_0, BlockQ5_0, dot_q5_0, 1);
dispatch!(rows_q5_1, BlockQ5_1, dot_q5_1, 1);
dispatch!(rows_iq4_nl, BlockIQ4NL, dot_iq4_nl, 1);
dispatch!(rows_q2_k, BlockQ2K, dot_q2_k, 8);
dispatch!(rows_q3_k, BlockQ3K, dot_q3_k, 8);
dispatch!(rows_q4_k, BlockQ4K, dot_q4_k, 8);
dispatch!(rows_q5_k, BlockQ5K, dot_q5_k, 8);
dispatch!(rows_q6_k, BlockQ6K, dot_q6_k, 8);
dispatch!(rows_iq4_xs, BlockIQ4XS, dot_iq4_xs, 8);

/// `y[r] = w_r · x` for the rows of `dtype` in `bytes` (a whole number of
/// rows of `x.len() * 32` weights each): the format's row kernel, chosen at
/// run time (benchmarks, tests).
pub fn rows(isa: Isa, dtype: DType, bytes: &[u8], x: &[BlockQ8A], y: &mut [f32]) -> Result<()> {
    crate::quant::with_block!(dtype, B => {
        <B as RowKernels>::ROWS(isa, crate::quant::cast(bytes)?, x, y);
        Ok(())
    }, plain => Err(Error::DType {
        op: "quantized row kernel".into(),
        dtype: dtype.to_string(),
    }))
}

/// A row kernel: `y[r] = w_r · x` (or four activation rows at once).
pub type RowKernel<B> = fn(Isa, &[B], &[BlockQ8A], &mut [f32]);

/// A block format's dot-product kernels, as `ops::quant` calls them.
pub trait RowKernels: Block {
    /// One activation row.
    const ROWS: RowKernel<Self>;
    /// Four activation rows, each weight block decoded once for all four
    /// (the formats of 32-weight blocks have it).
    const ROWS4: Option<RowKernel<Self>>;
}

macro_rules! row_kernels {
    ($($block:ty => $rows:ident, $rows4:expr;)*) => {
        $(impl RowKernels for $block {
            const ROWS: RowKernel<Self> = $rows;
            const ROWS4: Option<RowKernel<Self>> = $rows4;
        })*
    };
}

row_kernels! {
    BlockQ8_0 => rows_q8_0, Some(rows4_q8_0);
    BlockQ4_0 => rows_q4_0, Some(rows4_q4_0);
    BlockQ4_1 => rows_q4_1, Some(rows4_q4_1);
    BlockQ5_0 => rows_q5_0, Some(rows4_q5_0);
    BlockQ5_1 => rows_q5_1, Some(rows4_q5_1);
    BlockIQ4NL => rows_iq4_nl, Some(rows4_iq4_nl);
    BlockQ2K => rows_q2_k, None;
    BlockQ3K => rows_q3_k, None;
    BlockQ4K => rows_q4_k, None;
    BlockQ5K => rows_q5_k, None;
    BlockQ6K => rows_q6_k, None;
    BlockIQ4XS => rows_iq4_xs, None;
}

/// Quantize activations `x` (a multiple of 32 long) into `out`, exactly as
/// [`crate::quant::q8a::quantize_row`] does, vectorised where `isa` allows.
pub fn quantize_q8a(isa: Isa, x: &[f32], out: &mut [BlockQ8A]) {
    assert!(isa.is_supported(), "{} on a CPU without it", isa.name());
    assert_eq!(x.len(), 32 * out.len(), "activations and blocks disagree");
    match isa {
        // SAFETY: every AVX level includes AVX2 (asserted above).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni => unsafe { avx2::quantize_q8a(x, out) },
        _ => crate::quant::q8a::quantize_row(x, out),
    }
}
