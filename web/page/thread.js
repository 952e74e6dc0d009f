// One kernel thread of the threaded CPU build: the engine's wasm module
// instantiated again on its shared memory, running one worker of the
// engine's thread pool (which waits for kernels until the pool shuts down).

self.onmessage = async ({ data: { module, memory, work } }) => {
  try {
    const build = await import("./pkg-threads/monologue_web.js");
    await build.default({ module_or_path: module, memory });
    self.postMessage({ started: true });
    build.runThread(work);
  } catch (e) {
    self.postMessage({ started: false, error: `a kernel thread failed: ${e && e.message ? e.message : e}` });
  }
  self.close();
};
