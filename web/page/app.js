// The chat page: it owns the DOM and nothing else. The engine lives in a
// Web Worker (worker.js); this side sends it messages and renders what
// comes back: progress, streamed pieces of text, and each reply's numbers.

import markdownit from "./vendor/markdown-it.mjs";

// Model output is untrusted: raw HTML in it is shown as text, never parsed.
const markdown = markdownit({ html: false, linkify: false, breaks: true });

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const modelUrl = params.get("model") || "model.gguf";
// "auto" (WebGPU when the browser offers an adapter), "webgpu" or "cpu".
const backend = params.get("backend") || "auto";
// Threads for the CPU kernels (the worker picks the machine's cores if unset).
const threads = Math.floor(Number(params.get("threads"))) || undefined;

// What tests (and the curious, from the console) can read.
const page = (window.monologue = {
  ready: false,
  replying: false,
  // Tokens of the reply being written so far.
  tokens: 0,
  lastStats: null,
  fromCache: null,
  summary: null,
  render: (text) => markdown.render(text),
});

// What the server offers (`/models.json`: the model it was started with,
// then SmolLM2, Gemma 3, … where their files are there); a plain static
// server has no list.
const servedModels = (async () => {
  try {
    const response = await fetch("models.json", { cache: "no-cache" });
    if (response.ok) return await response.json();
  } catch {
    // No list: the menu shows the current model only.
  }
  return [];
})();

// The model menu. Choosing one reloads the page with `?model=` set to it.
async function fillModelMenu() {
  const menu = $("model-choice");
  const models = [...(await servedModels)];
  if (!models.some((m) => m.url === modelUrl)) {
    models.unshift({ url: modelUrl, name: modelUrl, file: modelUrl, bytes: 0 });
  }
  for (const m of models) {
    const option = document.createElement("option");
    option.value = m.url;
    const size = m.bytes ? ` (${Math.round(m.bytes / 1e6)} MB)` : "";
    option.textContent = m.name === "served" ? `${m.file}${size}` : `${m.name}: ${m.file}${size}`;
    option.selected = m.url === modelUrl;
    menu.append(option);
  }
  menu.onchange = () => {
    const next = new URLSearchParams(location.search);
    next.set("model", menu.value);
    location.search = next.toString();
  };
}
fillModelMenu();

const worker = new Worker("worker.js", { type: "module" });
// Stop as shared memory where the page is cross-origin isolated (serve-web
// sends the headers): the worker sees it before its next token without
// waiting for its message queue. The stop message is sent as well.
const stopFlag = self.crossOriginIsolated ? new Int32Array(new SharedArrayBuffer(4)) : null;
worker.onmessage = ({ data }) => handlers[data.type]?.(data);
worker.onerror = (event) => showError(`The chat's worker failed: ${event.message || "it could not start"}.`);

let reply = null; // the message being written
// Whether the person has set "Time each kernel" (else it follows the backend).
let kernelTimingChosen = false;

