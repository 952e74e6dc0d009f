// What the browser tests share: `monologue serve-web` in the background
// (its request log tells how often the model was downloaded), Debian's
// Chromium driven by playwright-core (never a downloaded browser), and the
// native CLI's greedy reply to compare with.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const monologue = join(root, "target", "release", "monologue");
export const artifacts = join(root, "out", "web");

// Starts `monologue serve-web` on a free port; resolves once it listens.
export async function startServer(extraArgs = []) {
  const child = spawn(monologue, ["serve-web", "--port", "0", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = [];
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout.on("data", (data) => {
      buffered += data;
      const lines = buffered.split("\n");
      buffered = lines.pop();
      for (const line of lines) {
        log.push(line);
        const match = line.match(/serving the chat at (http:\/\/127\.0\.0\.1:\d+\/)/);
        if (match) resolve(match[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`serve-web exited (${code}): ${stderr}`)));
  });
  return {
    url,
    // GET requests that downloaded the model (HEAD requests only ask its ETag).
    modelDownloads: () => log.filter((l) => /^GET \/model\.gguf 200/.test(l)).length,
    stop: () => child.kill(),
  };
}

// Chromium from Debian in a fresh profile. `webgpu` passes the flags that
// give headless Chromium its SwiftShader WebGPU adapter; without it WebGPU
// is switched off, so the page must take its CPU path.
export async function launchBrowser({ webgpu }) {
  const profile = mkdtempSync(join(tmpdir(), "monologue-chromium-"));
  const args = [
    "--no-sandbox",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
  ];
  if (webgpu) args.push("--enable-unsafe-webgpu");
  else args.push("--disable-features=WebGPU");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args,
    viewport: { width: 1200, height: 800 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Opens the chat and waits until the model is ready (or failed).
// `page`: a page to use (default: the context's first, or a new one).
export async function openChat(context, url, { expectReady = true, page: given } = {}) {
  const page = given ?? context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  if (expectReady) {
    await page.waitForFunction(() => window.monologue?.ready || !document.getElementById("error").hidden, null, {
      timeout: 120_000,
    });
    const error = await page.locator("[data-testid=error]");
    if (await error.isVisible()) throw new Error(`the page failed to load the model: ${await error.textContent()}`);
  }
  page.pageErrors = errors;
  return page;
}

// Collects every text the progress label shows from the next load on
// (call before the page loads); returns the growing list.
export async function recordProgress(page) {
  const seen = [];
  await page.exposeFunction("reportProgress", (label) => seen.push(label));
  await page.addInitScript(() => {
    new MutationObserver(() => {
      const label = document.getElementById("progress-label");
      if (label) window.reportProgress(label.textContent);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  return seen;
}

// Whether `seen` (from recordProgress) shows the download counting up.
export function showedDownloadProgress(seen) {
  return seen.some((l) => /^Downloading the model: [\d.]+ of [\d.]+ MB$/.test(l));
}

// Waits until the newest assistant message is finished.
export async function waitForReply(page, timeout = 300_000) {
  await page.waitForFunction(
    () => {
      const replies = document.querySelectorAll("[data-testid=message-assistant]");
      return replies.length > 0 && replies[replies.length - 1].dataset.done === "true";
    },
    null,
    { timeout },
  );
}

// Serves worker.js with `prelude` run before it (to spy on or sabotage
// WebGPU inside the worker); the original headers stay, COEP included.
export async function prependToWorker(page, prelude) {
  await page.route("**/worker.js", async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, body: prelude + (await response.text()) });
  });
}

// Presses stop; returns how many tokens the page showed at that moment (the
// count is read and the button clicked in one go, inside the page).
export async function pressStop(page) {
  return page.evaluate(() => {
    const shown = window.monologue.tokens;
    document.querySelector("[data-testid=stop]").click();
    return shown;
  });
}

// Types a message, sends it and waits for the reply to finish.
export async function ask(page, text, settings = {}) {
  await setSettings(page, settings);
  const before = await page.locator("[data-testid=message-assistant][data-done=true]").count();
  await page.fill("[data-testid=input]", text);
  await page.click("[data-testid=send]");
  await page.locator("[data-testid=message-assistant][data-done=true]").nth(before).waitFor({ timeout: 300_000 });
  return page.evaluate(() => window.monologue.lastStats);
}

export async function setSettings(page, { temperature, maxTokens, think, thinkBudget, seed, timeKernels }) {
  if (timeKernels !== undefined) await page.setChecked("[data-testid=time-kernels]", timeKernels);
  if (temperature !== undefined) await page.fill("[data-testid=temperature]", String(temperature));
  if (maxTokens !== undefined) await page.fill("[data-testid=max-tokens]", String(maxTokens));
  if (seed !== undefined) await page.fill("[data-testid=seed]", String(seed));
  if (think !== undefined) await page.setChecked("[data-testid=think]", think);
  if (thinkBudget !== undefined) await page.fill("[data-testid=think-budget]", String(thinkBudget));
}

// The native CLI's greedy chat reply, as token ids (`backend`: its
// --backend, e.g. "wgpu").
export function nativeGreedyReply(text, maxTokens, backend = "cpu", model = "smollm2") {
  const out = execFileSync(
    monologue,
    ["generate", "--model", model, "--backend", backend, "--chat", "--greedy", "--max-tokens", String(maxTokens), "--json", "--prompt", text],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
  return JSON.parse(out).tokens;
}

/**
 * The native CLI's greedy reply, cut before its first near tie: the first
 * generated position where its top-2 logits are closer than `margin`.
 * Past a near tie, rounding that differs between builds may rightly pick
 * the other token (the rule used against llama.cpp).
 */
export function nativeGreedyUntilNearTie(text, maxTokens, model, margin = 0.5) {
  const out = execFileSync(
    monologue,
    ["generate", "--model", model, "--chat", "--greedy", "--max-tokens", String(maxTokens), "--json", "--prompt", text],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
  const { prompt_tokens: prompt, tokens } = JSON.parse(out);
  const dir = mkdtempSync(join(tmpdir(), "monologue-ids-"));
  const ids = join(dir, "ids.json");
  writeFileSync(ids, JSON.stringify([...prompt, ...tokens]));
  const logits = JSON.parse(
    execFileSync(monologue, ["logits", "--model", model, "--ids-file", ids, "--all", "--top", "2", "--json"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }),
  );
  rmSync(dir, { recursive: true, force: true });
  // Generated token i was chosen at position prompt.length - 1 + i.
  const tie = tokens.findIndex((_, i) => {
    const [first, second] = logits.top[prompt.length - 1 + i];
    return first.logit - second.logit < margin;
  });
  return tie < 0 ? tokens : tokens.slice(0, tie);
}

export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}
