//! A worker pool made for kernels that take microseconds.
//!
//! Decoding one token launches hundreds of small matrix-vector products, so
//! waking threads through the OS for each would cost more than the work.
//! Workers therefore spin for a short while between jobs and only then sleep
//! on a condition variable. The calling thread always takes a share of the
//! work itself, so `threads = 2` means the caller plus one worker.
//!
//! Without the `threads` feature every job runs inline. On wasm32 with
//! `threads` (a cross-origin isolated page, shared memory) the workers are
//! Web Workers, started by a spawner the embedder registers with
//! [`set_thread_spawner`]; without one the pool runs on the caller alone.

use std::ops::Range;
use std::sync::{Mutex, RwLock};

/// A job: called once on each thread with `(thread_index, thread_count)`.
pub type Job<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Split `0..n` into `parts` nearly equal ranges and return range `part`.
/// Ranges are multiples of `align` (except the last), so blocks of
/// quantized rows or SIMD lanes are never split between threads.
pub fn split_range(n: usize, part: usize, parts: usize, align: usize) -> Range<usize> {
    let units = n.div_ceil(align.max(1));
    let start = units * part / parts * align;
    let end = units * (part + 1) / parts * align;
    start.min(n)..end.min(n)
}

static GLOBAL: RwLock<Option<&'static ThreadPool>> = RwLock::new(None);
static SETTING: Mutex<Option<usize>> = Mutex::new(None);

/// The number of threads kernels use unless told otherwise: the machine's
/// available parallelism (1 without the `threads` feature).
pub fn default_threads() -> usize {
    if cfg!(feature = "threads") {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    }
}

/// The process-wide pool, created on first use with [`default_threads`] (or
/// the count given to [`set_threads`]).
pub fn global() -> &'static ThreadPool {
    if let Some(pool) = *GLOBAL.read().unwrap_or_else(|e| e.into_inner()) {
        return pool;
    }
    let mut slot = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| {
        let n = SETTING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(default_threads);
        Box::leak(Box::new(ThreadPool::new(n)))
    })
}

/// The most threads a person may ask for.
pub const MAX_THREADS: usize = 1024;

/// How many threads the CPU kernels use: one option for every face
/// (`--threads N` on the command line, `set_threads(n)` in a script or a
/// notebook, `threads` in the browser's settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct ThreadOptions {
    /// Threads for the kernels (default: all cores).
    #[cfg_attr(feature = "cli", arg(long))]
    pub threads: Option<usize>,
}

impl ThreadOptions {
    /// Sets the global pool's thread count, if one was asked for.
    pub fn apply(&self) -> crate::error::Result<()> {
        match self.threads {
            Some(n) => try_set_threads(n),
            None => Ok(()),
        }
    }
}

/// [`set_threads`], refusing 0 and more than [`MAX_THREADS`].
pub fn try_set_threads(n: usize) -> crate::error::Result<()> {
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(crate::error::Error::Invalid(format!(
            "threads must be between 1 and {MAX_THREADS}, not {n}"
        )));
    }
    set_threads(n);
    Ok(())
}

/// Set the thread count of the global pool. The pool is rebuilt only when
/// the count changes; the old one's workers are told to exit.
pub fn set_threads(n: usize) {
    let n = n.max(1);
    *SETTING.lock().unwrap_or_else(|e| e.into_inner()) = Some(n);
    let mut slot = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    if slot.is_some_and(|p| p.threads() == n) {
        return;
    }
    if let Some(old) = slot.take() {
        old.shut_down();
    }
    *slot = Some(Box::leak(Box::new(ThreadPool::new(n))));
}

/// Run `a` and `b`, on two OS threads where there are any (not on wasm32,
/// whose threads are the pool's Web Workers), and return both results.
pub fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    #[cfg(all(feature = "threads", not(target_arch = "wasm32")))]
    {
        std::thread::scope(|s| {
            let b = s.spawn(b);
            let a = a();
            (a, b.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        })
    }
    #[cfg(not(all(feature = "threads", not(target_arch = "wasm32"))))]
    {
        (a(), b())
    }
}

#[cfg(feature = "threads")]
pub use threaded::ThreadPool;

#[cfg(all(feature = "threads", target_arch = "wasm32"))]
pub use threaded::set_thread_spawner;

#[cfg(not(feature = "threads"))]
pub use inline::ThreadPool;

#[cfg(not(feature = "threads"))]
mod inline {
    use super::Job;

    /// Without threads every job runs on the caller.
    pub struct ThreadPool;

    impl ThreadPool {
        pub fn new(_threads: usize) -> Self {
            ThreadPool
        }
        pub fn threads(&self) -> usize {
            1
        }
        pub fn run(&self, job: Job<'_>) {
            job(0, 1);
        }
        pub(super) fn shut_down(&self) {}
    }
}

#[cfg(feature = "threads")]
mod threaded {
    use super::Job;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
    use std::sync::{Arc, Condvar, Mutex};

