//! Sums that vectorise. A plain `iter().sum()` of floats adds one element
//! at a time, in order, because float addition is not associative and the
//! compiler must keep the order. These keep [`LANES`] running sums side by
//! side (one SIMD register's worth) and add them up at the end: a
//! different, equally accurate order, the same on every run.

use super::super::real::Real;

/// Running sums kept side by side: 16 f32s fill an AVX-512 register.
const LANES: usize = 16;

/// Σ a.
#[inline(always)]
pub fn sum<T: Real>(a: &[T]) -> T {
    let mut acc = [T::default(); LANES];
    let mut chunks = a.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            acc[l] += c[l];
        }
    }
    finish(acc, chunks.remainder().iter().copied())
}

/// Σ a·b over the shorter of the two.
#[inline(always)]
pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [T::default(); LANES];
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let tail = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| *x * *y);
    finish(acc, tail)
}

#[inline(always)]
fn finish<T: Real>(acc: [T; LANES], tail: impl Iterator<Item = T>) -> T {
    let mut total = acc.iter().fold(T::default(), |s, &v| s + v);
    for v in tail {
        total += v;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_dots_every_length_around_the_lane_count() {
        for n in [0, 1, 15, 16, 17, 33, 100] {
            let a: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 3.0).collect();
            let b: Vec<f64> = (0..n).map(|i| (i % 7) as f64).collect();
            let want_sum: f64 = a.iter().sum();
            let want_dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((sum(&a) - want_sum).abs() < 1e-9, "sum of {n}");
            assert!((dot(&a, &b) - want_dot).abs() < 1e-9, "dot of {n}");
        }
    }
}
