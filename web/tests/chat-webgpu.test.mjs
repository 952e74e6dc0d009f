// The chat page on WebGPU: headless Chromium's SwiftShader adapter runs our
// WGSL kernels (slowly: it is a CPU pretending to be a GPU, so replies here
// are short). Greedy replies must equal the native CLI's on its wgpu
// backend; a GPU that fails to open, or is lost mid-reply, must leave a
// clear message and a chat that goes on on the CPU.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { root, recordProgress, showedDownloadProgress, startServer, launchBrowser, openChat, ask, setSettings, screenshot, nativeGreedyReply, waitForReply, prependToWorker, pressStop } from "./harness.mjs";

let server;
let browser;
let page;
let progressSeen;

before(async () => {
  server = await startServer();
  browser = await launchBrowser({ webgpu: true });
  // Keep a handle on the device the engine opens, to lose it on purpose
  // in the last GPU test (without a reload: SwiftShader's shader
  // compilation makes every fresh device slow).
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  await prependToWorker(
    page,
    `
      const requestDevice = GPUAdapter.prototype.requestDevice;
      GPUAdapter.prototype.requestDevice = async function (...args) {
        const device = await requestDevice.apply(this, args);
        self.loseDeviceForTest = () => device.destroy();
        return device;
      };
    `,
  );
  progressSeen = await recordProgress(page);
  page = await openChat(browser.context, server.url);
});

after(async () => {
  await browser?.close();
  server?.stop();
});

test("the model loads on WebGPU and a greedy reply equals the native GPU backend's", async () => {
  assert.match(await page.locator("[data-testid=backend]").textContent(), /^webgpu /);
  assert.ok(showedDownloadProgress(progressSeen), `no download progress was shown: ${JSON.stringify(progressSeen.slice(0, 5))}`);
  assert.equal(server.modelDownloads(), 1);
  // Per-kernel timing splits every pass on a GPU, so it starts off there.
  assert.equal(await page.isChecked("[data-testid=time-kernels]"), false);
  const prompt = "What is the capital of France?";
  const stats = await ask(page, prompt, { temperature: 0, maxTokens: 10, think: false, timeKernels: true });
  assert.deepEqual(stats.token_ids, nativeGreedyReply(prompt, 10, "wgpu"));
  assert.equal(stats.backend, await page.locator("[data-testid=backend]").textContent());
  // With timestamp queries every WGSL kernel has its row, read back with
  // the pass's result; without them each whole pass is timed.
  const backend = stats.backend;
  if (/timestamps/.test(backend)) {
    assert.ok(stats.kernels.some((k) => k.backend === "wgpu" && k.kernel.startsWith("matmul")), JSON.stringify(stats.kernels.slice(0, 3)));
    assert.ok(stats.kernels.length >= 5, `${stats.kernels.length} kernel rows`);
    assert.ok(!stats.kernels.some((k) => k.backend === "webgpu"), "no whole-pass rows beside the kernels");
  } else {
    assert.ok(stats.kernels.some((k) => k.backend === "webgpu"), "the reply's passes are timed");
  }
  await page.locator("[data-testid=kernels]").evaluate((d) => (d.open = true));
  await screenshot(page, "chat-webgpu");
  await page.locator("[data-testid=kernels]").evaluate((d) => (d.open = false));
});

test("on WebGPU, think mode folds the reasoning when the answer starts", async () => {
  const stats = await ask(page, "And of Italy?", { temperature: 0, maxTokens: 3, think: true, thinkBudget: 4 });
  assert.equal(stats.reasoning_tokens, 4);
  const thinking = page.locator("[data-testid=thinking]").last();
  assert.equal(await thinking.evaluate((d) => d.open), false);
  assert.equal(await page.locator("[data-testid=thinking-summary]").last().textContent(), "Thought for 4 tokens");
  assert.ok((await page.locator("[data-testid=reasoning]").last().textContent()).length > 0);
});

