// The Web Worker that owns the engine. The page never blocks: loading and
// generating happen here, and every token is posted back as it comes.
//
// Messages in:  {type: "load", url}            fetch (or take from the cache) and load a model
//               {type: "send", text, options}  start a reply
//               {type: "stop"}                 end the reply after the current token
//               {type: "newChat", system}      a new conversation
// Messages out: {type: "progress", phase, loaded, total}
//               {type: "ready", summary, fromCache}
//               {type: "notice", message}      something the person should know, not fatal
//               {type: "pieces", pieces, tokens, reasoningTokens}
//               {type: "done", stats}
//               {type: "error", during, message}

import init, { Engine } from "./pkg/monologue_web.js";
import { fetchModel } from "./model-cache.js";

let engine = null;
let stopRequested = false;
let replying = false;

const post = (message) => self.postMessage(message);

self.onmessage = async ({ data }) => {
  switch (data.type) {
    case "load":
      await load(data.url);
      break;
    case "send":
      await reply(data.text, data.options);
      break;
    case "stop":
      stopRequested = true;
      break;
    case "newChat":
      if (engine) {
        try {
          engine.newChat(data.system || undefined);
        } catch (e) {
          post({ type: "error", during: "chat", message: messageOf(e) });
        }
      }
      break;
  }
};

async function load(url) {
  try {
    await init();
    const { bytes, fromCache, name: served } = await fetchModel(url, {
      progress: (phase, loaded, total) => post({ type: "progress", phase, loaded, total }),
      notice: (message) => post({ type: "notice", message }),
    });
    post({ type: "progress", phase: "init", loaded: bytes.length, total: bytes.length });
    const name = served || decodeURIComponent(new URL(url, self.location.href).pathname.split("/").pop());
    engine = new Engine(bytes, name);
    engine.newChat(undefined);
    post({ type: "ready", summary: JSON.parse(engine.summary()), fromCache });
  } catch (e) {
    post({ type: "error", during: "load", message: messageOf(e) });
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
  try {
    engine.send(text, JSON.stringify(options));
    for (;;) {
      // Let queued messages (a stop) in before each token.
      await yieldToEventLoop();
      if (stopRequested) {
        engine.stop();
      }
      const step = JSON.parse(engine.step());
      if (step.pieces.length > 0 || step.done) {
        post({
          type: "pieces",
          pieces: step.pieces,
          tokens: step.tokens,
          reasoningTokens: step.reasoning_tokens,
        });
      }
      if (step.done) break;
    }
    const { pieces, stats } = JSON.parse(engine.finish());
    if (pieces.length > 0) {
      post({ type: "pieces", pieces, tokens: stats.generated_tokens, reasoningTokens: stats.reasoning_tokens });
    }
    post({ type: "done", stats });
  } catch (e) {
    try {
      engine.finish();
    } catch (_) {
      // The failed step already ended the reply.
    }
    post({ type: "error", during: "reply", message: messageOf(e) });
  } finally {
    replying = false;
  }
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
