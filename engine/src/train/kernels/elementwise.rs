//! Element-wise sums and products.

use super::super::real::Real;

/// `out = a + b`.
pub fn add_forward<T: Real>(a: &[T], b: &[T], out: &mut [T]) {
    for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
        *o = *a + *b;
    }
}

/// `out = a · b`.
pub fn mul_forward<T: Real>(a: &[T], b: &[T], out: &mut [T]) {
    for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
        *o = *a * *b;
    }
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
        for ((d, g), b) in da.iter_mut().zip(dout).zip(b) {
            *d += *g * *b;
        }
    }
    if let Some(db) = db {
        for ((d, g), a) in db.iter_mut().zip(dout).zip(a) {
            *d += *g * *a;
        }
    }
}

/// `d += g` (the backward of a sum, for each input).
pub fn accumulate<T: Real>(d: &mut [T], g: &[T]) {
    d.iter_mut().zip(g).for_each(|(d, g)| *d += *g);
}
