#!/usr/bin/env bash
# Build the browser chat into web/dist: the engine compiled to wasm32 with
# SIMD128 (twice: with WebGPU, and with threads), its wasm-bindgen glue,
# the page, and the page's npm packages.
# `monologue serve-web` serves the result.
#
# Needs Debian's rustc-web toolchain (rustup has no wasm32 target here) and
# wasm-bindgen-cli at the exact wasm-bindgen version in Cargo.lock:
#   scripts/setup.sh --wasm
set -euo pipefail
web="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$web/.." && pwd)"
dist="$web/dist"

if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/src ]; then
  echo "error: the wasm build needs Debian's rustc-web toolchain: run scripts/setup.sh --wasm" >&2
  exit 1
fi
want="$(grep -A1 '^name = "wasm-bindgen"$' "$root/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have" != "$want" ]; then
  echo "error: wasm-bindgen-cli $want is needed (found: ${have:-none}): run scripts/setup.sh --wasm" >&2
  exit 1
fi

# The page's packages, exactly as locked; never a browser download.
if [ ! -d "$web/node_modules" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
  (cd "$web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

# -Zbuild-std rebuilds the standard library for wasm32 (RUSTC_BOOTSTRAP lets
# the stable compiler take the flag); SIMD128 is on for the whole build, std
# included. Every browser with WebAssembly SIMD (all current ones) runs it.
# No debug info: wasm-bindgen would strip it, and it slows the build.
# Each build keeps its own target folder, so neither rebuilds the other.
build() { # <name> <rustflags> <cargo args...>
  local name="$1" flags="$2"
  shift 2
  (cd "$root" && RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_DIR="$root/target/$name" \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$flags" \
    cargo build --release -p monologue-web --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort "$@")
}
simd="-C target-feature=+simd128"
# pkg: WebGPU and the CPU on one thread; it runs on any page.
build wasm "$simd"
# pkg-threads: the CPU kernels on several Web Workers over one shared
# memory, for cross-origin isolated pages (serve-web sends the headers).
# std needs atomics too; the linker imports a shared memory (2 GiB at most)
# and exports the thread-local storage hooks wasm-bindgen starts threads with.
threads="$simd,+atomics,+bulk-memory,+mutable-globals"
for arg in --shared-memory --import-memory --max-memory=2147483648 \
  --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base; do
  threads="$threads -C link-arg=$arg"
done
build wasm-threads "$threads" --no-default-features --features threads

rm -rf "$dist"
mkdir -p "$dist/vendor"
wasm-bindgen --target web --no-typescript --out-dir "$dist/pkg" \
  "$root/target/wasm/wasm32-unknown-unknown/release/monologue_web.wasm"
wasm-bindgen --target web --no-typescript --out-dir "$dist/pkg-threads" \
  "$root/target/wasm-threads/wasm32-unknown-unknown/release/monologue_web.wasm"
cp "$web"/page/*.html "$web"/page/*.css "$web"/page/*.js "$dist/"
cp "$web/node_modules/markdown-it/dist/browser/markdown-it.esm.min.mjs" "$dist/vendor/markdown-it.mjs"
echo "web: built $dist ($(du -sh "$dist" | cut -f1)); serve it with: monologue serve-web"
