#!/usr/bin/env bash
# The newcomer's first command: set up, build, and show what the engine sees
# in the default model, then how fast this machine runs its kernels.
# (The interactive REPL with SmolLM2 loaded will take this place.)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
"$here/scripts/setup.sh"
cargo build --release -p monologue-cli
./target/release/monologue inspect models/SmolLM2-135M-Instruct.Q4_1.gguf
./target/release/monologue bench kernels
