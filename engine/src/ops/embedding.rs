//! Token embedding lookup: gather rows of a `[vocab, d]` table into f32.

use super::launch;
use crate::error::{Error, Result};
use crate::profile::Cost;
use crate::quant;
use crate::tensor::Tensor;

/// `out[t] = table[ids[t]]` for each token, converted to f32; `out` is
/// `[ids.len(), d]`. The table may be any dtype that
/// [`quant::dequantize`] reads (plain floats, or quantized blocks).
pub fn embedding(table: &Tensor, ids: &[u32], out: &mut [f32]) -> Result<()> {
    let &[vocab, d] = table.dims() else {
        return Err(Error::Invalid(format!(
            "embedding: the table must be [vocab, d], got shape {}",
            table.shape()
        )));
    };
    if out.len() != ids.len() * d {
        return Err(Error::shape(
            format!("embedding output [{}, {d}]", ids.len()),
            ids.len() * d,
            out.len(),
        ));
    }
    if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
        return Err(Error::Invalid(format!(
            "embedding: token id {id} is out of range for a vocabulary of {vocab}"
        )));
    }
    let dtype = table.dtype();
    let row_bytes = dtype.bytes_for(d).ok_or_else(|| {
        Error::Invalid(format!(
            "embedding: a {dtype} row of {d} is not whole blocks"
        ))
    })?;
    let bytes = table.as_bytes()?;
    let cost = Cost {
        bytes: ((row_bytes + 4 * d) * ids.len()) as u64,
        flops: 0,
    };
    let shapes = || format!("{dtype}[{vocab}, {d}] [{}]", ids.len());
    launch("embedding", cost, shapes, || {
        for (&id, o) in ids.iter().zip(out.chunks_exact_mut(d.max(1))) {
            let start = id as usize * row_bytes;
            quant::dequantize(dtype, &bytes[start..start + row_bytes], o)?;
        }
        Ok(())
    })
}
