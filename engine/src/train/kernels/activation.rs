//! Activations, each with the derivative its backward multiplies by.
//!
//! GELU is the tanh approximation GPT-2 uses (`gelu_new`), as in inference.

use super::super::real::Real;
use super::parallel::{self, Shared};
use crate::backend::cpu::simd::vectorized;

/// Which activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Gelu,
    Silu,
    Sigmoid,
    Tanh,
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
            Activation::Gelu => gelu(x),
            Activation::Silu => silu(x),
            Activation::Sigmoid => x.logistic(),
            Activation::Tanh => x.tanh(),
        }
    }

    /// d activation / dx at `x`.
    pub fn derivative<T: Real>(self, x: T) -> T {
        match self {
            Activation::Gelu => gelu_derivative(x),
            Activation::Silu => silu_derivative(x),
            Activation::Sigmoid => sigmoid_derivative(x),
            Activation::Tanh => tanh_derivative(x),
        }
    }
}

// GELU through the logistic function: with u = √(2/π)(x + 0.044715x³),
// 0.5(1 + tanh u) = σ(2u), so gelu(x) = x·σ(2u), and since
// 1 − tanh²u = 4σ(2u)(1 − σ(2u)), its derivative is
// σ(2u) + 2x·σ(2u)(1 − σ(2u))·du/dx. One exp per element and no libm call,
// so the f32 loops vectorise (libm's tanh was a third of a GPT step).

#[inline(always)]
fn gelu_u<T: Real>(x: T) -> T {
    T::of(GELU_C) * (x + T::of(0.044715) * x * x * x)
}

#[inline(always)]
fn gelu<T: Real>(x: T) -> T {
    x * (T::of(2.0) * gelu_u(x)).logistic()
}

#[inline(always)]
fn gelu_derivative<T: Real>(x: T) -> T {
    let s = (T::of(2.0) * gelu_u(x)).logistic();
    let du = T::of(GELU_C) * (T::of(1.0) + T::of(3.0 * 0.044715) * x * x);
    s + T::of(2.0) * x * s * (T::of(1.0) - s) * du
}

#[inline(always)]
fn silu<T: Real>(x: T) -> T {
    x * x.logistic()
}

#[inline(always)]
fn silu_derivative<T: Real>(x: T) -> T {
    let s = x.logistic();
    s * (T::of(1.0) + x * (T::of(1.0) - s))
}

#[inline(always)]
fn sigmoid_derivative<T: Real>(x: T) -> T {
    let s = x.logistic();
    s * (T::of(1.0) - s)
}

#[inline(always)]
fn tanh_derivative<T: Real>(x: T) -> T {
    let t = x.tanh();
    T::of(1.0) - t * t
}

pub fn forward<T: Real>(act: Activation, x: &[T], out: &mut [T]) {
    // One loop per activation, each with its function inlined (a match
    // inside the loop would keep it from vectorising).
    match act {
        Activation::Gelu => map(x, out, gelu),
        Activation::Silu => map(x, out, silu),
        Activation::Sigmoid => map(x, out, T::logistic),
        Activation::Tanh => map(x, out, T::tanh),
    }
}

/// `out[i] = f(x[i])`, in parallel chunks.
fn map<T: Real>(x: &[T], out: &mut [T], f: impl Fn(T) -> T + Sync) {
    let out_s = Shared::new(out);
    parallel::chunks(x.len(), &|r| {
        // SAFETY: each chunk of `out` belongs to one job.
        let o = unsafe { out_s.range(r.start, r.len()) };
        vectorized(
            #[inline(always)]
            || {
                for (o, x) in o.iter_mut().zip(&x[r]) {
                    *o = f(*x);
                }
            },
        )
    });
}

/// `dx += dout · act'(x)`.
pub fn backward<T: Real>(act: Activation, dout: &[T], x: &[T], dx: &mut [T]) {
    match act {
        Activation::Gelu => chain(dout, x, dx, gelu_derivative),
        Activation::Silu => chain(dout, x, dx, silu_derivative),
        Activation::Sigmoid => chain(dout, x, dx, sigmoid_derivative),
        Activation::Tanh => chain(dout, x, dx, tanh_derivative),
    }
}

/// `dx[i] += dout[i] · derivative(x[i])`, in parallel chunks.
fn chain<T: Real>(dout: &[T], x: &[T], dx: &mut [T], derivative: impl Fn(T) -> T + Sync) {
    let dx_s = Shared::new(dx);
    parallel::chunks(x.len(), &|r| {
        // SAFETY: each chunk of `dx` belongs to one job.
        let d = unsafe { dx_s.range(r.start, r.len()) };
        vectorized(
            #[inline(always)]
            || {
                for ((d, g), x) in d.iter_mut().zip(&dout[r.clone()]).zip(&x[r]) {
                    *d += *g * derivative(*x);
                }
            },
        )
    });
}
