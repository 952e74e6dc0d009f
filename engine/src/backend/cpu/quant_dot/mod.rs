//! Dot products of quantized weight rows with quantized activations, one
//! implementation per weight format and SIMD level.
//!
//! `rows_*` computes `y[r] = w_r · x` for the `y.len()` consecutive rows in
//! `w`, each `x.len() * 32 / block_len` elements long (decode); `gemm_*`
//! multiplies eight rows, packed by `pack_*`, by four tokens (prefill, on
//! AVX2 and AVX-512 only), with the same numbers. Each kernel runs its whole
//! loop inside one `#[target_feature]` function so the per-block code
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
pub mod avx2_k;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "x86_64")]
pub mod lanes;
pub mod packed;

use packed::{PackedBlocks, PackedRows, ROWS};

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

dispatch!(rows_q8_0, BlockQ8_0, dot_q8_0, 1);
dispatch!(rows_q4_0, BlockQ4_0, dot_q4_0, 1);
dispatch!(rows_q4_1, BlockQ4_1, dot_q4_1, 1);
dispatch!(rows_q5_0, BlockQ5_0, dot_q5_0, 1);
dispatch!(rows_q5_1, BlockQ5_1, dot_q5_1, 1);
dispatch!(rows_iq4_nl, BlockIQ4NL, dot_iq4_nl, 1);
dispatch!(rows_iq4_xs, BlockIQ4XS, dot_iq4_xs, 8);

/// One K-quant format's row kernel, against [`BlockQ8K`] activations.
/// With `gfni = f`, the VNNI path runs `avx512::vnni_gfni::f` instead where
/// the CPU has GFNI.
macro_rules! dispatch_k {
    ($rows:ident, $block:ty $(, gfni = $gfni:ident)?) => {
        #[doc = concat!("`y[r] = w_r · x` for `", stringify!($block), "` rows.")]
        pub fn $rows(isa: Isa, w: &[$block], x: &[BlockQ8K], y: &mut [f32]) {
            assert!(
                isa.is_supported(),
                "{} kernels on a CPU without them",
                isa.name()
            );
            let per_row = x.len();
            assert_eq!(
                w.len(),
                per_row * y.len(),
                "weight rows and activations disagree"
            );
            if per_row == 0 {
                y.fill(0.0);
                return;
            }
            $(
                #[cfg(target_arch = "x86_64")]
                if isa == Isa::Avx512Vnni && avx512::has_gfni() {
                    // SAFETY: the CPU has VNNI (asserted) and GFNI.
                    return unsafe { avx512::vnni_gfni::$gfni(w, x, y) };
                }
            )?
            simd_or!(isa, $rows, w, x, y, {
                for (y, row) in y.iter_mut().zip(w.chunks_exact(per_row)) {
                    *y = fallback::dot_k(row, x);
                }
            })
        }
    };
}

dispatch_k!(rows_q2_k, BlockQ2K);
dispatch_k!(rows_q3_k, BlockQ3K, gfni = rows_q3_k);
dispatch_k!(rows_q4_k, BlockQ4K);
dispatch_k!(rows_q5_k, BlockQ5K);
dispatch_k!(rows_q6_k, BlockQ6K);

/// Whether `isa` has the packed prefill GEMMs ([`gemm_k`] and the
/// `gemm_*` of the formats that meet Q8A activations).
pub fn has_gemm(isa: Isa) -> bool {
    matches!(isa, Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni) && isa.is_supported()
}

/// `$f` of the SIMD module for `isa`, which must have the GEMMs (see
/// [`has_gemm`]; elsewhere, such as wasm32, this is unreachable).
macro_rules! gemm_path {
    ($isa:expr, $f:ident($($arg:expr),*)) => {{
        assert!(has_gemm($isa), "no prefill GEMM on the {} path", $isa.name());
        // SAFETY: checked above that the CPU supports `isa`.
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2::$f($($arg),*) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::plain::$f($($arg),*) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => unsafe { avx512::vnni::$f($($arg),*) },
            _ => {
                $(let _ = $arg;)*
                unreachable!("has_gemm")
            }
        }
    }};
}

