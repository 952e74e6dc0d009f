//! Element-wise sums and products, in fixed chunks across the pool and
//! compiled for the CPU's widest SIMD.

use super::super::real::Real;
use super::parallel::{self, Shared};
use crate::backend::cpu::simd::vectorized;

/// `out[i] = f(out[i], a[i], b[i])` for every `i`.
#[inline(always)]
fn update<T: Real>(out: &mut [T], a: &[T], b: &[T], f: impl Fn(T, T, T) -> T + Sync) {
    let n = out.len();
    let out_s = Shared::new(out);
    parallel::chunks(n, &|r| {
        // SAFETY: each chunk of `out` belongs to one job.
        let o = unsafe { out_s.range(r.start, r.len()) };
        let (a, b) = (&a[r.clone()], &b[r]);
        vectorized(
            #[inline(always)]
            || {
                for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                    *o = f(*o, a, b);
                }
            },
        )
    });
}

/// `out = a + b`.
pub fn add_forward<T: Real>(a: &[T], b: &[T], out: &mut [T]) {
    update(out, a, b, |_, a, b| a + b);
}

/// `out = a · b`.
pub fn mul_forward<T: Real>(a: &[T], b: &[T], out: &mut [T]) {
    update(out, a, b, |_, a, b| a * b);
}

/// `da += dout · b`, `db += dout · a`.
pub fn mul_backward<T: Real>(
    dout: &[T],
    a: &[T],
    b: &[T],
    da: Option<&mut [T]>,
    db: Option<&mut [T]>,
) {
    if let Some(da) = da {
        update(da, dout, b, |d, g, b| d + g * b);
    }
    if let Some(db) = db {
        update(db, dout, a, |d, g, a| d + g * a);
    }
}

/// `d += g` (the backward of a sum, for each input).
pub fn accumulate<T: Real>(d: &mut [T], g: &[T]) {
    update(d, g, g, |d, g, _| d + g);
}
