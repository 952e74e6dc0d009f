//! A worker pool made for kernels that take microseconds.
//!
//! Decoding one token launches hundreds of small matrix-vector products, so
//! waking threads through the OS for each would cost more than the work.
//! Workers therefore spin for a short while between jobs and only then sleep
//! on a condition variable. The calling thread always takes a share of the
//! work itself, so `threads = 2` means the caller plus one worker.
//!
//! Machines are shared: a browser, an IDE or a build may hold a core, and a
//! worker that the OS has descheduled can take milliseconds to run again.
//! Kernels therefore split their work into chunks that threads claim as
//! they get free ([`ThreadPool::for_each`]), and the caller, once every
//! chunk is claimed, closes the job: a worker that has not yet joined it
//! does not, so the caller never waits for a sleeping thread, only for
//! chunks already being computed. On an idle machine every thread joins at
//! once and the chunks spread as evenly as a fixed split would.
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
        pub fn for_each(&self, items: usize, job: &(dyn Fn(usize) + Sync)) {
            (0..items).for_each(job);
        }
        pub(super) fn shut_down(&self) {}
    }
}

#[cfg(feature = "threads")]
mod threaded {
    use super::Job;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
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

    /// How long an idle worker polls for a new job before sleeping: longer
    /// than the gap between two kernels of one decode step (or a busy
    /// machine's time slice), far shorter than a person notices.
    const POLL_BEFORE_SLEEP: std::time::Duration = std::time::Duration::from_millis(2);

    thread_local! {
        /// Set while this thread runs a job, so a kernel that itself calls the
        /// pool runs inline instead of deadlocking.
        static INSIDE_JOB: Cell<bool> = const { Cell::new(false) };
    }

    /// The gate word through which a job is published, joined, closed and
    /// finished, so that one cache line carries the whole exchange between
    /// the caller and the workers:
    /// bits 32..64 the job's generation (a 32-bit count of jobs), bits
    /// 17..32 how many workers finished it, bits 1..17 how many joined it,
    /// bit 0 whether it is still open. A worker joins only an open gate of
    /// the generation it saw, so a late worker can neither join a closed
    /// job nor slip into the next one.
    pub(super) fn gate(generation: u32) -> u64 {
        (generation as u64) << 32 | 1
    }

    pub(super) fn generation(gate: u64) -> u32 {
        (gate >> 32) as u32
    }

    pub(super) fn joined(gate: u64) -> usize {
        ((gate >> 1) & 0xFFFF) as usize
    }

    fn finished(gate: u64) -> usize {
        ((gate >> 17) & 0x7FFF) as usize
    }

    /// What a worker adds to the gate when it has finished the job.
    const ONE_FINISHED: u64 = 1 << 17;

    /// How long a waiting thread spins before it starts yielding its core
    /// between polls. On an idle machine the kernels of one decode step
    /// follow each other within microseconds, and a yield (a system call)
    /// would only delay the next one; a wait longer than this means the
    /// thread waited for is not running, and on a busy machine the core
    /// may be just what it needs.
    const SPIN_BEFORE_YIELDING: std::time::Duration = std::time::Duration::from_micros(20);

    /// Polls between looks at the clock while spinning.
    const POLLS_PER_CLOCK: u32 = 64;

    /// What one poll is taken to cost on wasm32, whose std has no clock
    /// (`Instant` panics there): waits are measured in polls instead.
    #[cfg(target_arch = "wasm32")]
    const ASSUMED_NANOS_PER_POLL: u64 = 50;

    /// Spin-then-yield waiting, for one wait.
    struct Backoff {
        polls: u32,
        #[cfg(not(target_arch = "wasm32"))]
        started: Option<std::time::Instant>,
        yielding: bool,
    }

    impl Backoff {
        fn new() -> Self {
            Backoff {
                polls: 0,
                #[cfg(not(target_arch = "wasm32"))]
                started: None,
                yielding: false,
            }
        }

        /// One poll's pause: a spin hint at first, a yield after a while.
        fn pause(&mut self) {
            self.polls += 1;
            if self.yielding {
                std::thread::yield_now();
                return;
            }
            std::hint::spin_loop();
            if self.polls.is_multiple_of(POLLS_PER_CLOCK) {
                self.yielding = self.waited() >= SPIN_BEFORE_YIELDING;
            }
        }

        /// How long this wait has lasted (from the first look at the
        /// clock; the polls before it take well under a microsecond).
        #[cfg(not(target_arch = "wasm32"))]
        fn waited(&mut self) -> std::time::Duration {
            let now = std::time::Instant::now();
            now.duration_since(*self.started.get_or_insert(now))
        }

