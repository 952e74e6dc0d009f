// One harness for both engines: the same page, the same model file, the
// same chat, and the same clock. Each engine streams its greedy reply; the
// page stamps every token as it arrives, and decode speed is
// (tokens after the first) / (time from the first token to the last).
// Each engine's own figure is reported beside it.

import { Wllama } from "./wllama/index.js";

const log = (line) => (document.getElementById("log").textContent += line + "\n");

// Decode tokens/s from arrival stamps [{tokens, ms}], first token excluded
// (it carries the prefill).
function decodeRate(stamps) {
  if (stamps.length < 2) return null;
  const first = stamps[0];
  const last = stamps[stamps.length - 1];
  return (last.tokens - first.tokens) / ((last.ms - first.ms) / 1000);
}

// Monologue: the chat page's own worker, on its CPU path.
async function monologue({ prompt, maxTokens, threads }) {
  const worker = new Worker("worker.js", { type: "module" });
  const message = (type) =>
    new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => {
        if (data.type === type) resolve(data);
        else if (data.type === "error") reject(new Error(data.message));
        else onOther(data);
      };
    });
  let onOther = () => {};
  const loadStart = performance.now();
  const ready = message("ready");
  worker.postMessage({ type: "load", url: "model.gguf", backend: "cpu", threads });
  const { summary } = await ready;
  const loadMs = performance.now() - loadStart;

  const stamps = [];
  onOther = (data) => {
    if (data.type === "pieces") stamps.push({ tokens: data.tokens, ms: performance.now() });
  };
  const done = message("done");
  const sent = performance.now();
  worker.postMessage({
    type: "send",
    text: prompt,
    options: { temperature: 0, seed: 0, max_tokens: maxTokens, think: false, think_budget: null, profile: false },
  });
  const { stats } = await done;
  worker.terminate();
  return {
    engine: "monologue",
    backend: summary.backend,
    threads: summary.threads ?? 1,
    loadMs,
    firstTokenMs: stamps.length ? stamps[0].ms - sent : null,
    tokens: stats.generated_tokens,
    decodeTokS: decodeRate(stamps),
    ownDecodeTokS: stats.decode_tok_s,
    ownPrefillTokS: stats.prefill_tok_s,
    promptTokens: stats.prompt_tokens,
    text: stats.answer,
  };
}

// wllama: llama.cpp compiled to wasm, CPU only (no layer on WebGPU).
// `wllamaOptions` are extra load parameters (to try its settings).
async function wllama({ prompt, maxTokens, threads, wllamaOptions = {} }) {
  const base = new URL("./wllama/", location.href).href;
  const engine = new Wllama({ default: base + "wasm/wllama.wasm" }, { suppressNativeLog: !window.benchVerbose });
  const loadStart = performance.now();
  const bytes = await (await fetch("model.gguf")).blob();
  await engine.loadModel([new File([bytes], "model.gguf")], {
    n_threads: threads,
    n_gpu_layers: 0,
    n_ctx: 2048,
    ...wllamaOptions,
  });
  const loadMs = performance.now() - loadStart;

  const stamps = [];
  let text = "";
  let timings = null;
  let tokens = 0;
  const sent = performance.now();
  const stream = await engine.createChatCompletion({
    messages: [{ role: "user", content: prompt }],
    max_tokens: maxTokens,
    temperature: 0,
    stream: true,
  });
  for await (const chunk of stream) {
    const delta = chunk.choices?.[0]?.delta?.content;
    if (delta) {
      tokens += 1;
      text += delta;
      stamps.push({ tokens, ms: performance.now() });
    }
    if (chunk.timings) timings = chunk.timings;
  }
  await engine.exit();
  return {
    engine: "wllama",
    backend: "cpu (wasm)",
    threads,
    loadMs,
    firstTokenMs: stamps.length ? stamps[0].ms - sent : null,
    tokens: timings?.predicted_n ?? tokens,
    decodeTokS: decodeRate(stamps),
    ownDecodeTokS: timings?.predicted_per_second ?? null,
    ownPrefillTokS: timings?.prompt_per_second ?? null,
    promptTokens: timings?.prompt_n ?? null,
    text,
  };
}

const engines = { monologue, wllama };

window.bench = {
  crossOriginIsolated: self.crossOriginIsolated,
  async run(name, options) {
    const result = await engines[name](options);
    log(`${name}: ${result.decodeTokS?.toFixed(1)} tok/s`);
    return result;
  },
};
