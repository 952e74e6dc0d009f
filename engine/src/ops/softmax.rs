//! Softmax over rows, in place: max-subtracted for stability, with an
//! AVX2 / AVX-512 exp where the CPU has one.

use super::launch;
use crate::backend::cpu::{simd, vector};
use crate::error::{Error, Result};
use crate::profile::Cost;

/// Replace each row of width `width` of `x` by its softmax. A row that is
/// all -inf (nothing to attend to) becomes zeros.
pub fn softmax(x: &mut [f32], width: usize) -> Result<()> {
    if width == 0 || !x.len().is_multiple_of(width) {
        return Err(Error::Invalid(format!(
            "softmax: {} elements are not whole rows of width {width}",
            x.len()
        )));
    }
    let n = x.len() as u64;
    let cost = Cost {
        bytes: 12 * n, // read for the max, read + write for exp, then scale
        flops: 5 * n,
    };
    let rows = x.len() / width;
    let isa = simd::active();
    launch(
        "softmax",
        cost,
        || format!("f32[{rows}, {width}]"),
        || {
            x.chunks_exact_mut(width)
                .for_each(|row| vector::softmax(isa, row));
        },
    );
    Ok(())
}
