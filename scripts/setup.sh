#!/usr/bin/env bash
# Install what building and testing Monologue needs on a Debian machine, and
# fetch the default model. Safe to run again: it skips what is already there.
#
#   scripts/setup.sh           what running needs: pip (to fetch the model), fonts (plots), the model
#   scripts/setup.sh --tests   also the reference implementations the tests compare against
#   scripts/setup.sh --wasm    also the Debian toolchain and wasm-bindgen-cli for the browser build
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

want_wasm=0
want_tests=0
for arg in "$@"; do
  case "$arg" in
    --wasm) want_wasm=1 ;;
    --tests) want_tests=1 ;;
    *) echo "error: unknown option $arg (use --tests or --wasm)" >&2; exit 2 ;;
  esac
done

if ! command -v cargo >/dev/null; then
  echo "error: cargo is missing; install Rust with rustup first" >&2
  exit 1
fi

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null
}

apt_install python3-pip unzip fonts-dejavu-core
if [ "$want_wasm" = 1 ]; then
  # Debian's rustc ships the std sources that -Zbuild-std needs for wasm32;
  # lld-22 provides the linker that rust-lld resolves to.
  apt_install rustc-web rust-web-src rust-web-llvm lld-22
  # wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
  # Not --locked: its own lock file pins a crate the registry no longer has.
  want="$(grep -A1 '^name = "wasm-bindgen"$' "$here/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    echo "building wasm-bindgen-cli $want (about eight minutes, once) ..."
    cargo install wasm-bindgen-cli --version "$want" --quiet
  fi
fi

if [ "$want_tests" = 1 ]; then
  # Reference implementations the tests compare against: the `gguf` package
  # (block formats), Hugging Face `tokenizers` (and `tiktoken`, for the
  # tokenizer benchmark), and llama.cpp's tokenizer
  # through llama-cpp-python (which compiles llama.cpp: several minutes once).
  python3 -c "import gguf, numpy" 2>/dev/null || python3 -m pip install --quiet gguf numpy
  python3 -c "import tokenizers" 2>/dev/null || python3 -m pip install --quiet tokenizers
  python3 -c "import tiktoken" 2>/dev/null || python3 -m pip install --quiet tiktoken
  # The Jupyter kernel's protocol tests, and executing the notebooks.
  python3 -c "import jupyter_client, jupyter_kernel_test, nbclient, nbformat" 2>/dev/null ||
    python3 -m pip install --quiet jupyter_client jupyter_kernel_test nbclient nbformat
  if ! python3 -c "import llama_cpp" 2>/dev/null; then
    echo "building llama.cpp through llama-cpp-python (a few minutes, once) ..."
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" python3 -m pip install --quiet llama-cpp-python
  fi
  # evcxr's Rust kernel, for notebooks/rust.ipynb (compiles for about ten
  # minutes, once).
  if ! command -v evcxr_jupyter >/dev/null; then
    echo "building evcxr_jupyter (about ten minutes, once) ..."
    cargo install evcxr_jupyter --locked --quiet
  fi
  evcxr_jupyter --install >/dev/null
  command -v npm >/dev/null || apt_install npm
  # The browser chat's tests drive Debian's Chromium (never a downloaded one).
  apt_install chromium
  # The GPU tests need an adapter: Mesa's lavapipe is a Vulkan driver that
  # runs on the CPU.
  apt_install mesa-vulkan-drivers libvulkan1
fi

"$here/scripts/fetch-model.sh"
if [ "$want_tests" = 1 ]; then
  # The tokenizer tests read llama.cpp's tokenizer suite and Gemma 3's
  # vocabulary.
  "$here/scripts/fetch-llama-cpp.sh"
  "$here/scripts/fetch-model.sh" gemma3
fi
