//! Softmax over rows.

use super::super::real::Real;

/// `out[r] = softmax(x[r])` for rows of `cols`.
pub fn forward<T: Real>(x: &[T], cols: usize, out: &mut [T]) {
    for (xr, or) in x.chunks_exact(cols).zip(out.chunks_exact_mut(cols)) {
        softmax_row(xr, or);
    }
}

/// One row; subtracting the maximum keeps `exp` finite.
pub fn softmax_row<T: Real>(x: &[T], out: &mut [T]) {
    let max = x.iter().copied().fold(x[0], T::max);
    let mut sum = T::default();
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - max).exp();
        sum += *o;
    }
    out.iter_mut().for_each(|o| *o /= sum);
}

/// `dx += y ⊙ (dy − Σ y·dy)` row by row, from the forward's output `y`.
pub fn backward<T: Real>(dy: &[T], y: &[T], cols: usize, dx: &mut [T]) {
    for ((gr, yr), dr) in dy
        .chunks_exact(cols)
        .zip(y.chunks_exact(cols))
        .zip(dx.chunks_exact_mut(cols))
    {
        let dot: T = gr.iter().zip(yr).map(|(g, y)| *g * *y).sum();
        for ((d, g), y) in dr.iter_mut().zip(gr).zip(yr) {
            *d += *y * (*g - dot);
        }
    }
}
