#!/usr/bin/env bash
# Run every test: sets up what the tests need, builds once (release profile,
# so kernels and model tests run at full speed), runs the Rust tests of the
# whole workspace (the GPU ones on Mesa's lavapipe), the Jupyter kernel's
# protocol tests and the notebooks, then builds the browser chat (wasm32) and
# runs its tests in headless Chromium.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

"$here/scripts/setup.sh" --tests --wasm

cargo build --release --workspace --all-targets
# The GPU tests run on lavapipe here; a missing adapter fails them instead
# of skipping them.
export MONOLOGUE_REQUIRE_GPU=1
cargo test --release --workspace --no-fail-fast
python3 kernel/tests/test_protocol.py
python3 notebooks/run.py
"$here/web/build.sh"
(cd "$here/web" && npm test)
