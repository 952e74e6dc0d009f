// The chat page on its CPU path (WebGPU switched off in Chromium): loading
// with progress, streamed greedy replies identical to the native CLI's,
// the reasoning accordion, stop, the browser cache, and clear errors.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { root, monologue, recordProgress, showedDownloadProgress, startServer, launchBrowser, openChat, ask, setSettings, nativeGreedyReply, nativeGreedyUntilNearTie, screenshot, waitForReply, pressStop } from "./harness.mjs";

let server;
let browser;
let page;

before(async () => {
  server = await startServer();
  browser = await launchBrowser({ webgpu: false });
});

after(async () => {
  await browser?.close();
  server?.stop();
});

test("the model loads with visible progress, on the CPU path", async () => {
  const context = browser.context;
  page = context.pages()[0] ?? (await context.newPage());
  const progressSeen = await recordProgress(page);
  page = await openChat(context, server.url);
  assert.ok(showedDownloadProgress(progressSeen), `no download progress was shown: ${JSON.stringify(progressSeen.slice(0, 5))}`);
  assert.equal(await page.locator("[data-testid=loading]").isVisible(), false);
  // Isolated, the page runs the threaded build on the machine's cores.
  const cores = await page.evaluate(() => Math.min(8, navigator.hardwareConcurrency));
  const backend = await page.locator("[data-testid=backend]").textContent();
  assert.equal(backend, cores > 1 ? `cpu (wasm, SIMD128, ${cores} threads)` : "cpu (wasm, SIMD128)");
  assert.equal(await page.evaluate(() => window.monologue.summary.threads), cores);
  assert.match(await page.locator("[data-testid=model-name]").textContent(), /^SmolLM2-135M-Instruct\.Q4_1\.gguf · 30 layers/);
  assert.equal(await page.evaluate(() => window.monologue.fromCache), false);
  assert.equal(server.modelDownloads(), 1);
  // serve-web's COOP/COEP headers isolate the page: shared memory (the stop
  // flag) and fine timers are available.
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
});

test("a greedy reply streams and equals the native CLI's, token for token", async () => {
  const prompt = "What is the capital of France?";
  const maxTokens = 24;
  const streamed = [];
  await page.exposeFunction("reportAnswer", (text) => streamed.push(text));
  await page.evaluate(() => {
    new MutationObserver(() => {
      const answers = document.querySelectorAll("[data-testid=answer]");
      if (answers.length) window.reportAnswer(answers[answers.length - 1].textContent);
    }).observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true });
  });
  const stats = await ask(page, prompt, { temperature: 0, maxTokens, think: false });
  const expected = nativeGreedyReply(prompt, maxTokens);
  assert.deepEqual(stats.token_ids, expected);
  assert.equal(stats.generated_tokens, maxTokens);
  // Streamed: the answer grew over several updates before it was whole.
  const distinct = new Set(streamed.filter((t) => t.length > 0));
  assert.ok(distinct.size >= 5, `the answer arrived in ${distinct.size} updates`);
  const shown = await page.locator("[data-testid=answer]").last().textContent();
  assert.equal(shown.trim(), stats.answer.trim());
  assert.ok(stats.decode_tok_s > 0);
  // The kernel table of the reply (timing is on by default on the CPU).
  assert.equal(await page.isChecked("[data-testid=time-kernels]"), true);
  const rows = await page.locator("[data-testid=kernel-table] tbody tr").count();
  assert.ok(rows >= 5, `${rows} kernel rows`);
  assert.ok(stats.kernels.some((k) => k.kernel.startsWith("matmul_q4_1")));
  await screenshot(page, "chat-cpu");
});

