// Decode speed in Chromium on the CPU path: Monologue's chat worker against
// wllama (llama.cpp compiled to wasm) on the same GGUF, with the same thread
// count, in one page and one run. Prints a table and writes
// out/bench/browser.json.
//
//   node web/bench/run.mjs [--rounds 3] [--tokens 128] [--threads 1] [--wllama-options JSON]
//
// Needs web/build.sh to have run, the release `monologue` binary, and
// `npm ci` in web/bench (for wllama).

import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { root, startServer, launchBrowser } from "../tests/harness.mjs";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    tokens: { type: "string", default: "128" },
    threads: { type: "string", default: "1" },
    // Extra wllama load parameters as JSON, e.g. '{"flash_attn":false}'.
    "wllama-options": { type: "string", default: "{}" },
    prompt: { type: "string", default: "Write a short story about a lighthouse keeper who finds a message in a bottle." },
  },
});
const rounds = Number(values.rounds);
const options = {
  prompt: values.prompt,
  maxTokens: Number(values.tokens),
  threads: Number(values.threads),
  wllamaOptions: JSON.parse(values["wllama-options"]),
};

// The site: the chat's build (its worker and wasm package), the bench page
// and wllama's ES module with its wasm.
const site = mkdtempSync(join(tmpdir(), "monologue-bench-"));
cpSync(join(root, "web", "dist"), site, { recursive: true });
cpSync(join(root, "web", "bench", "page"), site, { recursive: true });
cpSync(join(root, "web", "bench", "node_modules", "@wllama", "wllama", "esm"), join(site, "wllama"), { recursive: true });

const server = await startServer(["--dir", site]);
const browser = await launchBrowser({ webgpu: false });
const results = [];
try {
  const page = await browser.context.newPage();
  page.on("console", (m) => m.type() === "error" && console.error(`page: ${m.text()}`));
  await page.goto(new URL("index.html", server.url).href);
  await page.waitForFunction(() => window.bench);
  // Alternate the engines so that a slow patch of the machine hits both.
  for (let round = 1; round <= rounds; round++) {
    for (const engine of ["monologue", "wllama"]) {
      const result = await page.evaluate(([e, o]) => window.bench.run(e, o), [engine, options]);
      result.round = round;
      results.push(result);
      console.error(`round ${round} ${engine}: ${result.decodeTokS.toFixed(2)} tok/s (${result.tokens} tokens)`);
    }
  }
} finally {
  await browser.close();
  server.stop();
  rmSync(site, { recursive: true, force: true });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const summary = ["monologue", "wllama"].map((engine) => {
  const runs = results.filter((r) => r.engine === engine);
  return {
    engine,
    threads: runs[0].threads,
    tokens: median(runs.map((r) => r.tokens)),
    prompt_tokens: runs[0].promptTokens,
    first_token_ms: median(runs.map((r) => r.firstTokenMs)),
    decode_tok_s: median(runs.map((r) => r.decodeTokS)),
    own_decode_tok_s: median(runs.map((r) => r.ownDecodeTokS ?? NaN)),
  };
});
const [ours, peer] = summary;
const ratio = ours.decode_tok_s / peer.decode_tok_s;

const row = (cells) => "| " + cells.join(" | ") + " |";
console.log(row(["engine", "threads", "prompt tok", "tokens", "first token ms", "decode tok/s (page)", "decode tok/s (own)"]));
console.log(row(["---", "---:", "---:", "---:", "---:", "---:", "---:"]));
for (const s of summary) {
  console.log(
    row([
      s.engine,
      s.threads,
      s.prompt_tokens ?? "?",
      s.tokens,
      s.first_token_ms.toFixed(0),
      s.decode_tok_s.toFixed(2),
      Number.isNaN(s.own_decode_tok_s) ? "?" : s.own_decode_tok_s.toFixed(2),
    ]),
  );
}
console.log(`\nmonologue / wllama decode: ${ratio.toFixed(2)}x (median of ${rounds} rounds; goal >= 1.25x)`);

const outDir = join(root, "out", "bench");
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "browser.json"), JSON.stringify({ options, summary, ratio, results }, null, 2));
