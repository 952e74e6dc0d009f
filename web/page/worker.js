// The Web Worker that owns the engine. The page never blocks: loading and
// generating happen here, and every token is posted back as it comes.
//
// Messages in:  {type: "load", url, adapter, backend, threads, stopFlag}
//                                              fetch (or take from the cache) and load a model, with a LoRA
//                                              adapter (a `peft` folder's URL) merged in if given; backend "auto"
//                                              (WebGPU when there is an adapter), "webgpu" or "cpu"; threads for
//                                              the CPU kernels (default: the machine's cores, at most 8)
//               {type: "send", text, options}  start a reply
//               {type: "stop"}                 end the reply after the current token
//               {type: "newChat", system}      a new conversation
// Messages out: {type: "progress", phase, loaded, total}
//               {type: "ready", summary, fromCache}
//               {type: "restart"}              the GPU failed mid-reply: the reply starts over on the CPU
//               {type: "notice", message}      something the person should know, not fatal
//               {type: "pieces", pieces, tokens, reasoningTokens}
//               {type: "done", stats}
//               {type: "error", during, message}

import { fetchModel } from "./model-cache.js";

// Two builds of the engine: pkg/ runs WebGPU, and the CPU on one thread;
// pkg-threads/ runs the CPU kernels on several threads over one shared
// memory, which only a cross-origin isolated page may have.
const builds = {};
function engineBuild(threaded) {
  const path = threaded ? "./pkg-threads/monologue_web.js" : "./pkg/monologue_web.js";
  builds[path] ??= import(path).then(async (build) => {
    await build.default();
    return build;
  });
  return builds[path];
}

let engine = null;
let stopRequested = false;
let replying = false;
// The model file, kept to move to the CPU if the GPU fails.
let model = null;
// A new chat asked for while a reply was being written.
let pendingNewChat = null;
// The page's shared stop flag (an Int32Array over a SharedArrayBuffer), if
// it is cross-origin isolated.
let stopFlag = null;
// Threads wanted for the CPU kernels.
let threads = 1;

const post = (message) => self.postMessage(message);

self.onmessage = async ({ data }) => {
  switch (data.type) {
    case "load":
      stopFlag = data.stopFlag || null;
      threads = data.threads || Math.min(8, self.navigator.hardwareConcurrency || 1);
      await load(data.url, data.backend || "auto", data.adapter || null);
      break;
    case "send":
      await reply(data.text, data.options);
      break;
    case "stop":
      stopRequested = true;
      break;
    case "newChat":
      // Mid-reply, the reply stops first and the new chat starts after it.
      if (replying) {
        stopRequested = true;
        pendingNewChat = { system: data.system };
      } else {
        newChat(data.system);
      }
      break;
  }
};

async function load(url, backend, adapterUrl) {
  try {
    // A LoRA adapter's two files (small: fetched whole, not cached).
    const adapter = adapterUrl ? await fetchAdapter(adapterUrl) : null;
    const { bytes, fromCache, name: served } = await fetchModel(url, {
      progress: (phase, loaded, total) => post({ type: "progress", phase, loaded, total }),
      notice: (message) => post({ type: "notice", message }),
    });
    post({ type: "progress", phase: "init", loaded: bytes.length, total: bytes.length });
    const name = served || decodeURIComponent(new URL(url, self.location.href).pathname.split("/").pop());
    model = { bytes, name, adapter };
    engine = await start(backend);
    post({ type: "ready", summary: JSON.parse(engine.summary()), fromCache });
  } catch (e) {
    post({ type: "error", during: "load", message: messageOf(e) });
  }
}

// An engine on the backend asked for; "auto" tries WebGPU and falls back
// to the CPU, saying why.
async function start(backend) {
  if (backend !== "cpu") {
    const why = await webgpuUnavailable();
    if (!why) {
      try {
        const { Engine } = await engineBuild(false);
        return await Engine.load(model.bytes, model.name, "webgpu", ...adapterArgs());
      } catch (e) {
        if (backend === "webgpu") throw new Error(`WebGPU failed: ${messageOf(e)}`);
        post({ type: "notice", message: `WebGPU failed (${messageOf(e)}), so the model runs on the CPU.` });
      }
    } else if (backend === "webgpu") {
      throw new Error(why);
    }
  }
  return await cpuEngine();
}

// An engine on the CPU: threaded where the page is cross-origin isolated
// and more than one thread is wanted, else on this worker alone.
async function cpuEngine() {
  if (threads > 1 && self.crossOriginIsolated) {
    try {
      const build = await engineBuild(true);
      await startThreads(build);
      return await build.Engine.load(model.bytes, model.name, "cpu", ...adapterArgs());
    } catch (e) {
      post({ type: "notice", message: `The CPU kernels run on one thread: ${messageOf(e)}` });
    }
  }
  const { Engine } = await engineBuild(false);
  return await Engine.load(model.bytes, model.name, "cpu", ...adapterArgs());
}