const handlers = {
  progress({ phase, loaded, total }) {
    const mb = (n) => (n / 1e6).toFixed(1);
    const label = {
      download: `Downloading the model: ${mb(loaded)} of ${total ? mb(total) : "?"} MB`,
      cache: `Loading the model from the browser cache: ${mb(loaded)} MB`,
      init: "Preparing the model…",
    }[phase];
    $("progress-label").textContent = label;
    $("progress").max = total || 1;
    $("progress").value = total ? loaded : 0;
  },

  ready({ summary, fromCache }) {
    page.ready = true;
    page.summary = summary;
    // A move to the CPU after a GPU failure keeps how the file was loaded.
    if (fromCache !== null) page.fromCache = fromCache;
    $("loading").hidden = true;
    const adapted = summary.adapter ? ` + LoRA ${summary.adapter}` : "";
    $("model-name").textContent = `${summary.name}${adapted} · ${summary.layers} layers · d=${summary.d_model}`;
    $("backend").textContent = summary.backend;
    // Kernel timing is on by default on the CPU, where it costs a clock read
    // per kernel; off on WebGPU, where each kernel then needs its own pass.
    if (!kernelTimingChosen) $("time-kernels").checked = !summary.backend.startsWith("webgpu");
    // The settings start at the engine's defaults (one set for every face),
    // unless the person already changed them.
    const defaults = summary.defaults;
    for (const [id, value] of [["temperature", defaults.temperature], ["seed", defaults.seed], ["max-tokens", defaults.max_tokens]]) {
      if ($(id).value === $(id).defaultValue) $(id).value = $(id).defaultValue = String(value);
    }
    $("speed").textContent = `loaded in ${(summary.load_ms / 1000).toFixed(1)} s${fromCache ? " from the browser cache" : ""}`;
    setComposing(!reply);
    $("input").focus();
  },

  restart() {
    // The reply starts over on another backend: drop what it had shown.
    if (reply) reply.clear();
  },

  notice({ message }) {
    $("notice").textContent = message;
    $("notice").hidden = false;
  },

  pieces({ pieces, tokens, reasoningTokens }) {
    if (!reply) return;
    for (const { kind, text } of pieces) {
      if (kind === "reasoning") reply.addReasoning(text);
      else reply.addAnswer(text);
    }
    reply.count(tokens, reasoningTokens);
    page.tokens = tokens;
  },

  done({ stats }) {
    page.lastStats = stats;
    if (reply) reply.finish(stats);
    reply = null;
    $("speed").textContent =
      `${stats.decode_tok_s.toFixed(1)} tokens/s · prompt ${stats.prefill_tok_s.toFixed(0)} tokens/s`;
    showKernels(stats);
    setComposing(true);
  },

  error({ during, message }) {
    if (during === "load") {
      $("loading").hidden = true;
      showError(`The model could not be loaded. ${message}`);
      return;
    }
    if (reply) reply.fail(message);
    reply = null;
    showError(message);
    setComposing(page.ready);
  },
};

// One assistant message: an accordion for the reasoning (open while the
// model thinks, folded to "Thought for N tokens" once the answer starts)
// and the answer rendered as Markdown.
class Reply {
  constructor() {
    this.element = addMessage("assistant");
    this.answerText = "";
    this.reasoningTokens = 0;
    this.thinking = null;
    this.answer = document.createElement("div");
    this.answer.className = "answer";
    this.answer.dataset.testid = "answer";
    this.element.append(this.answer);
  }

  addReasoning(text) {
    if (!this.thinking) {
      this.thinking = document.createElement("details");
      this.thinking.className = "thinking";
      this.thinking.dataset.testid = "thinking";
      this.thinking.open = true;
      this.thinking.innerHTML = '<summary data-testid="thinking-summary">Thinking…</summary><div class="reasoning" data-testid="reasoning"></div>';
      this.element.insertBefore(this.thinking, this.answer);
    }
    this.thinking.querySelector(".reasoning").textContent += text;
  }

  addAnswer(text) {
    if (this.thinking && this.thinking.open && !this.answerText) this.foldThinking();
    this.answerText += text;
    this.answer.innerHTML = markdown.render(this.answerText);
    scrollDown();
  }

  clear() {
    this.answerText = "";
    this.answer.replaceChildren();
    this.thinking?.remove();
    this.thinking = null;
  }

  count(tokens, reasoningTokens) {
    this.reasoningTokens = reasoningTokens;
    if (this.thinking && !this.answerText) {
      this.thinking.querySelector("summary").textContent = `Thinking… (${reasoningTokens} tokens)`;
    }
  }

  foldThinking() {
    this.thinking.open = false;
    this.thinking.querySelector("summary").textContent = `Thought for ${this.reasoningTokens} tokens`;
  }

