// The browser build's quantized dot products (SIMD128) against the scalar
// reference, run inside the real wasm module under Node: native tests never
// execute wasm SIMD. Every kernel sums exact integers per block and takes
// the reference's float steps in its order, so they agree bit for bit (and
// with the native build's kernels, which do the same).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { root } from "./harness.mjs";

test("SIMD128 dot products equal the scalar reference bit for bit", async () => {
  const pkg = join(root, "web", "dist", "pkg");
  const { initSync, kernelCheck } = await import(join(pkg, "monologue_web.js"));
  initSync({ module: readFileSync(join(pkg, "monologue_web_bg.wasm")) });
  for (const seed of [1, 2, 3]) {
    const check = JSON.parse(kernelCheck(seed));
    assert.equal(check.simd128, true, "the browser build must run SIMD128 kernels");
    assert.deepEqual(check.errors.map(([name]) => name), [
      "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl",
      "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_xs",
    ]);
    for (const [name, error] of check.errors) {
      assert.equal(error, 0, `${name}: relative error ${error}`);
    }
    assert.ok(check.rows >= 192);
  }
});