test("in think mode the accordion holds the reasoning, then folds when the answer starts", async () => {
  await page.click("[data-testid=new-chat]");
  // The accordion's state each time the reasoning or the answer changes.
  const seen = [];
  await page.exposeFunction("reportThinking", (s) => seen.push(s));
  await page.evaluate(() => {
    new MutationObserver(() => {
      const thinking = document.querySelector("[data-testid=thinking]");
      if (!thinking) return;
      const answer = thinking.parentElement.querySelector("[data-testid=answer]");
      window.reportThinking({
        open: thinking.open,
        reasoning: thinking.querySelector("[data-testid=reasoning]").textContent,
        answer: answer.textContent,
      });
    }).observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  const stats = await ask(page, "Is 17 a prime number?", { temperature: 0, maxTokens: 6, think: true, thinkBudget: 10 });
  assert.equal(stats.reasoning_tokens, 10, "the budget forces </think> after 10 reasoning tokens");
  assert.ok(stats.reasoning.length > 0);
  const whileThinking = seen.filter((s) => s.reasoning.length > 0 && s.answer.length === 0);
  assert.ok(whileThinking.length > 0 && whileThinking.every((s) => s.open), "open while the model thinks");
  const afterAnswer = seen.filter((s) => s.answer.length > 0);
  assert.ok(afterAnswer.length > 0 && afterAnswer.every((s) => !s.open), "folded once the answer starts");
  const summary = await page.locator("[data-testid=thinking-summary]").last().textContent();
  assert.equal(summary, `Thought for ${stats.reasoning_tokens} tokens`);
  const reasoning = await page.locator("[data-testid=reasoning]").last().textContent();
  assert.equal(reasoning.trim(), stats.reasoning.trim());
  await screenshot(page, "chat-cpu-think");
});

test("stop halts generation within a token or two", async () => {
  // In a new chat, greedy, the model counts on well past 100 tokens.
  await page.click("[data-testid=new-chat]");
  await setSettings(page, { temperature: 0, maxTokens: 400, think: false });
  await page.fill("[data-testid=input]", "Count from 1 to 100, separated by commas.");
  await page.click("[data-testid=send]");
  await page.waitForFunction(() => {
    const answers = document.querySelectorAll("[data-testid=answer]");
    return answers.length && answers[answers.length - 1].textContent.split(/\s+/).length > 6;
  }, null, { timeout: 120_000 });
  const shownAtStop = await pressStop(page);
  await waitForReply(page);
  const stats = await page.evaluate(() => window.monologue.lastStats);
  assert.equal(stats.stop, "cancelled");
  assert.ok(stats.generated_tokens - shownAtStop <= 2, `stopped at ${shownAtStop}, ended at ${stats.generated_tokens}`);
  assert.ok(stats.generated_tokens < 400);
  assert.equal(await page.locator("[data-testid=send]").isVisible(), true, "the page takes a new message");
});

test("model output is shown as text, never as HTML", async () => {
  const html = await page.evaluate(() => window.monologue.render("**bold** <img src=x onerror=alert(1)> <script>alert(2)</script>"));
  assert.match(html, /<strong>bold<\/strong>/);
  assert.ok(!html.includes("<img") && !html.includes("<script"), html);
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
});

test("a reload loads the model from the browser cache without downloading it again", async () => {
  const downloads = server.modelDownloads();
  await page.reload();
  await page.waitForFunction(() => window.monologue?.ready, null, { timeout: 120_000 });
  assert.equal(await page.evaluate(() => window.monologue.fromCache), true);
  assert.equal(server.modelDownloads(), downloads, "no second download");
  assert.match(await page.locator("[data-testid=speed]").textContent(), /from the browser cache/);
});

test("a page that is not cross-origin isolated runs the one-thread build, with the same greedy reply", async () => {
  const plain = await browser.context.newPage();
  // The same page without COOP/COEP: no shared memory, so no threads.
  await plain.route(server.url, async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    delete headers["cross-origin-opener-policy"];
    delete headers["cross-origin-embedder-policy"];
    await route.fulfill({ response, headers });
  });
  await openChat(browser.context, server.url, { page: plain });
  assert.equal(await plain.evaluate(() => self.crossOriginIsolated), false);
  assert.equal(await plain.locator("[data-testid=backend]").textContent(), "cpu (wasm, SIMD128)");
  const prompt = "Name three colours.";
  const stats = await ask(plain, prompt, { temperature: 0, maxTokens: 12, think: false });
  assert.deepEqual(stats.token_ids, nativeGreedyReply(prompt, 12));
  await plain.close();
});

test("the model menu switches to Gemma 3, whose greedy reply equals the native CLI's", async () => {
  // Gemma 3 270M (Q4_K_M, sliding-window layers, a 262,144-word vocabulary
  // whose embedding the GPU path cuts into shards) runs in the page too.
  execFileSync(join(root, "scripts", "fetch-model.sh"), ["gemma3"], { stdio: "ignore" });
  const gemma = await openChat(browser.context, server.url, { page: await browser.context.newPage() });
  const menu = gemma.locator("[data-testid=model-choice]");
  const offered = await menu.locator("option").allTextContents();
  assert.ok(offered.some((o) => o.startsWith("smollm2: SmolLM2-135M-Instruct.Q4_1.gguf")), offered.join(" | "));
  assert.ok(offered.some((o) => o.startsWith("gemma3: gemma-3-270m-q4_k_m.gguf")), offered.join(" | "));
  await Promise.all([gemma.waitForURL(/model=models%2Fgemma3\.gguf/), menu.selectOption("models/gemma3.gguf")]);
  await gemma.waitForFunction(() => window.monologue?.ready || !document.getElementById("error").hidden, null, {
    timeout: 180_000,
  });
  assert.equal(await gemma.locator("[data-testid=error]").isVisible(), false);
  assert.match(await gemma.locator("[data-testid=model-name]").textContent(), /^gemma-3-270m-q4_k_m\.gguf · 18 layers/);
  const prompt = "Name three colours.";
  const stats = await ask(gemma, prompt, { temperature: 0, maxTokens: 8, think: false });
  // This base model is often unsure: compare up to its first near tie.
  const sure = nativeGreedyUntilNearTie(prompt, 8, "gemma3");
  assert.ok(sure.length >= 3, `only ${sure.length} confident tokens`);
  assert.deepEqual(stats.token_ids.slice(0, sure.length), sure);
  await gemma.close();
});

test("a LoRA fine-tune served as the model: its adapter merges in the page, with the native reply", async () => {
  // A quick LoRA run (a few steps on addition traces); serve-web serves its
  // base as model.gguf and the adapter's two files under /adapter/.
  const dir = mkdtempSync(join(tmpdir(), "monologue-lora-"));
  const run = join(dir, "run");
  execFileSync(
    monologue,
    ["finetune", "--model", "smollm2", "--task", "addition", "--task-examples", "8", "--digits", "2",
     "--lora-rank", "4", "--lora-alpha", "8", "--steps", "3", "--seq", "256", "--batch", "1", "--lr", "0.02",
     "--validation", "0", "--out", run],
    { stdio: "ignore" },
  );
  const other = await startServer(["--model", run]);
  try {
    const tuned = await openChat(browser.context, other.url, { page: await browser.context.newPage() });
    assert.equal(await tuned.evaluate(() => window.monologue.summary.adapter), "adapter");
    assert.match(await tuned.locator("[data-testid=model-name]").textContent(), /^SmolLM2-135M-Instruct\.Q4_1\.gguf \+ LoRA adapter · 30 layers/);
    const prompt = "What is 12 + 34?";
    const stats = await ask(tuned, prompt, { temperature: 0, maxTokens: 16, think: false });
    // The adapted projections run in f32 here, whose sums the wasm and native
    // kernels order differently: compare up to the first near tie.
    const sure = nativeGreedyUntilNearTie(prompt, 16, run);
    assert.ok(sure.length >= 4, `only ${sure.length} confident tokens`);
    assert.deepEqual(stats.token_ids.slice(0, sure.length), sure);
    // And the adapter mattered: the base model answers otherwise.
    assert.notDeepEqual(stats.token_ids, nativeGreedyReply(prompt, 16));
    await tuned.close();
  } finally {
    other.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a missing model file is explained in the page", async () => {
  await page.goto(`${server.url}?model=missing.gguf`);
  const error = page.locator("[data-testid=error]");
  await error.waitFor({ timeout: 60_000 });
  assert.match(await error.textContent(), /not found at missing\.gguf \(HTTP 404\)/);
});

test("a corrupt model file is explained in the page", async () => {
  const dir = mkdtempSync(join(tmpdir(), "monologue-corrupt-"));
  const corrupt = join(dir, "corrupt.gguf");
  // The real file's first megabyte: a valid header whose tensors run past the end.
  const real = readFileSync(join(root, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"));
  writeFileSync(corrupt, real.subarray(0, 1 << 20));
  const other = await startServer(["--model", corrupt]);
  try {
    await page.goto(other.url);
    const error = page.locator("[data-testid=error]");
    await error.waitFor({ timeout: 60_000 });
    assert.match(await error.textContent(), /^The model could not be loaded\. corrupt\.gguf: .+/);
  } finally {
    other.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