test("on WebGPU, stop halts generation within a token or two", async () => {
  await setSettings(page, { temperature: 0, maxTokens: 200, think: false });
  await page.fill("[data-testid=input]", "Count from 1 to 100, separated by commas.");
  await page.click("[data-testid=send]");
  await page.waitForFunction(() => window.monologue.tokens >= 2, null, { timeout: 300_000 });
  const atStop = await pressStop(page);
  await waitForReply(page);
  const stats = await page.evaluate(() => window.monologue.lastStats);
  assert.equal(stats.stop, "cancelled");
  assert.ok(stats.generated_tokens - atStop <= 2, `stopped at ${atStop}, ended at ${stats.generated_tokens}`);
});

test("a GPU lost mid-reply is reported and the reply is written on the CPU", async () => {
  assert.match(await page.locator("[data-testid=backend]").textContent(), /^webgpu /);
  await setSettings(page, { temperature: 0, maxTokens: 8, think: false });
  await page.fill("[data-testid=input]", "What is the capital of France?");
  await page.click("[data-testid=send]");
  await page.waitForFunction(() => window.monologue.tokens >= 1, null, { timeout: 300_000 });
  await page.workers()[0].evaluate(() => self.loseDeviceForTest());
  await waitForReply(page);
  assert.match(await page.locator("[data-testid=notice]").textContent(), /^The GPU failed \(.*(lost|GPU stopped answering).*\); the chat continues on the CPU\.$/);
  assert.match(await page.locator("[data-testid=backend]").textContent(), /^cpu /);
  const stats = await page.evaluate(() => window.monologue.lastStats);
  assert.match(stats.backend, /^cpu \(wasm, SIMD128(, \d+ threads)?\)$/);
  assert.ok(stats.answer.length > 0);
});

test("on WebGPU, a reload takes the model from the browser cache", async () => {
  const downloads = server.modelDownloads();
  await page.reload();
  await page.waitForFunction(() => window.monologue?.ready, null, { timeout: 300_000 });
  assert.equal(await page.evaluate(() => window.monologue.fromCache), true);
  assert.equal(server.modelDownloads(), downloads);
  assert.match(await page.locator("[data-testid=backend]").textContent(), /^webgpu /);
});

test("Gemma 3 runs on WebGPU too (its embedding cut into shards), greedy as the native GPU backend", async () => {
  execFileSync(join(root, "scripts", "fetch-model.sh"), ["gemma3"], { stdio: "ignore" });
  const gemma = await openChat(browser.context, `${server.url}?model=models/gemma3.gguf`, {
    page: await browser.context.newPage(),
  });
  assert.match(await gemma.locator("[data-testid=backend]").textContent(), /^webgpu /);
  assert.match(await gemma.locator("[data-testid=model-name]").textContent(), /^gemma-3-270m-q4_k_m\.gguf · 18 layers/);
  const prompt = "Name three colours.";
  const stats = await ask(gemma, prompt, { temperature: 0, maxTokens: 4, think: false });
  assert.deepEqual(stats.token_ids, nativeGreedyReply(prompt, 4, "wgpu", "gemma3"));
  await gemma.close();
});

test("a WebGPU device that cannot be opened is explained, and the chat runs on the CPU", async () => {
  await page.unroute("**/worker.js");
  await prependToWorker(
    page,
    `
      GPUAdapter.prototype.requestDevice = async () => {
        throw new DOMException("the test refuses to create a device", "OperationError");
      };
    `,
  );
  await page.reload();
  await page.waitForFunction(() => window.monologue?.ready, null, { timeout: 300_000 });
  assert.match(await page.locator("[data-testid=notice]").textContent(), /^WebGPU failed \(opening the GPU: OperationError: the test refuses to create a device\), so the model runs on the CPU\.$/);
  assert.match(await page.locator("[data-testid=backend]").textContent(), /^cpu /);
  await page.unroute("**/worker.js");
});