/// `out[t][r] = row r · x[t]` for the eight rows in `p` and four tokens'
/// activations (each at least `p.super_blocks()` blocks). The same numbers
/// as the row kernels, bit for bit. Panics on a path without it (see
/// [`has_gemm`]).
pub fn gemm_k(isa: Isa, p: &PackedRows, x: [&[BlockQ8K]; 4], out: &mut [[f32; ROWS]; 4]) {
    for x in x {
        assert!(x.len() >= p.super_blocks(), "gemm_k: short activations");
    }
    gemm_path!(isa, gemm_k(p, x, out))
}

/// One Q8A format's packing and GEMM.
macro_rules! dispatch_gemm {
    ($pack:ident, $gemm:ident, $block:ty) => {
        #[doc = concat!("Pack up to eight `", stringify!($block), "` rows of `per_row` blocks for [`", stringify!($gemm), "`].")]
        pub fn $pack(isa: Isa, out: &mut PackedBlocks, rows: &[$block], per_row: usize) {
            gemm_path!(isa, $pack(out, rows, per_row))
        }

        #[doc = concat!("`out[t][r] = row r · x[t]` for eight packed `", stringify!($block), "` rows and four tokens; the same numbers as the row kernel, bit for bit.")]
        pub fn $gemm(isa: Isa, p: &PackedBlocks, x: [&[BlockQ8A]; 4], out: &mut [[f32; ROWS]; 4]) {
            for x in x {
                assert!(x.len() >= p.units(), "gemm: short activations");
            }
            gemm_path!(isa, $gemm(p, x, out))
        }
    };
}

dispatch_gemm!(pack_q8_0, gemm_q8_0, BlockQ8_0);
dispatch_gemm!(pack_q4_0, gemm_q4_0, BlockQ4_0);
dispatch_gemm!(pack_q4_1, gemm_q4_1, BlockQ4_1);
dispatch_gemm!(pack_q5_0, gemm_q5_0, BlockQ5_0);
dispatch_gemm!(pack_q5_1, gemm_q5_1, BlockQ5_1);
dispatch_gemm!(pack_iq4_nl, gemm_iq4_nl, BlockIQ4NL);
dispatch_gemm!(pack_iq4_xs, gemm_iq4_xs, BlockIQ4XS);

/// Activations quantized for one weight format's kernels: [`BlockQ8A`]
/// (a scale per 32) for the 32-weight formats and IQ4_XS, [`BlockQ8K`] (a
/// scale per 256) for the K-quants.
pub enum Activations {
    Q8a(Vec<BlockQ8A>),
    Q8k(Vec<BlockQ8K>),
}

impl Activations {
    /// `x` (a multiple of the block length long) as `dtype`'s kernels take it.
    pub fn quantize(isa: Isa, dtype: DType, x: &[f32]) -> Self {
        if uses_q8k(dtype) {
            let mut q = vec![BlockQ8K::default(); x.len() / 256];
            quantize_q8k(isa, x, &mut q);
            Activations::Q8k(q)
        } else {
            let mut q = vec![BlockQ8A::default(); x.len() / 32];
            quantize_q8a(isa, x, &mut q);
            Activations::Q8a(q)
        }
    }
}

/// Whether `dtype`'s kernels take [`BlockQ8K`] activations.
pub fn uses_q8k(dtype: DType) -> bool {
    matches!(
        dtype,
        DType::Q2_K | DType::Q3_K | DType::Q4_K | DType::Q5_K | DType::Q6_K
    )
}

/// `y[r] = w_r · x` for the rows of `dtype` in `bytes` (a whole number of
/// rows as long as `x`): the format's row kernel, chosen at run time
/// (benchmarks, tests).
pub fn rows(isa: Isa, dtype: DType, bytes: &[u8], x: &Activations, y: &mut [f32]) -> Result<()> {
    crate::quant::with_block!(dtype, B => {
        let w = crate::quant::cast(bytes)?;
        match (<B as RowKernels>::KERNELS, x) {
            (Kernels::Q8a { rows, .. }, Activations::Q8a(x)) => rows(isa, w, x, y),
            (Kernels::Q8k { rows, .. }, Activations::Q8k(x)) => rows(isa, w, x, y),
            _ => return Err(Error::Invalid(format!("{dtype} rows with the other activation format"))),
        }
        Ok(())
    }, plain => Err(Error::DType {
        op: "quantized row kernel".into(),
        dtype: dtype.to_string(),
    }))
}

