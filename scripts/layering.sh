#!/usr/bin/env bash
# Lists the engine's imports between top-level modules (`from -> to`) and
# fails on any that points up the layers documented in ARCHITECTURE.md.
# The check itself is the test engine/tests/suite/layering.rs, which CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -p monologue --test suite -- layering:: --nocapture 2>&1 |
    grep -E ' -> |uses |^test |panicked'
