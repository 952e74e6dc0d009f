//! RWKV's token shift: every position blends in the one before it,
//! `out_t = x_t + μ ⊙ (x_{t−1} − x_t)`, with a learned mix `μ` per channel.
//! Rows are `[B·T, C]`, sequence `b` in rows `b·T..(b+1)·T`; the first
//! position of each sequence blends with `carry[b]`, the last input of the
//! window before (zeros at the start of a stream). The carry is a constant:
//! truncated back-propagation through time stops at the window's edge.

use super::super::real::Real;

/// The input before position `t` of sequence `b`.
fn previous<'a, T>(
    x: &'a [T],
    carry: &'a [T],
    b: usize,
    t: usize,
    seq: usize,
    c: usize,
) -> &'a [T] {
    if t == 0 {
        &carry[b * c..(b + 1) * c]
    } else {
        let row = b * seq + t - 1;
        &x[row * c..(row + 1) * c]
    }
}

pub fn forward<T: Real>(x: &[T], carry: &[T], mu: &[T], seq: usize, out: &mut [T]) {
    let c = mu.len();
    let batch = carry.len() / c;
    assert_eq!(x.len(), batch * seq * c, "token shift: input shape");
    for b in 0..batch {
        for t in 0..seq {
            let row = b * seq + t;
            let prev = previous(x, carry, b, t, seq, c);
            let (xr, or) = (&x[row * c..(row + 1) * c], &mut out[row * c..(row + 1) * c]);
            for i in 0..c {
                or[i] = xr[i] + mu[i] * (prev[i] - xr[i]);
            }
        }
    }
}

/// Adds the gradients of `x` (if wanted) and `mu`.
pub fn backward<T: Real>(
    dout: &[T],
    x: &[T],
    carry: &[T],
    mu: &[T],
    seq: usize,
    mut dx: Option<&mut [T]>,
    dmu: &mut [T],
) {
    let c = mu.len();
    let batch = carry.len() / c;
    for b in 0..batch {
        for t in 0..seq {
            let row = b * seq + t;
            let prev = previous(x, carry, b, t, seq, c);
            let (xr, g) = (&x[row * c..(row + 1) * c], &dout[row * c..(row + 1) * c]);
            for i in 0..c {
                dmu[i] += g[i] * (prev[i] - xr[i]);
            }
            if let Some(dx) = dx.as_deref_mut() {
                for i in 0..c {
                    dx[row * c + i] += g[i] * (T::of(1.0) - mu[i]);
                    if t > 0 {
                        dx[(row - 1) * c + i] += g[i] * mu[i];
                    }
                }
            }
        }
    }
}
