//! Threads for the CPU kernels in a cross-origin isolated page.
//!
//! std cannot start a thread on wasm32, so the engine's pool asks us, and we
//! ask the page's worker: `spawn(work)` (a JS function) starts a Web Worker
//! (`thread.js`) that instantiates this same module on the same shared
//! memory and calls [`run_thread`] with `work`, the address of the closure
//! to run. That closure is one pool worker; it returns when the pool shuts
//! down.

use monologue::backend::cpu::pool;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

thread_local! {
    /// The page's spawn function, held only while a pool is being built.
    static SPAWN: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
}

type Work = Box<dyn FnOnce() + Send>;

/// Give the CPU kernels `threads` threads, the calling worker included;
/// `spawn(work)` must start `thread.js` with this module, its memory and
/// `work`, and return true. Returns the threads the pool has (1 when a
/// spawn failed). Await the started workers before the first kernel runs:
/// a worker that never starts would stall it.
#[wasm_bindgen(js_name = startThreads)]
pub fn start_threads(threads: usize, spawn: js_sys::Function) -> usize {
    SPAWN.with(|s| *s.borrow_mut() = Some(spawn));
    pool::set_thread_spawner(spawn_worker);
    pool::set_threads(threads);
    SPAWN.with(|s| *s.borrow_mut() = None);
    pool::global().threads()
}

fn spawn_worker(body: Work) -> bool {
    // A thin pointer to the boxed closure; wasm32 addresses fit in a u32.
    let work = Box::into_raw(Box::new(body));
    let started = SPAWN.with(|s| match &*s.borrow() {
        Some(spawn) => spawn
            .call1(&JsValue::NULL, &JsValue::from(work as usize as u32))
            .map(|ok| ok.is_truthy())
            .unwrap_or(false),
        None => false,
    });
    if !started {
        // SAFETY: `work` came from Box::into_raw above and no thread took it.
        drop(unsafe { Box::from_raw(work) });
    }
    started
}

/// Run the closure `work` points to: called once by `thread.js`, on its own
/// Web Worker, with the value `spawn` was given.
#[wasm_bindgen(js_name = runThread)]
pub fn run_thread(work: u32) {
    // SAFETY: `work` is a pointer from `spawn_worker`, handed to exactly one
    // thread, in this same memory.
    let body = unsafe { Box::from_raw(work as usize as *mut Work) };
    body();
}

/// This wasm module, for `thread.js` to instantiate again.
#[wasm_bindgen(js_name = threadModule)]
pub fn thread_module() -> JsValue {
    wasm_bindgen::module()
}

/// The shared memory every thread runs on.
#[wasm_bindgen(js_name = threadMemory)]
pub fn thread_memory() -> JsValue {
    wasm_bindgen::memory()
}