    /// A started worker: a joinable std thread natively; on wasm32 a Web
    /// Worker, which is told to exit but cannot be joined.
    #[cfg(not(target_arch = "wasm32"))]
    type Handle = std::thread::JoinHandle<()>;
    #[cfg(target_arch = "wasm32")]
    type Handle = ();

    #[cfg(not(target_arch = "wasm32"))]
    fn spawn(index: usize, body: Box<dyn FnOnce() + Send>) -> Option<Handle> {
        let thread = std::thread::Builder::new()
            .name(format!("monologue-worker-{index}"))
            .spawn(body)
            .expect("spawning a kernel worker thread");
        Some(thread)
    }

    /// Starts a thread on wasm32 (std cannot): the embedder's function runs
    /// the closure on a new Web Worker that shares this module's memory,
    /// and says whether it could.
    #[cfg(target_arch = "wasm32")]
    pub type Spawner = fn(Box<dyn FnOnce() + Send>) -> bool;

    #[cfg(target_arch = "wasm32")]
    static SPAWNER: std::sync::OnceLock<Spawner> = std::sync::OnceLock::new();

    /// Register how threads start on wasm32; pools made before this run on
    /// the caller alone.
    #[cfg(target_arch = "wasm32")]
    pub fn set_thread_spawner(spawner: Spawner) {
        let _ = SPAWNER.set(spawner);
    }

    #[cfg(target_arch = "wasm32")]
    fn spawn(_index: usize, body: Box<dyn FnOnce() + Send>) -> Option<Handle> {
        SPAWNER
            .get()
            .and_then(|spawner| spawner(body).then_some(()))
    }

    /// How many times an idle worker polls for a new job before sleeping
    /// (a few hundred microseconds: longer than the gap between two kernels
    /// of one decode step, far shorter than a person notices).
    const SPINS_BEFORE_SLEEP: u32 = 20_000;

    thread_local! {
        /// Set while this thread runs a job, so a kernel that itself calls the
        /// pool runs inline instead of deadlocking.
        static INSIDE_JOB: Cell<bool> = const { Cell::new(false) };
    }

    pub struct ThreadPool {
        shared: Arc<Shared>,
        /// Serialises callers: one job at a time.
        caller: Mutex<()>,
        handles: Mutex<Vec<Handle>>,
        threads: usize,
    }

    struct Shared {
        /// Bumped once per job; workers run the job when they see it change.
        generation: AtomicUsize,
        /// Workers finished with the current job.
        finished: AtomicUsize,
        /// The current job, a type-erased borrowed closure (see `run`).
        job: Mutex<Option<JobPtr>>,
        panicked: AtomicBool,
        shutdown: AtomicBool,
        sleepers: AtomicUsize,
        sleep_lock: Mutex<()>,
        wake: Condvar,
    }

    #[derive(Clone, Copy)]
    struct JobPtr(*const (dyn Fn(usize, usize) + Sync + 'static));
    // SAFETY: the pointee is `Sync`, and `run` keeps it alive until every
    // worker has finished with it.
    unsafe impl Send for JobPtr {}

    impl ThreadPool {
        pub fn new(threads: usize) -> Self {
            #[cfg(target_arch = "wasm32")]
            let threads = if SPAWNER.get().is_some() { threads } else { 1 };
            let threads = threads.max(1);
            let shared = Arc::new(Shared {
                generation: AtomicUsize::new(0),
                finished: AtomicUsize::new(0),
                job: Mutex::new(None),
                panicked: AtomicBool::new(false),
                shutdown: AtomicBool::new(false),
                sleepers: AtomicUsize::new(0),
                sleep_lock: Mutex::new(()),
                wake: Condvar::new(),
            });
            let handles: Vec<Handle> = (1..threads)
                .map_while(|index| {
                    let shared = shared.clone();
                    spawn(index, Box::new(move || worker(shared, index, threads)))
                })
                .collect();
            if handles.len() + 1 < threads {
                // A worker could not start (only an embedder's spawner can
                // fail): the ones that did exit, and the caller works alone.
                shared.shutdown.store(true, SeqCst);
                return ThreadPool::new_inline(shared);
            }
            ThreadPool {
                shared,
                caller: Mutex::new(()),
                handles: Mutex::new(handles),
                threads,
            }
        }

        /// A pool of just the caller, over `shared` (already shut down).
        fn new_inline(shared: Arc<Shared>) -> Self {
            ThreadPool {
                shared,
                caller: Mutex::new(()),
                handles: Mutex::new(Vec::new()),
                threads: 1,
            }
        }

        pub fn threads(&self) -> usize {
            self.threads
        }

        /// Run `job(i, n)` for every thread index `i` in `0..n`, the caller
        /// taking index 0, and return when all have finished. A panic on any
        /// thread is re-raised here.
        pub fn run(&self, job: Job<'_>) {
            if self.threads == 1 || INSIDE_JOB.with(|f| f.get()) {
                for i in 0..self.threads {
                    job(i, self.threads);
                }
                return;
            }
            let _one_caller = self.caller.lock().unwrap_or_else(|e| e.into_inner());
            // SAFETY: we erase the closure's lifetime to hand it to the
            // workers, and do not return before all of them have finished
            // calling it (the `finished` wait below, also on panic).
            let erased: JobPtr = unsafe {
                JobPtr(std::mem::transmute::<
                    *const (dyn Fn(usize, usize) + Sync + '_),
                    *const (dyn Fn(usize, usize) + Sync + 'static),
                >(job as *const _))
            };
            let shared = &self.shared;
            *shared.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(erased);
            shared.finished.store(0, SeqCst);
            shared.generation.fetch_add(1, SeqCst);
            if shared.sleepers.load(SeqCst) > 0 {
                let _guard = shared.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
                shared.wake.notify_all();
            }

            let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                INSIDE_JOB.with(|f| f.set(true));
                job(0, self.threads);
                INSIDE_JOB.with(|f| f.set(false));
            }));
            INSIDE_JOB.with(|f| f.set(false));
            while shared.finished.load(Acquire) < self.threads - 1 {
                std::hint::spin_loop();
            }
            *shared.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
            if let Err(panic) = mine {
                std::panic::resume_unwind(panic);
            }
            if shared.panicked.swap(false, SeqCst) {
                panic!("a kernel panicked on a worker thread");
            }
        }

        pub(super) fn shut_down(&self) {
            self.shared.shutdown.store(true, SeqCst);
            {
                let _guard = self
                    .shared
                    .sleep_lock
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                self.shared.wake.notify_all();
            }
            for handle in self
                .handles
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..)
            {
                #[cfg(not(target_arch = "wasm32"))]
                let _ = handle.join();
                #[cfg(target_arch = "wasm32")]
                let () = handle;
            }
        }
    }

