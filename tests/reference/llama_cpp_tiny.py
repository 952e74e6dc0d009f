#!/usr/bin/env python3
"""The tiny transformers fixtures (tests/fixtures/hf/NAME) converted to GGUF
by llama.cpp's own converter, and what llama.cpp computes on them.

For each fixture this writes, beside it:
  llama_cpp.gguf   convert_hf_to_gguf.py's output (f32), as a user's
                   conversion would be: llama.cpp's names, its Q/K row
                   permutation for Llama, Gemma's norms shifted by 1, ...
  llama_cpp.json   llama.cpp's logits (llama-cpp-python, f32 KV cache, one
  llama_cpp.bin    token at a time) for every input of reference.json,
                   indexed like reference.json (little-endian f32)

engine/tests/suite/hf_models.rs loads each llama_cpp.gguf and compares our
logits with transformers' and with llama.cpp's.

The converter cannot name our tiny trained tokenizers' pre-tokenizer (it
recognizes real models' by a hash of their output), so it is told: the
fixtures' ids are what matters here, and the ids are given, not encoded.

Needs torch, transformers, llama-cpp-python and llama.cpp's converter
(scripts/fetch-llama-cpp.sh); not run in CI:

    python3 tests/reference/llama_cpp_tiny.py [NAME ...]
"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "hf")
LLAMA_CPP = os.path.join(ROOT, "models", "llama.cpp")
NAMES = ["llama", "qwen2", "qwen3", "gemma3", "llama3", "qwen3-yarn", "mistral", "phi3"]
# The pre-tokenizer each fixture's tokenizer was trained with.
PRE = {"qwen2": "qwen2", "qwen3": "qwen2"}


def convert(name):
    sys.path[:0] = [LLAMA_CPP, os.path.join(LLAMA_CPP, "gguf-py")]
    import conversion.base as base

    # Model classes are imported lazily, so their set_vocab cannot be
    # patched here; the vocabulary readers they call can.
    base.TextModel.get_vocab_base_pre = lambda self, tokenizer: PRE.get(name, "gpt-2")
    base.TextModel._set_vocab_sentencepiece = lambda self, *args, **kwargs: self._set_vocab_gpt2()
    # Phi-3's reads tokenizer.model itself.
    import conversion.phi as phi

    phi.Phi3MiniModel.set_vocab = lambda self: self._set_vocab_gpt2()
    import convert_hf_to_gguf

    out = os.path.join(FIXTURES, name, "llama_cpp.gguf")
    argv = sys.argv
    # A neutral name: llama.cpp keys some vocabulary fix-ups on it (Phi-3's
    # expects tokens our tiny vocabularies do not have).
    sys.argv = [
        "convert_hf_to_gguf.py",
        os.path.join(FIXTURES, name),
        "--outtype",
        "f32",
        "--outfile",
        out,
        "--model-name",
        "tiny",
    ]
    try:
        convert_hf_to_gguf.main()
    finally:
        sys.argv = argv
    return out


def record(name, gguf_path):
    import numpy as np
    import llama_cpp
    from llama_cpp import Llama

    reference = json.load(open(os.path.join(FIXTURES, name, "reference.json")))
    llm = Llama(
        model_path=gguf_path,
        n_ctx=128,
        n_batch=128,
        n_threads=1,
        type_k=0,  # GGML_TYPE_F32: no rounding of the cache
        type_v=0,
        verbose=False,
    )
    vocab = llm.n_vocab()
    blob = bytearray()
    inputs = []
    for case in reference["inputs"]:
        llm.reset()
        rows = []
        for token in case["ids"]:
            llm.eval([token])
            ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
            rows.append(np.array(np.ctypeslib.as_array(ptr, shape=(vocab,)), dtype="<f4"))
        logits = np.stack(rows)
        inputs.append({"ids": case["ids"], "logits": {"offset": len(blob), "shape": list(logits.shape)}})
        blob += logits.tobytes()
    with open(os.path.join(FIXTURES, name, "llama_cpp.bin"), "wb") as f:
        f.write(blob)
    index = {
        "about": "llama.cpp (llama-cpp-python) on llama_cpp.gguf, made by tests/reference/llama_cpp_tiny.py",
        "llama_cpp_python": llama_cpp.__version__,
        "inputs": inputs,
    }
    with open(os.path.join(FIXTURES, name, "llama_cpp.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


def main():
    names = sys.argv[1:] or NAMES
    for name in names:
        # One process per fixture: the converter's module state is global.
        if len(names) > 1:
            status = os.spawnv(os.P_WAIT, sys.executable, [sys.executable, __file__, name])
            if status != 0:
                sys.exit(f"llama_cpp_tiny.py: {name} failed")
            continue
        record(name, convert(name))
        print(f"{name}: converted and recorded", file=sys.stderr)


if __name__ == "__main__":
    main()
