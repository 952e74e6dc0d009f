//! Activations, each with the derivative its backward multiplies by.
//!
//! GELU is the tanh approximation GPT-2 uses (`gelu_new`), as in inference.

use super::super::real::Real;

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

pub fn forward<T: Real>(act: Activation, x: &[T], out: &mut [T]) {
    for (o, x) in out.iter_mut().zip(x) {
        *o = act.apply(*x);
    }
}

/// `dx += dout · act'(x)`.
pub fn backward<T: Real>(act: Activation, dout: &[T], x: &[T], dx: &mut [T]) {
    for ((d, g), x) in dx.iter_mut().zip(dout).zip(x) {
        *d += *g * act.derivative(*x);
    }
}