        #[cfg(target_arch = "wasm32")]
        fn waited(&mut self) -> std::time::Duration {
            std::time::Duration::from_nanos(self.polls as u64 * ASSUMED_NANOS_PER_POLL)
        }
    }

    /// How long the caller waits, spinning and yielding, for a worker that
    /// holds a claimed chunk before it starts to sleep between polls. A
    /// worker that long overdue has been descheduled on its core; an idle
    /// core is what makes the OS move it here.
    const YIELD_BEFORE_SLEEPING: std::time::Duration = std::time::Duration::from_micros(200);

    /// Wait until `done()`. (In a browser the waiting thread may be the
    /// page's own, which must not block, so there it never sleeps.)
    fn wait_until(done: impl Fn() -> bool) {
        let mut backoff = Backoff::new();
        while !done() {
            if cfg!(not(target_arch = "wasm32"))
                && backoff.yielding
                && backoff.polls.is_multiple_of(POLLS_PER_CLOCK)
                && backoff.waited() >= YIELD_BEFORE_SLEEPING
            {
                std::thread::sleep(std::time::Duration::from_micros(20));
                continue;
            }
            backoff.pause();
        }
    }

    /// Thread counts up to this keep [`ThreadPool::for_each`]'s spans on the
    /// stack.
    const FEW_THREADS: usize = 8;

    /// A run of items that its owner claims from the front, one at a time,
    /// and other threads from the back, half of what is left at a time, so
    /// that each reads memory in order: the owner streams through its part,
    /// and a helper through the stretch it took, rather than the two
    /// leapfrogging each other tile by tile. Front and back
    /// share one atomic word (low and high 32 bits), so a claim is one
    /// compare-and-swap; the span has a cache line of its own.
    #[repr(align(64))]
    struct Span {
        ends: AtomicU64,
    }

    impl Span {
        fn new(range: std::ops::Range<usize>) -> Self {
            Span {
                ends: AtomicU64::new(range.start as u64 | (range.end as u64) << 32),
            }
        }

        /// The owner's next item from the front, or for a helper the back
        /// half of what is left (so that it too reads one stretch of memory
        /// in order). The owner's claim is one atomic add, which never
        /// retries: once the front passes the back the span is empty, and
        /// the owner stops at the first empty answer (so the front, below
        /// 2^32 - 1, never carries into the back).
        fn claim(&self, own: bool) -> Option<std::ops::Range<usize>> {
            if own {
                let ends = self.ends.fetch_add(1, Relaxed);
                let (front, back) = (ends & 0xFFFF_FFFF, ends >> 32);
                return (front < back).then_some(front as usize..front as usize + 1);
            }
            let mut ends = self.ends.load(Relaxed);
            loop {
                let (front, back) = (ends & 0xFFFF_FFFF, ends >> 32);
                if front >= back {
                    return None;
                }
                let start = back - (back - front).div_ceil(2);
                let taken = front | start << 32;
                match self
                    .ends
                    .compare_exchange_weak(ends, taken, Relaxed, Relaxed)
                {
                    Ok(_) => return Some(start as usize..back as usize),
                    Err(now) => ends = now,
                }
            }
        }
    }

    pub struct ThreadPool {
        shared: Arc<Shared>,
        /// Serialises callers, one job at a time, and holds the generation
        /// of the last job.
        caller: Mutex<u32>,
        handles: Mutex<Vec<Handle>>,
        threads: usize,
    }

    struct Shared {
        /// The gate and the job it guards, on one cache line.
        current: Current,
        panicked: AtomicBool,
        shutdown: AtomicBool,
        sleepers: AtomicUsize,
        sleep_lock: Mutex<()>,
        wake: Condvar,
    }

    #[repr(align(64))]
    struct Current {
        /// See [`gate`].
        gate: AtomicU64,
        /// The job, a type-erased borrowed closure. Written by the caller
        /// before it opens the gate (a release store) and read by a worker
        /// after it joined (an acquire exchange); the caller changes it
        /// again only after every worker that joined has finished.
        job: std::cell::UnsafeCell<Option<JobPtr>>,
    }

