//! Moving rows between a full activation and the subset of rows one expert
//! of a mixture sees: gather them out, scatter the expert's output back
//! weighted by its gate.

use super::super::real::Real;

/// `out[i] = x[rows[i]]`, rows of `width`.
pub fn gather_forward<T: Real>(x: &[T], rows: &[usize], width: usize, out: &mut [T]) {
    for (i, &r) in rows.iter().enumerate() {
        out[i * width..(i + 1) * width].copy_from_slice(&x[r * width..(r + 1) * width]);
    }
}

/// `dx[rows[i]] += dout[i]`.
pub fn gather_backward<T: Real>(dout: &[T], rows: &[usize], width: usize, dx: &mut [T]) {
    for (i, &r) in rows.iter().enumerate() {
        let (src, dst) = (
            &dout[i * width..(i + 1) * width],
            &mut dx[r * width..(r + 1) * width],
        );
        dst.iter_mut().zip(src).for_each(|(a, b)| *a += *b);
    }
}

/// `out[rows[i]] = gates[rows[i], column] · y[i]`, other rows zero; `gates`
/// has `columns` per row.
pub fn scatter_forward<T: Real>(
    y: &[T],
    rows: &[usize],
    gates: &[T],
    (column, columns): (usize, usize),
    width: usize,
    out: &mut [T],
) {
    out.iter_mut().for_each(|v| *v = T::default());
    for (i, &r) in rows.iter().enumerate() {
        let gate = gates[r * columns + column];
        let (src, dst) = (
            &y[i * width..(i + 1) * width],
            &mut out[r * width..(r + 1) * width],
        );
        dst.iter_mut().zip(src).for_each(|(o, y)| *o = gate * *y);
    }
}

/// Gradients of [`scatter_forward`], added into `dy` and `dgates`.
#[allow(clippy::too_many_arguments)]
pub fn scatter_backward<T: Real>(
    dout: &[T],
    y: &[T],
    rows: &[usize],
    gates: &[T],
    (column, columns): (usize, usize),
    width: usize,
    dy: Option<&mut [T]>,
    dgates: Option<&mut [T]>,
) {
    let (mut dy, mut dgates) = (dy, dgates);
    for (i, &r) in rows.iter().enumerate() {
        let (g, yi) = (
            &dout[r * width..(r + 1) * width],
            &y[i * width..(i + 1) * width],
        );
        if let Some(dy) = dy.as_deref_mut() {
            let gate = gates[r * columns + column];
            let dst = &mut dy[i * width..(i + 1) * width];
            dst.iter_mut().zip(g).for_each(|(a, g)| *a += gate * *g);
        }
        if let Some(dgates) = dgates.as_deref_mut() {
            dgates[r * columns + column] += g.iter().zip(yi).map(|(g, y)| *g * *y).sum::<T>();
        }
    }
}
