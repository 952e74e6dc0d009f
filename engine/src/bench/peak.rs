//! Peak fused multiply-add throughput, measured rather than looked up (clock
//! speeds and the number of FMA units differ between the project's machines).

use crate::backend::cpu::{pool, simd::Isa};

/// The measured FMA peak and the instruction set that reached it.
#[derive(Debug, Clone, Copy)]
pub struct FmaPeak {
    pub gflops: f64,
    pub isa: Isa,
}

/// Independent accumulators: enough to cover the FMA latency on every core
/// we run on (4 cycles × 2 ports = 8 in flight), with room to spare.
const ACCUMULATORS: usize = 12;
const ITERATIONS: usize = 2_000_000;

/// FLOP/s of back-to-back FMAs on `threads` threads of the global pool, with
/// the widest vectors this CPU has.
pub fn fma_peak_gflops(threads: usize) -> FmaPeak {
    let isa = crate::backend::cpu::simd::active();
    let pool = pool::global();
    let threads = threads.clamp(1, pool.threads());
    let lanes = lanes(isa);
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = crate::profile::now_ns();
        pool.run(&|thread, _| {
            if thread < threads {
                std::hint::black_box(fma_loop(isa, ITERATIONS));
            }
        });
        best = best.min((crate::profile::now_ns() - start) as f64 * 1e-9);
    }
    let flops = (threads * ITERATIONS * ACCUMULATORS * lanes * 2) as f64;
    FmaPeak {
        gflops: flops / best * 1e-9,
        isa,
    }
}

fn lanes(isa: Isa) -> usize {
    match isa {
        Isa::Portable => 1,
        Isa::Avx2 => 8,
        Isa::Avx512 | Isa::Avx512Vnni => 16,
    }
}

fn fma_loop(isa: Isa, iterations: usize) -> f32 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` comes from `simd::active()`, which only reports
        // instruction sets the CPU supports.
        Isa::Avx2 => unsafe { x86::fma_avx2(iterations) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx512Vnni => unsafe { x86::fma_avx512(iterations) },
        _ => fma_scalar(iterations),
    }
}

fn fma_scalar(iterations: usize) -> f32 {
    let mut acc = [1.0f32; ACCUMULATORS];
    let (a, b) = std::hint::black_box((0.999_999f32, 1e-7f32));
    for _ in 0..iterations {
        for x in acc.iter_mut() {
            *x = x.mul_add(a, b);
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::ACCUMULATORS;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_avx2(iterations: usize) -> f32 {
        let a = _mm256_set1_ps(std::hint::black_box(0.999_999));
        let b = _mm256_set1_ps(std::hint::black_box(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); ACCUMULATORS];
        for _ in 0..iterations {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut total = _mm256_setzero_ps();
        for x in acc {
            total = _mm256_add_ps(total, x);
        }
        _mm256_cvtss_f32(total)
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma_avx512(iterations: usize) -> f32 {
        let a = _mm512_set1_ps(std::hint::black_box(0.999_999));
        let b = _mm512_set1_ps(std::hint::black_box(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); ACCUMULATORS];
        for _ in 0..iterations {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        let mut total = _mm512_setzero_ps();
        for x in acc {
            total = _mm512_add_ps(total, x);
        }
        _mm512_reduce_add_ps(total)
    }
}
