//! Embedding lookup: `out[t] = table[ids[t]]`.

use super::super::real::Real;

pub fn forward<T: Real>(table: &[T], ids: &[u32], dim: usize, out: &mut [T]) {
    for (o, &id) in out.chunks_exact_mut(dim).zip(ids) {
        let at = id as usize * dim;
        o.copy_from_slice(&table[at..at + dim]);
    }
}

/// `dtable[ids[t]] += dout[t]` (a row used twice gets both).
pub fn backward<T: Real>(dout: &[T], ids: &[u32], dim: usize, dtable: &mut [T]) {
    for (g, &id) in dout.chunks_exact(dim).zip(ids) {
        let at = id as usize * dim;
        dtable[at..at + dim]
            .iter_mut()
            .zip(g)
            .for_each(|(d, g)| *d += *g);
    }
}
