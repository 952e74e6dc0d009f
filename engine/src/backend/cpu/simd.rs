//! Which SIMD instruction set the kernels use, chosen at run time.
//!
//! The project's machines differ (AVX2-only EPYCs, AVX-512 + VNNI Xeons), so
//! one binary carries every path and picks the best the CPU has. Tests run
//! every path the machine supports and say which ones they skipped.

use std::sync::atomic::{AtomicU8, Ordering};

/// Instruction-set levels, from slowest to fastest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust: any CPU, and wasm32 (where the compiler may use simd128).
    Portable,
    /// AVX2 + FMA + F16C (Haswell, Zen 1 and later: every AVX2 CPU has F16C).
    Avx2,
    /// AVX-512 F/BW/VL.
    Avx512,
    /// AVX-512 with VNNI integer dot products.
    Avx512Vnni,
}

impl Isa {
    pub const ALL: [Isa; 4] = [Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512-vnni",
        }
    }

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.is_supported()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => Isa::Avx512.is_supported() && is_x86_feature_detected!("avx512vnni"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best level this CPU supports.
    pub fn detect() -> Isa {
        Isa::ALL
            .into_iter()
            .rev()
            .find(|i| i.is_supported())
            .unwrap_or(Isa::Portable)
    }
}

const UNSET: u8 = u8::MAX;
static ACTIVE: AtomicU8 = AtomicU8::new(UNSET);

/// The level the kernels use: the detected one unless [`set_active`] chose a
/// lower one (benchmarks compare paths this way).
pub fn active() -> Isa {
    match ACTIVE.load(Ordering::Relaxed) {
        UNSET => {
            let isa = Isa::detect();
            ACTIVE.store(isa as u8, Ordering::Relaxed);
            isa
        }
        v => Isa::ALL[v as usize],
    }
}

/// Choose the level the kernels use. A level the CPU lacks is refused.
pub fn set_active(isa: Isa) -> Result<(), String> {
    if !isa.is_supported() {
        return Err(format!(
            "this CPU does not support the {} kernels",
            isa.name()
        ));
    }
    ACTIVE.store(isa as u8, Ordering::Relaxed);
    Ok(())
}

/// Runs `f` compiled for the active level: its body is inlined into a
/// `#[target_feature]` function, so the plain loops in it vectorise to
/// AVX2 or AVX-512 instead of the SSE2 every x86-64 build may assume.
/// Element-wise kernels written as ordinary Rust go through this rather
/// than through intrinsics of their own. Mark the closure
/// `#[inline(always)]`: a closure left out of line keeps the baseline.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `active` only reports levels this CPU supports.
        match active() {
            Isa::Avx512 | Isa::Avx512Vnni => return unsafe { wide::avx512(f) },
            Isa::Avx2 => return unsafe { wide::avx2(f) },
            Isa::Portable => {}
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
mod wide {
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")]
    pub unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}
