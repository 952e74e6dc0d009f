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

    /// Whether this CPU can run the path, and [`ENV_VAR`] allows it.
    pub fn is_supported(self) -> bool {
        self <= ceiling() && self.in_hardware()
    }

    /// Whether this CPU can run the path.
    fn in_hardware(self) -> bool {
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
                Isa::Avx2.in_hardware()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => Isa::Avx512.in_hardware() && is_x86_feature_detected!("avx512vnni"),
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

impl std::str::FromStr for Isa {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Isa::ALL.iter().map(|i| i.name()).collect();
                format!(
                    "{s:?} names no SIMD level (use one of {})",
                    names.join(", ")
                )
            })
    }
}

/// The environment variable that caps the level (`portable`, `avx2`,
/// `avx512`, `avx512-vnni`): the kernels then behave as on a CPU that has
/// nothing above it, so a developer on an AVX-512 machine sees what an
/// AVX2-only machine computes, and CI runs the model tests on both.
pub const ENV_VAR: &str = "MONOLOGUE_SIMD";

/// What [`ENV_VAR`] asks for: `Ok(None)` when unset, an error when it names
/// no level or one this CPU lacks. Front ends call this at start-up, so a
/// bad setting is an error there; the kernels themselves then warn once and
/// use the best level at or below the one named (or every level, when it
/// names none).
pub fn from_env() -> Result<Option<Isa>, String> {
    let Ok(value) = std::env::var(ENV_VAR) else {
        return Ok(None);
    };
    let isa: Isa = value.parse().map_err(|e| format!("{ENV_VAR}: {e}"))?;
    if !isa.in_hardware() {
        return Err(format!(
            "{ENV_VAR}={value}: this CPU does not support the {} kernels",
            isa.name()
        ));
    }
    Ok(Some(isa))
}

/// The highest level [`ENV_VAR`] allows, read once.
fn ceiling() -> Isa {
    static CEILING: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *CEILING.get_or_init(|| match from_env() {
        Ok(level) => level.unwrap_or(Isa::Avx512Vnni),
        Err(why) => {
            eprintln!("warning: {why}");
            std::env::var(ENV_VAR)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(Isa::Avx512Vnni)
        }
    })
}

const UNSET: u8 = u8::MAX;
static ACTIVE: AtomicU8 = AtomicU8::new(UNSET);

/// The level the kernels use: the best one the CPU has and [`ENV_VAR`]
/// allows, unless [`set_active`] chose a lower one (benchmarks compare paths this way).
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