    // SAFETY: access to `job` is ordered through `gate` as described above.
    unsafe impl Sync for Current {}

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
                current: Current {
                    gate: AtomicU64::new(0),
                    job: std::cell::UnsafeCell::new(None),
                },
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
                caller: Mutex::new(0),
                handles: Mutex::new(handles),
                threads,
            }
        }

        /// A pool of just the caller, over `shared` (already shut down).
        fn new_inline(shared: Arc<Shared>) -> Self {
            ThreadPool {
                shared,
                caller: Mutex::new(0),
                handles: Mutex::new(Vec::new()),
                threads: 1,
            }
        }

        pub fn threads(&self) -> usize {
            self.threads
        }

        /// Run `job(i, n)` for every thread index `i` in `0..n`, the caller
        /// taking index 0, and return when all have finished. A panic on any
        /// thread is re-raised here. Every index runs, so the caller waits
        /// for every worker, however late: kernels use [`for_each`].
        ///
        /// [`for_each`]: ThreadPool::for_each
        pub fn run(&self, job: Job<'_>) {
            if self.threads == 1 || INSIDE_JOB.with(|f| f.get()) {
                for i in 0..self.threads {
                    job(i, self.threads);
                }
                return;
            }
            self.launch(job, true);
        }

        /// Run `job(i)` for every `i < items`, each once, on whichever
        /// threads are free, and return when all have run, without waiting
        /// for a worker that had not joined by the time the caller ran out
        /// of items. A panic is re-raised here.
        ///
        /// The items are cut into one contiguous span per thread, and each
        /// thread claims the items of its own span in order (so it streams
        /// through its part of memory as a fixed split would), then helps
        /// with the spans of threads that are behind, or never came, from
        /// their far end.
        pub fn for_each(&self, items: usize, job: &(dyn Fn(usize) + Sync)) {
            let too_many = items >= u32::MAX as usize;
            if self.threads == 1 || items <= 1 || too_many || INSIDE_JOB.with(|f| f.get()) {
                (0..items).for_each(job);
                return;
            }
            // On the stack for the usual few threads: this runs hundreds of
            // times per decoded token.
            let span = |t| Span::new(super::split_range(items, t, self.threads, 1));
            let (few, many): ([Span; FEW_THREADS], Vec<Span>) = if self.threads <= FEW_THREADS {
                (std::array::from_fn(span), Vec::new())
            } else {
                (
                    std::array::from_fn(|_| Span::new(0..0)),
                    (0..self.threads).map(span).collect(),
                )
            };
            let spans: &[Span] = if many.is_empty() {
                &few[..self.threads]
            } else {
                &many
            };
            let claim = |home: usize, threads: usize| {
                for s in (0..threads).map(|k| (home + k) % threads) {
                    while let Some(items) = spans[s].claim(s == home) {
                        items.for_each(job);
                    }
                }
            };
            self.launch(&claim, false);
        }

        /// Publish `job`, run the caller's share, and wait: for every
        /// worker when `all` (each thread index must run), otherwise only
        /// for the workers that joined before the caller closed the gate.
        fn launch(&self, job: Job<'_>, all: bool) {
            let mut last = self.caller.lock().unwrap_or_else(|e| e.into_inner());
            // SAFETY: we erase the closure's lifetime to hand it to the
            // workers, and do not return before every worker that joined
            // has finished calling it (the waits below, also on panic); a
            // worker that did not join never reads it.
            let erased: JobPtr = unsafe {
                JobPtr(std::mem::transmute::<
                    *const (dyn Fn(usize, usize) + Sync + '_),
                    *const (dyn Fn(usize, usize) + Sync + 'static),
                >(job as *const _))
            };
            let current = &self.shared.current;
            // SAFETY: no worker reads the job now: every one that joined
            // the last job has finished, and none can join before the gate
            // below opens.
            unsafe { *current.job.get() = Some(erased) };
            *last = last.wrapping_add(1);
            current.gate.store(gate(*last), SeqCst);
            if self.shared.sleepers.load(SeqCst) > 0 {
                let _guard = self
                    .shared
                    .sleep_lock
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                self.shared.wake.notify_all();
            }

            let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                INSIDE_JOB.with(|f| f.set(true));
                job(0, self.threads);
                INSIDE_JOB.with(|f| f.set(false));
            }));
            INSIDE_JOB.with(|f| f.set(false));
            if all {
                let workers = self.threads - 1;
                wait_until(|| joined(current.gate.load(Acquire)) == workers);
            }
            let joined = joined(current.gate.fetch_and(!1, AcqRel));
            wait_until(|| finished(current.gate.load(Acquire)) == joined);
            if let Err(panic) = mine {
                std::panic::resume_unwind(panic);
            }
            if self.shared.panicked.swap(false, SeqCst) {
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
        let current = &shared.current;
        let mut seen = 0u32;
        loop {
            // Wait for a new generation: spin, then yield, then sleep.
            let mut backoff = Backoff::new();
            let gate_now = loop {
                if shared.shutdown.load(Acquire) {
                    return;
                }
                let gate_now = current.gate.load(Acquire);
                if generation(gate_now) != seen {
                    break gate_now;
                }
                if !backoff.polls.is_multiple_of(POLLS_PER_CLOCK)
                    || backoff.waited() < POLL_BEFORE_SLEEP
                {
                    backoff.pause();
                    continue;
                }
                let guard = shared.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
                shared.sleepers.fetch_add(1, SeqCst);
                if generation(current.gate.load(SeqCst)) == seen && !shared.shutdown.load(SeqCst) {
                    drop(shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner()));
                } else {
                    drop(guard);
                }
                shared.sleepers.fetch_sub(1, SeqCst);
                backoff = Backoff::new();
            };
            seen = generation(gate_now);
            if !join(&current.gate, seen) {
                continue; // too late: the caller has closed this job
            }
            // SAFETY: having joined, this worker may read the job, which
            // the caller keeps alive and unchanged until it has finished.
            if let Some(JobPtr(job)) = unsafe { *current.job.get() } {
                INSIDE_JOB.with(|f| f.set(true));
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                    (*job)(index, threads)
                }));
                INSIDE_JOB.with(|f| f.set(false));
                if result.is_err() {
                    shared.panicked.store(true, SeqCst);
                }
            }
            current.gate.fetch_add(ONE_FINISHED, Release);
        }
    }

    /// Join the job of `generation` if its gate is still open.
    pub(super) fn join(gate_word: &AtomicU64, generation_seen: u32) -> bool {
        let mut now = gate_word.load(Acquire);
        loop {
            // Another generation's gate, or this one closed.
            if generation(now) != generation_seen || now & 1 == 0 {
                return false;
            }
            match gate_word.compare_exchange_weak(now, now + 2, AcqRel, Acquire) {
                Ok(_) => return true,
                Err(changed) => now = changed,
            }
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
    fn for_each_runs_every_item_exactly_once() {
        let pool = ThreadPool::new(3);
        for items in [0, 1, 2, 7, 100, 1000] {
            let counts: Vec<AtomicUsize> = (0..items).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..50 {
                pool.for_each(items, &|i| {
                    counts[i].fetch_add(1, Ordering::SeqCst);
                });
            }
            assert!(
                counts.iter().all(|c| c.load(Ordering::SeqCst) == 50),
                "{items}"
            );
        }
        // Static runs and dynamic ones interleave without confusion.
        for round in 0..200 {
            let calls = AtomicUsize::new(0);
            if round % 2 == 0 {
                pool.run(&|_, _| {
                    calls.fetch_add(1, Ordering::SeqCst);
                });
                assert_eq!(calls.load(Ordering::SeqCst), pool.threads());
            } else {
                pool.for_each(5, &|_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                });
                assert_eq!(calls.load(Ordering::SeqCst), 5);
            }
        }
    }

    #[test]
    fn a_panicking_item_is_reported_and_the_pool_survives() {
        let pool = ThreadPool::new(2);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.for_each(64, &|i| assert!(i != 40, "boom"));
        }));
        assert!(result.is_err());
        let calls = AtomicUsize::new(0);
        pool.for_each(64, &|_| {
            calls.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(calls.load(Ordering::SeqCst), 64);
    }

    /// A worker joins only an open gate of the generation it saw: once the
    /// caller closes a job, or has moved on to the next, a late worker
    /// stays out, so the caller never waits for it.
    #[cfg(feature = "threads")]
    #[test]
    fn late_workers_cannot_join_a_closed_or_later_job() {
        use super::threaded::{gate, join, joined};
        use std::sync::atomic::AtomicU64;
        let word = AtomicU64::new(gate(7));
        assert!(join(&word, 7) && join(&word, 7));
        assert_eq!(joined(word.load(Ordering::SeqCst)), 2);
        assert!(!join(&word, 6), "an earlier generation's worker");
        let closed = word.fetch_and(!1, Ordering::SeqCst);
        assert_eq!(joined(closed), 2);
        assert!(!join(&word, 7), "the gate is closed");
        word.store(gate(8), Ordering::SeqCst);
        assert!(!join(&word, 7), "the next job is not the one it saw");
        assert!(join(&word, 8));
        // Generations wrap without confusion.
        word.store(gate(u32::MAX), Ordering::SeqCst);
        assert!(join(&word, u32::MAX) && !join(&word, u32::MAX - 1));
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
