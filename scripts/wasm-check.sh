#!/usr/bin/env bash
# Build the engine for wasm32-unknown-unknown, the browser target. rustup has
# no wasm target here, so we use Debian's rustc-web, which ships the standard
# library's sources, and build std ourselves (-Zbuild-std needs the
# RUSTC_BOOTSTRAP escape hatch on a stable compiler).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/src ]; then
  echo "error: the wasm build needs Debian's rustc-web toolchain: run scripts/setup.sh --wasm" >&2
  exit 1
fi
cd "$here"
RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_DIR="$here/target/wasm" \
  cargo build --release -p monologue --no-default-features \
  --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
echo "wasm32 build of the engine: ok"
