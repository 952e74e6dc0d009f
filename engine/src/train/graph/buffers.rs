//! Activation and gradient buffers kept from one step for the next.
//!
//! Every training step allocates the same buffers in the same sizes, many
//! of them megabytes. Fresh from the allocator each time, such a buffer is
//! a new memory mapping: the first write to each page faults, and freeing
//! it makes the kernel flush the other threads' TLBs. On a two-core
//! machine that was a tenth of a GPT step. The pool hands back a zeroed
//! buffer of the same length instead; only sizes the last step did not
//! ask for are let go, so a run whose shapes change (GRPO's completions)
//! does not hoard memory.
//!
//! Gradients are handed out zeroed (kernels add into them); outputs that a
//! kernel overwrites in full skip the zeroing.

use super::super::kernels::parallel::{self, Shared};
use std::collections::{HashMap, HashSet};

#[derive(Default)]
pub struct Buffers {
    /// Free buffers by length.
    free: HashMap<usize, Vec<Vec<f32>>>,
    /// Lengths asked for since the last [`Buffers::trim`].
    asked: HashSet<usize>,
}

impl Buffers {
    /// `len` zeros, in a recycled buffer where one of that length is free
    /// (for gradients, which kernels add into).
    pub fn zeros(&mut self, len: usize) -> Vec<f32> {
        match self.take(len) {
            Some(mut buffer) => {
                let out = Shared::new(&mut buffer);
                parallel::chunks(len, &|r| {
                    // SAFETY: each chunk belongs to one job.
                    unsafe { out.range(r.start, r.len()) }.fill(0.0)
                });
                buffer
            }
            None => vec![0.0; len],
        }
    }

    /// `len` values for a kernel that writes every one of them: a recycled
    /// buffer still holding an earlier step's values, or zeros. Skipping
    /// the zeroing saves a pass over every activation of a step. (Resuming
    /// a run starts from fresh zeros, so the resume test would see a
    /// kernel that left some value unwritten.)
    pub fn overwritten(&mut self, len: usize) -> Vec<f32> {
        self.take(len).unwrap_or_else(|| vec![0.0; len])
    }

    fn take(&mut self, len: usize) -> Option<Vec<f32>> {
        self.asked.insert(len);
        self.free.get_mut(&len).and_then(Vec::pop)
    }

    /// Takes `buffer` back for a later [`Buffers::zeros`] of its length.
    pub fn recycle(&mut self, buffer: Vec<f32>) {
        // Small buffers cost the allocator nothing worth saving.
        if buffer.len() >= MIN_LEN {
            self.free.entry(buffer.len()).or_default().push(buffer);
        }
    }

    /// Lets go of the free buffers whose length was not asked for since
    /// the last trim.
    pub fn trim(&mut self) {
        let asked = std::mem::take(&mut self.asked);
        self.free.retain(|len, _| asked.contains(len));
    }

    /// Bytes held free.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.free.values().flatten().map(|b| b.len() * 4).sum()
    }
}

/// Buffers shorter than this (16 KiB) are left to the allocator.
const MIN_LEN: usize = 1 << 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_comes_back_zeroed_and_without_a_new_allocation() {
        let mut pool = Buffers::default();
        let mut a = pool.zeros(MIN_LEN);
        a.fill(7.0);
        let address = a.as_ptr();
        pool.recycle(a);
        let b = pool.zeros(MIN_LEN);
        assert_eq!(b.as_ptr(), address);
        assert!(b.iter().all(|&v| v == 0.0));
        // A buffer for a kernel to overwrite is recycled too.
        pool.recycle(b);
        let c = pool.overwritten(MIN_LEN);
        assert_eq!(c.as_ptr(), address);
        // Another length is a new buffer.
        assert_eq!(pool.zeros(MIN_LEN + 1).len(), MIN_LEN + 1);
    }

    #[test]
    fn trim_keeps_only_the_lengths_asked_for_since_the_last_trim() {
        let mut pool = Buffers::default();
        let (a, b) = (pool.zeros(MIN_LEN), pool.zeros(2 * MIN_LEN));
        pool.recycle(a);
        pool.recycle(b);
        pool.trim();
        assert_eq!(pool.held(), 3 * MIN_LEN * 4);
        // The next step asks only for the first length again.
        let a = pool.zeros(MIN_LEN);
        pool.recycle(a);
        pool.trim();
        assert_eq!(pool.held(), MIN_LEN * 4);
    }

    #[test]
    fn small_buffers_are_not_kept() {
        let mut pool = Buffers::default();
        pool.recycle(vec![1.0; 16]);
        assert_eq!(pool.held(), 0);
    }
}
