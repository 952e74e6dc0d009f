#!/usr/bin/env bash
# The newcomer's first command: set up, build, and open the Monologue REPL
# with the default model (SmolLM2-135M-Instruct) loaded as `m`.
# Arguments are passed on to `monologue` (e.g. --threads 1).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
"$here/scripts/setup.sh"
cargo build --release -p monologue-cli
exec ./target/release/monologue --model smollm2 "$@"