  finish(stats) {
    this.reasoningTokens = stats.reasoning_tokens;
    if (this.thinking) this.foldThinking();
    if (stats.stop === "cancelled") this.note("stopped");
    this.element.dataset.done = "true";
  }

  fail(message) {
    this.note(`failed: ${message}`);
    this.element.dataset.done = "true";
  }

  note(text) {
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = `(${text})`;
    this.element.append(note);
  }
}

function addMessage(role, text) {
  const element = document.createElement("div");
  element.className = `message ${role}`;
  element.dataset.testid = `message-${role}`;
  if (text !== undefined) element.textContent = text;
  $("messages").append(element);
  scrollDown();
  return element;
}

function scrollDown() {
  $("messages").scrollTop = $("messages").scrollHeight;
}

function send() {
  const text = $("input").value.trim();
  if (!text || !page.ready || reply) return;
  $("input").value = "";
  $("error").hidden = true;
  addMessage("user", text);
  reply = new Reply();
  page.tokens = 0;
  setComposing(false);
  const number = (id, fallback) => {
    const value = Number($(id).value);
    return Number.isFinite(value) ? value : fallback;
  };
  worker.postMessage({
    type: "send",
    text,
    options: {
      temperature: Math.max(0, number("temperature", page.summary.defaults.temperature)),
      seed: Math.max(0, Math.floor(number("seed", page.summary.defaults.seed))),
      max_tokens: Math.max(1, Math.floor(number("max-tokens", page.summary.defaults.max_tokens))),
      think: $("think").checked,
      think_budget: $("think").checked ? Math.max(1, Math.floor(number("think-budget", 256))) : null,
      profile: $("time-kernels").checked,
    },
  });
}

function setComposing(on) {
  page.replying = !on;
  $("input").disabled = !page.ready;
  $("send").disabled = !on;
  $("send").hidden = !on;
  $("stop").hidden = on;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function showKernels(stats) {
  const rows = stats.kernels;
  if (rows.length === 0) {
    $("kernel-caption").textContent = 'Kernel timing was off for this reply: tick "Time each kernel" in the settings.';
    $("kernel-rows").replaceChildren();
    return;
  }
  const total = rows.reduce((sum, r) => sum + r.total_ms, 0);
  $("kernel-caption").textContent =
    `${rows.length} kernels on ${stats.backend}, ${total.toFixed(0)} ms in all over ` +
    `${stats.prompt_tokens} prompt and ${stats.generated_tokens} generated tokens`;
  const body = $("kernel-rows");
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      for (const cell of [r.kernel, r.calls, r.total_ms.toFixed(1), r.mean_us.toFixed(1), `${(r.share * 100).toFixed(1)}%`, r.gbps.toFixed(1)]) {
        const td = document.createElement("td");
        td.textContent = cell;
        tr.append(td);
      }
      return tr;
    }),
  );
}

$("time-kernels").addEventListener("change", () => (kernelTimingChosen = true));
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});
$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    send();
  }
});
function requestStop() {
  if (stopFlag) Atomics.store(stopFlag, 0, 1);
  worker.postMessage({ type: "stop" });
}

$("stop").addEventListener("click", requestStop);
$("new-chat").addEventListener("click", () => {
  if (reply) requestStop();
  $("messages").replaceChildren();
  worker.postMessage({ type: "newChat", system: $("system").value });
});
// A changed system prompt starts a new conversation with it.
$("system").addEventListener("change", () => $("new-chat").click());

// A LoRA adapter merged in as the model loads: `?adapter=` (a `peft`
// folder's URL), else the one the server lists with the model
// (`monologue serve-web --model ADAPTER_FOLDER`).
servedModels.then((models) => {
  const listed = models.find((m) => m.url === modelUrl);
  const adapter = params.get("adapter") || listed?.adapter || null;
  worker.postMessage({ type: "load", url: modelUrl, adapter, backend, threads, stopFlag });
});