/// A row kernel: `y[r] = w_r · x`.
pub type RowKernel<B> = fn(Isa, &[B], &[BlockQ8A], &mut [f32]);

/// Packs up to eight rows of a Q8A format for its GEMM.
pub type PackBlocks<B> = fn(Isa, &mut PackedBlocks, &[B], usize);

/// Eight packed rows of a Q8A format times four tokens.
pub type GemmBlocks = fn(Isa, &PackedBlocks, [&[BlockQ8A]; 4], &mut [[f32; ROWS]; 4]);

/// A K-quant row kernel: `y[r] = w_r · x` against [`BlockQ8K`].
pub type RowKernelK<B> = fn(Isa, &[B], &[BlockQ8K], &mut [f32]);

/// How a block format's products are computed.
pub enum Kernels<B: 'static> {
    /// Against [`BlockQ8A`] activations; prefill packs the rows for
    /// `gemm`.
    Q8a {
        rows: RowKernel<B>,
        pack: PackBlocks<B>,
        gemm: GemmBlocks,
    },
    /// Against [`BlockQ8K`] activations; prefill packs the rows for
    /// [`gemm_k`].
    Q8k {
        rows: RowKernelK<B>,
        pack: fn(&mut PackedRows, &[B], usize),
    },
}

/// A block format's dot-product kernels, as `ops::quant` calls them.
pub trait RowKernels: Block {
    const KERNELS: Kernels<Self>;
}

macro_rules! row_kernels {
    ($($block:ty => $kernels:expr;)*) => {
        $(impl RowKernels for $block {
            const KERNELS: Kernels<Self> = $kernels;
        })*
    };
}

row_kernels! {
    BlockQ8_0 => Kernels::Q8a { rows: rows_q8_0, pack: pack_q8_0, gemm: gemm_q8_0 };
    BlockQ4_0 => Kernels::Q8a { rows: rows_q4_0, pack: pack_q4_0, gemm: gemm_q4_0 };
    BlockQ4_1 => Kernels::Q8a { rows: rows_q4_1, pack: pack_q4_1, gemm: gemm_q4_1 };
    BlockQ5_0 => Kernels::Q8a { rows: rows_q5_0, pack: pack_q5_0, gemm: gemm_q5_0 };
    BlockQ5_1 => Kernels::Q8a { rows: rows_q5_1, pack: pack_q5_1, gemm: gemm_q5_1 };
    BlockIQ4NL => Kernels::Q8a { rows: rows_iq4_nl, pack: pack_iq4_nl, gemm: gemm_iq4_nl };
    BlockIQ4XS => Kernels::Q8a { rows: rows_iq4_xs, pack: pack_iq4_xs, gemm: gemm_iq4_xs };
    BlockQ2K => Kernels::Q8k { rows: rows_q2_k, pack: PackedRows::pack::<BlockQ2K> };
    BlockQ3K => Kernels::Q8k { rows: rows_q3_k, pack: PackedRows::pack::<BlockQ3K> };
    BlockQ4K => Kernels::Q8k { rows: rows_q4_k, pack: PackedRows::pack::<BlockQ4K> };
    BlockQ5K => Kernels::Q8k { rows: rows_q5_k, pack: PackedRows::pack::<BlockQ5K> };
    BlockQ6K => Kernels::Q8k { rows: rows_q6_k, pack: PackedRows::pack::<BlockQ6K> };
}

/// Quantize activations `x` (a multiple of 256 long) into `out` as
/// [`crate::quant::q8k::quantize_row`] does.
pub fn quantize_q8k(isa: Isa, x: &[f32], out: &mut [BlockQ8K]) {
    assert!(isa.is_supported(), "{} on a CPU without it", isa.name());
    assert_eq!(x.len(), 256 * out.len(), "activations and blocks disagree");
    crate::quant::q8k::quantize_row(x, out)
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
