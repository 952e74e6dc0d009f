#!/usr/bin/env bash
# Fetch llama.cpp's sources, as the llama-cpp-python 0.3.36 sdist carries
# them, into models/llama.cpp/ (cached: nothing is fetched twice). The tests
# read its tokenizer suite (models/ggml-vocab-*.gguf with .inp/.out), its
# chat templates (models/templates/) and its GGUF converter
# (convert_hf_to_gguf.py, conversion/, gguf-py/). Nothing here is built.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${MONOLOGUE_MODELS:-$here/models}/llama.cpp"
version="0.3.36"
stamp="$dest/.llama-cpp-python-$version"

if [ -f "$stamp" ]; then
  echo "$dest is already here"
  exit 0
fi

python=$(command -v python3 || command -v python || true)
if [ -z "$python" ] || ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "error: fetching llama.cpp's sources needs Python 3 with pip (apt-get install python3-pip)" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "downloading the llama-cpp-python $version sdist with pip ..."
# --no-binary for this package only: the sdist is what we want, and pip
# must not try to build anything else from source.
"$python" -m pip download --quiet --no-deps --no-binary llama-cpp-python \
  --dest "$tmp" "llama-cpp-python==$version"
sdist=$(ls "$tmp"/llama_cpp_python-*.tar.gz)
root="llama_cpp_python-$version/vendor/llama.cpp"
mkdir -p "$tmp/x"
tar -xzf "$sdist" -C "$tmp/x" \
  --wildcards "$root/models/ggml-vocab-*" "$root/models/templates/*" \
  "$root/convert_hf_to_gguf.py" "$root/conversion/*" "$root/gguf-py/*" "$root/LICENSE"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$tmp/x/$root" "$dest"
touch "$stamp"
echo "saved llama.cpp's vocabularies, templates and converter in $dest"