    fn worker(shared: Arc<Shared>, index: usize, threads: usize) {
        let mut seen = 0usize;
        loop {
            // Wait for a new generation: spin first, then sleep.
            let mut spins = 0u32;
            loop {
                if shared.shutdown.load(Acquire) {
                    return;
                }
                let generation = shared.generation.load(SeqCst);
                if generation != seen {
                    seen = generation;
                    break;
                }
                if spins < SPINS_BEFORE_SLEEP {
                    spins += 1;
                    std::hint::spin_loop();
                    continue;
                }
                let guard = shared.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
                shared.sleepers.fetch_add(1, SeqCst);
                if shared.generation.load(SeqCst) == seen && !shared.shutdown.load(SeqCst) {
                    drop(shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner()));
                } else {
                    drop(guard);
                }
                shared.sleepers.fetch_sub(1, SeqCst);
                spins = 0;
            }
            let job = *shared.job.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(JobPtr(job)) = job {
                INSIDE_JOB.with(|f| f.set(true));
                // SAFETY: `run` keeps the closure alive until `finished`
                // counts this worker.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                    (*job)(index, threads)
                }));
                INSIDE_JOB.with(|f| f.set(false));
                if result.is_err() {
                    shared.panicked.store(true, SeqCst);
                }
            }
            shared.finished.fetch_add(1, Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn split_range_covers_everything_once_and_respects_alignment() {
        for n in [0, 1, 31, 32, 33, 576, 1000] {
            for parts in 1..5 {
                let ranges: Vec<_> = (0..parts).map(|p| split_range(n, p, parts, 32)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[parts - 1].end, n);
                for w in ranges.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert!(w[0].end % 32 == 0 || w[0].end == n);
                }
            }
        }
    }

    #[test]
    fn every_thread_runs_the_job_once_per_call() {
        let pool = ThreadPool::new(3);
        for round in 1..=200 {
            let calls = AtomicUsize::new(0);
            let mask = AtomicUsize::new(0);
            pool.run(&|i, n| {
                assert_eq!(n, pool.threads());
                calls.fetch_add(1, Ordering::SeqCst);
                mask.fetch_or(1 << i, Ordering::SeqCst);
            });
            assert_eq!(
                calls.load(Ordering::SeqCst),
                pool.threads(),
                "round {round}"
            );
            assert_eq!(mask.load(Ordering::SeqCst), (1 << pool.threads()) - 1);
        }
    }

    #[test]
    fn a_panicking_job_is_reported_and_the_pool_survives() {
        let pool = ThreadPool::new(2);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(&|i, _| assert!(i != pool.threads() - 1, "boom"));
        }));
        assert!(result.is_err());
        let calls = AtomicUsize::new(0);
        pool.run(&|_, _| {
            calls.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(calls.load(Ordering::SeqCst), pool.threads());
    }

    #[test]
    fn nested_runs_execute_inline() {
        let pool = ThreadPool::new(2);
        let inner = AtomicUsize::new(0);
        pool.run(&|_, _| {
            pool.run(&|_, _| {
                inner.fetch_add(1, Ordering::SeqCst);
            })
        });
        assert_eq!(
            inner.load(Ordering::SeqCst),
            pool.threads() * pool.threads()
        );
    }
}
