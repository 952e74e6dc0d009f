//! Independent jobs over the kernel thread pool, and the shared output
//! buffer they write disjoint parts of.

use super::super::real::Real;
use crate::backend::cpu::pool;

/// Runs `job(i)` for every `i < jobs` across the pool. Threads claim jobs
/// one at a time as they get free, rather than each taking a fixed share:
/// on a shared machine one core is often slower than the other (or its
/// thread wakes late), and a fixed split would leave the fast one waiting.
/// Which thread runs a job never changes what it computes.
pub fn for_each(jobs: usize, job: &(dyn Fn(usize) + Sync)) {
    pool::global().for_each(jobs, job);
}

/// Elements per job of [`chunks`]: below this a thread costs more than it
/// saves.
pub const CHUNK: usize = 1 << 14;

/// Runs `job(range)` over `0..n` in [`CHUNK`]-sized ranges across the pool.
/// The ranges do not depend on the thread count, so a job that reduces its
/// range gives the same partial results on any number of threads.
pub fn chunks(n: usize, job: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
    if n <= CHUNK {
        job(0..n);
        return;
    }
    for_each(n.div_ceil(CHUNK), &|i| {
        job(i * CHUNK..((i + 1) * CHUNK).min(n))
    });
}

/// Runs `job(rows)` over `0..rows` rows of `row_len` elements, in jobs of
/// whole rows holding about [`CHUNK`] elements each (at least one row).
/// Like [`chunks`], the split does not depend on the thread count; `job`
/// also gets its job index (`rows.start / rows per job`).
pub fn row_chunks(
    rows: usize,
    row_len: usize,
    job: &(dyn Fn(usize, std::ops::Range<usize>) + Sync),
) {
    let per_job = rows_per_job(row_len);
    for_each(rows.div_ceil(per_job), &|i| {
        job(i, i * per_job..((i + 1) * per_job).min(rows))
    });
}

/// Rows of `row_len` in one [`row_chunks`] job.
pub fn rows_per_job(row_len: usize) -> usize {
    (CHUNK / row_len.max(1)).max(1)
}

/// [`row_chunks`] for jobs that also sum something over their rows: each
/// job adds into its own zeroed partial of `width`, and the partials are
/// added up in job order, so the total is the same on any thread count.
pub fn row_chunks_summed<T: Real>(
    rows: usize,
    row_len: usize,
    width: usize,
    job: &(dyn Fn(std::ops::Range<usize>, &mut [T]) + Sync),
) -> Vec<T> {
    let jobs = rows.div_ceil(rows_per_job(row_len));
    let mut partial = vec![T::default(); jobs * width];
    let partial_s = Shared::new(&mut partial);
    row_chunks(rows, row_len, &|i, rows| {
        // SAFETY: partial `i` belongs to job `i` alone.
        job(rows, unsafe { partial_s.range(i * width, width) })
    });
    let mut total = vec![T::default(); width];
    for p in partial.chunks_exact(width) {
        total.iter_mut().zip(p).for_each(|(t, p)| *t += *p);
    }
    total
}

/// A buffer that parallel jobs write through, each into its own parts.
pub struct Shared<T>(*mut T, usize);
// SAFETY: users guarantee the jobs' writes never overlap (see each use).
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub fn new(s: &mut [T]) -> Self {
        Shared(s.as_mut_ptr(), s.len())
    }

    /// Elements `start..start + len`.
    ///
    /// # Safety
    /// No two live slices from this may overlap.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, start: usize, len: usize) -> &mut [T] {
        assert!(
            start + len <= self.1,
            "kernel job writes outside its buffer"
        );
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }
}
