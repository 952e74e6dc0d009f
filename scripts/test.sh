#!/usr/bin/env bash
# Run every test: sets up what the tests need, builds once (release profile,
# so kernels and model tests run at full speed), checks formatting and
# clippy's lints (warnings fail), runs the Rust tests of the
# whole workspace (the GPU ones on Mesa's lavapipe; the model tests also on
# the AVX2 path where the CPU has AVX-512; a bounded fuzz step over the
# files people download, in engine/tests/fuzz_inputs.rs), the Jupyter kernel's
# protocol tests and the notebooks, then builds the browser chat (wasm32) and
# runs its tests in headless Chromium.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

# Each phase's time, for keeping CI within its budget.
started=$(date +%s)
phase() { echo "test.sh: $1 at $(( $(date +%s) - started )) s"; }

"$here/scripts/setup.sh" --tests --wasm
phase "set up"

cargo build --release --workspace --all-targets
phase "built"
cargo fmt --all --check
cargo clippy --release --workspace --all-targets -- -D warnings
phase "fmt and clippy"
# The GPU tests run on lavapipe here; a missing adapter fails them instead
# of skipping them.
export MONOLOGUE_REQUIRE_GPU=1
cargo test --release --workspace --no-fail-fast
phase "cargo tests"
# Kernels choose their SIMD path at run time, and the kernel tests run
# every path this CPU has. The whole-model tests see only the widest, so on
# an AVX-512 machine they run again capped at AVX2 (MONOLOGUE_SIMD), as an
# AVX2-only machine would run them.
if grep -qw avx512f /proc/cpuinfo; then
  echo "model tests again on the AVX2 path (MONOLOGUE_SIMD=avx2)"
  # --workspace: the same feature set as the build above, so nothing is
  # rebuilt (`-p monologue` alone would rebuild the engine).
  MONOLOGUE_SIMD=avx2 cargo test --release --workspace --test suite -- \
    smollm2:: llama_cpp_fidelity:: inspect_smollm2:: script_api:: \
    hf_models:: inspect_hf:: generation::
  phase "model tests on AVX2"
fi
python3 kernel/tests/test_protocol.py
phase "kernel protocol tests"
python3 notebooks/run.py
phase "notebooks"
"$here/web/build.sh"
phase "wasm builds"
(cd "$here/web" && npm test)
phase "browser tests"
