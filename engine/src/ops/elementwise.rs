//! Element-wise add and multiply. `b` may be as long as `a` or one row that
//! repeats over `a` (a bias, or a per-channel scale).

use super::launch;
use crate::error::{Error, Result};
use crate::profile::Cost;

/// `out = a + b`.
pub fn add(a: &[f32], b: &[f32], out: &mut [f32]) -> Result<()> {
    binary("add", a, b, out, |x, y| x + y)
}

/// `out = a * b`.
pub fn mul(a: &[f32], b: &[f32], out: &mut [f32]) -> Result<()> {
    binary("mul", a, b, out, |x, y| x * y)
}

/// `a += b` (the residual connection).
pub fn add_inplace(a: &mut [f32], b: &[f32]) -> Result<()> {
    inplace("add", a, b, |x, y| x + y)
}

/// `a *= b`.
pub fn mul_inplace(a: &mut [f32], b: &[f32]) -> Result<()> {
    inplace("mul", a, b, |x, y| x * y)
}

/// `a *= factor`.
pub fn scale(a: &mut [f32], factor: f32) {
    let n = a.len() as u64;
    let cost = Cost {
        bytes: 8 * n,
        flops: n,
    };
    launch(
        "scale",
        cost,
        || format!("f32[{n}]"),
        || a.iter_mut().for_each(|x| *x *= factor),
    );
}

fn binary(
    name: &'static str,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    f: impl Fn(f32, f32) -> f32,
) -> Result<()> {
    let (na, nb) = (a.len(), b.len());
    check(name, na, nb)?;
    if out.len() != a.len() {
        return Err(Error::shape(format!("{name} output"), a.len(), out.len()));
    }
    if b.is_empty() {
        return Ok(()); // and so is `a`
    }
    launch(
        name,
        cost(a.len(), b.len()),
        || shapes(na, nb),
        || {
            // Zipping equal-length chunks lets the compiler vectorise each row.
            for (oc, ac) in out.chunks_exact_mut(b.len()).zip(a.chunks_exact(b.len())) {
                for ((o, x), y) in oc.iter_mut().zip(ac).zip(b) {
                    *o = f(*x, *y);
                }
            }
        },
    );
    Ok(())
}

fn inplace(
    name: &'static str,
    a: &mut [f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> f32,
) -> Result<()> {
    let (na, nb) = (a.len(), b.len());
    check(name, na, nb)?;
    if b.is_empty() {
        return Ok(());
    }
    launch(
        name,
        cost(a.len(), b.len()),
        || shapes(na, nb),
        || {
            for ac in a.chunks_exact_mut(b.len()) {
                for (x, y) in ac.iter_mut().zip(b) {
                    *x = f(*x, *y);
                }
            }
        },
    );
    Ok(())
}

/// `b` must be as long as `a`, or a non-empty row whose length divides it.
fn check(name: &str, a: usize, b: usize) -> Result<()> {
    let ok = if b == 0 { a == 0 } else { a.is_multiple_of(b) };
    if !ok {
        return Err(Error::Invalid(format!(
            "{name}: the second operand ({b} elements) is neither as long as the first ({a}) nor a row that repeats over it"
        )));
    }
    Ok(())
}

fn cost(a: usize, b: usize) -> Cost {
    Cost {
        bytes: 4 * (2 * a + b.min(a)) as u64,
        flops: a as u64,
    }
}

fn shapes(a: usize, b: usize) -> String {
    format!("f32[{a}], f32[{b}]")
}