// The adapter's part of Engine.load's arguments: its name, config text and
// weights' bytes (none without one).
function adapterArgs() {
  const a = model.adapter;
  return a ? [a.name, a.config, a.weights] : [];
}

// A `peft` folder served at `url`: adapter_config.json and
// adapter_model.safetensors.
async function fetchAdapter(url) {
  const base = new URL(url.endsWith("/") ? url : `${url}/`, self.location.href);
  const get = async (file) => {
    const response = await fetch(new URL(file, base), { cache: "no-cache" });
    if (!response.ok) throw new Error(`the adapter's ${file}: HTTP ${response.status}`);
    return response;
  };
  const config = await (await get("adapter_config.json")).text();
  const weights = new Uint8Array(await (await get("adapter_model.safetensors")).arrayBuffer());
  const name = decodeURIComponent(base.pathname.replace(/\/$/, "").split("/").pop() || "adapter");
  return { name, config, weights };
}

// Starts the kernel threads once: each is a Web Worker (thread.js) on the
// threaded build's module and memory. They are awaited before any kernel
// runs, since a kernel waits for every thread.
let threadsStarted = null;
function startThreads(build) {
  threadsStarted ??= (async () => {
    const starts = [];
    const spawn = (work) => {
      const thread = new Worker(new URL("./thread.js", import.meta.url), { type: "module" });
      starts.push(
        new Promise((resolve, reject) => {
          thread.onmessage = ({ data }) => (data.started ? resolve() : reject(new Error(data.error)));
          thread.onerror = (event) => reject(new Error(`a kernel thread did not start (${event.message || "thread.js failed"})`));
        }),
      );
      thread.postMessage({ module: build.threadModule(), memory: build.threadMemory(), work });
      return true;
    };
    build.startThreads(threads, spawn);
    await Promise.all(starts);
  })();
  return threadsStarted;
}

// Why WebGPU cannot be used here, or null when an adapter is offered.
async function webgpuUnavailable() {
  if (!self.navigator.gpu) return "This browser offers no WebGPU (navigator.gpu is missing).";
  try {
    const adapter = await self.navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
    return adapter ? null : "WebGPU offers no adapter on this machine.";
  } catch (e) {
    return `WebGPU refused an adapter: ${messageOf(e)}`;
  }
}

async function reply(text, options) {
  if (!engine) {
    post({ type: "error", during: "reply", message: "The model is not loaded yet." });
    return;
  }
  if (replying) {
    post({ type: "error", during: "reply", message: "A reply is still being written." });
    return;
  }
  replying = true;
  stopRequested = false;
  if (stopFlag) Atomics.store(stopFlag, 0, 0);
  try {
    await run(text, options);
  } catch (e) {
    const onGpu = JSON.parse(engine.summary()).backend.startsWith("webgpu");
    if (onGpu && /GPU/.test(messageOf(e))) {
      // The GPU failed (a lost device, most often): carry the conversation
      // to the CPU and write this reply again there.
      try {
        await moveToCpu(messageOf(e));
        post({ type: "restart" });
        await run(text, options);
      } catch (again) {
        post({ type: "error", during: "reply", message: messageOf(again) });
      }
    } else {
      post({ type: "error", during: "reply", message: messageOf(e) });
    }
  } finally {
    replying = false;
    if (pendingNewChat) {
      newChat(pendingNewChat.system);
      pendingNewChat = null;
    }
  }
}

function newChat(system) {
  if (!engine) return;
  try {
    engine.newChat(system || undefined);
  } catch (e) {
    post({ type: "error", during: "chat", message: messageOf(e) });
  }
}

// One reply, streamed piece by piece.
async function run(text, options) {
  engine.send(text, JSON.stringify(options));
  try {
    for (;;) {
      // Let queued messages (a stop) in before each token.
      await yieldToEventLoop();
      if (stopRequested || (stopFlag && Atomics.load(stopFlag, 0) === 1)) engine.stop();
      const step = JSON.parse(await engine.step());
      if (step.pieces.length > 0 || step.done) {
        post({ type: "pieces", pieces: step.pieces, tokens: step.tokens, reasoningTokens: step.reasoning_tokens });
      }
      if (step.done) break;
    }
  } catch (e) {
    try {
      engine.finish();
    } catch (_) {
      // The failed step already ended the reply.
    }
    throw e;
  }
  const { pieces, stats } = JSON.parse(engine.finish());
  if (pieces.length > 0) {
    post({ type: "pieces", pieces, tokens: stats.generated_tokens, reasoningTokens: stats.reasoning_tokens });
  }
  post({ type: "done", stats });
}

async function moveToCpu(reason) {
  const messages = engine.messages();
  const cpu = await cpuEngine();
  cpu.restore(messages);
  engine = cpu;
  post({ type: "notice", message: `The GPU failed (${reason}); the chat continues on the CPU.` });
  post({ type: "ready", summary: JSON.parse(engine.summary()), fromCache: null });
}

// A zero-delay yield that, unlike setTimeout(0), is not clamped to 4 ms.
function yieldToEventLoop() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

function messageOf(e) {
  return e && e.message ? e.message : String(e);
}
