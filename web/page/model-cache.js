// Getting the model's bytes: from the browser's Cache API when an earlier
// visit stored them, otherwise downloaded with progress and then stored.
// A cached copy is checked against the server's ETag with a HEAD request,
// so a changed file is downloaded again; offline, the cached copy is used.

const CACHE_NAME = "monologue-models-v1";

export async function fetchModel(url, { progress, notice }) {
  const absolute = new URL(url, self.location.href).href;
  const cache = await openCache(notice);
  const etag = await currentEtag(absolute);
  if (cache) {
    const cached = await cache.match(absolute);
    if (cached && (etag === null || cached.headers.get("x-monologue-etag") === etag)) {
      const bytes = await readWithProgress(cached, (loaded, total) => progress("cache", loaded, total));
      return { bytes, fromCache: true, name: cached.headers.get("x-model-name") };
    }
  }

  let response;
  try {
    response = await fetch(absolute, { cache: "no-store" });
  } catch (e) {
    throw new Error(`Could not reach the model file at ${url}: ${e.message}`);
  }
  if (response.status === 404) {
    throw new Error(`The model file was not found at ${url} (HTTP 404). Start the server with --model PATH.`);
  }
  if (!response.ok) {
    throw new Error(`The server refused the model file at ${url} (HTTP ${response.status} ${response.statusText}).`);
  }
  const bytes = await readWithProgress(response, (loaded, total) => progress("download", loaded, total));
  if (cache) {
    await store(cache, absolute, bytes, response.headers, notice);
  }
  return { bytes, fromCache: false, name: response.headers.get("x-model-name") };
}

async function openCache(notice) {
  if (!self.caches) {
    notice("This browser offers no Cache API here, so the model will be downloaded on every visit.");
    return null;
  }
  try {
    return await self.caches.open(CACHE_NAME);
  } catch (e) {
    notice(`The browser cache is unavailable (${e.message}); the model will be downloaded on every visit.`);
    return null;
  }
}

// The server's ETag for the file, or null when it cannot be asked.
async function currentEtag(url) {
  try {
    const head = await fetch(url, { method: "HEAD", cache: "no-store" });
    return head.ok ? head.headers.get("etag") : null;
  } catch (_) {
    return null;
  }
}

async function store(cache, url, bytes, responseHeaders, notice) {
  const headers = { "content-type": "application/octet-stream", "content-length": String(bytes.length) };
  const etag = responseHeaders.get("etag");
  const name = responseHeaders.get("x-model-name");
  if (etag) headers["x-monologue-etag"] = etag;
  if (name) headers["x-model-name"] = name;
  try {
    await cache.put(url, new Response(bytes, { headers }));
  } catch (e) {
    const size = (bytes.length / 1e6).toFixed(0);
    if (e && e.name === "QuotaExceededError") {
      let detail = "";
      if (navigator.storage && navigator.storage.estimate) {
        const { usage, quota } = await navigator.storage.estimate();
        detail = ` (this site may use ${(quota / 1e6).toFixed(0)} MB and already uses ${(usage / 1e6).toFixed(0)} MB)`;
      }
      notice(
        `The browser would not store the ${size} MB model: its storage quota is full${detail}. ` +
          "The chat works, but the next visit downloads the model again. Freeing site data in the browser's settings fixes this.",
      );
    } else {
      notice(`The model could not be stored in the browser cache (${e.message}); the next visit downloads it again.`);
    }
  }
}

// The whole body, reporting progress as chunks arrive.
async function readWithProgress(response, onProgress) {
  const total = Number(response.headers.get("content-length")) || 0;
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onProgress(bytes.length, bytes.length);
    return bytes;
  }
  const reader = response.body.getReader();
  let bytes = new Uint8Array(total || 1 << 20);
  let loaded = 0;
  let lastReport = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > bytes.length) {
      const bigger = new Uint8Array(Math.max(bytes.length * 2, loaded + value.length));
      bigger.set(bytes.subarray(0, loaded));
      bytes = bigger;
    }
    bytes.set(value, loaded);
    loaded += value.length;
    if (loaded - lastReport >= 1 << 20 || loaded === total) {
      onProgress(loaded, total);
      lastReport = loaded;
    }
  }
  if (total && loaded !== total) {
    throw new Error(`The model download stopped at ${loaded} of ${total} bytes; reload the page to try again.`);
  }
  onProgress(loaded, total || loaded);
  return loaded === bytes.length ? bytes : bytes.subarray(0, loaded);
}
