//! Activations, each with the derivative its backward multiplies by.
//!
//! GELU is the tanh approximation GPT-2 uses (`gelu_new`), as in inference.

use super::super::real::Real;
use super::parallel::{self, Shared};

/// Which activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Gelu,
    Silu,
    Sigmoid,
    Tanh,
}

fn sigmoid<T: Real>(x: T) -> T {
    T::of(1.0) / (T::of(1.0) + (-x).exp())
}

const GELU_C: f64 = 0.797_884_560_802_865_4; // sqrt(2 / π)

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
        }
    }

    pub fn apply<T: Real>(self, x: T) -> T {
        match self {
            Activation::Gelu => {
                let u = T::of(GELU_C) * (x + T::of(0.044715) * x * x * x);
                T::of(0.5) * x * (T::of(1.0) + u.tanh())
            }
            Activation::Silu => x * sigmoid(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
        }
    }

    /// d activation / dx at `x`.
    pub fn derivative<T: Real>(self, x: T) -> T {
        let one = T::of(1.0);
        match self {
            Activation::Gelu => {
                let x2 = x * x;
                let u = T::of(GELU_C) * (x + T::of(0.044715) * x2 * x);
                let t = u.tanh();
                let du = T::of(GELU_C) * (one + T::of(3.0 * 0.044715) * x2);
                T::of(0.5) * (one + t) + T::of(0.5) * x * (one - t * t) * du
            }
            Activation::Silu => {
                let s = sigmoid(x);
                s * (one + x * (one - s))
            }
            Activation::Sigmoid => {
                let s = sigmoid(x);
                s * (one - s)
            }
            Activation::Tanh => {
                let t = x.tanh();
                one - t * t
            }
        }
    }
}

/// Elements per parallel job: below this a thread costs more than it saves.
const CHUNK: usize = 1 << 14;

/// Runs `job(range)` over `0..n` in chunks across the pool.
fn chunked(n: usize, job: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
    if n <= CHUNK {
        job(0..n);
        return;
    }
    parallel::for_each(n.div_ceil(CHUNK), &|i| {
        job(i * CHUNK..((i + 1) * CHUNK).min(n))
    });
}

pub fn forward<T: Real>(act: Activation, x: &[T], out: &mut [T]) {
    let out_s = Shared::new(out);
    chunked(x.len(), &|r| {
        // SAFETY: each chunk of `out` belongs to one job.
        let o = unsafe { out_s.range(r.start, r.len()) };
        for (o, x) in o.iter_mut().zip(&x[r]) {
            *o = act.apply(*x);
        }
    });
}

/// `dx += dout · act'(x)`.
pub fn backward<T: Real>(act: Activation, dout: &[T], x: &[T], dx: &mut [T]) {
    let dx_s = Shared::new(dx);
    chunked(x.len(), &|r| {
        // SAFETY: each chunk of `dx` belongs to one job.
        let d = unsafe { dx_s.range(r.start, r.len()) };
        for ((d, g), x) in d.iter_mut().zip(&dout[r.clone()]).zip(&x[r]) {
            *d += *g * act.derivative(*x);
        }
    });
}
