#!/usr/bin/env python3
"""Run a GGUF model in llama.cpp (llama-cpp-python) on given token ids and
print what it computes, for engine/tests/suite/train_export.rs (run at test time).

    python3 tests/reference/llama_cpp_greedy.py MODEL.gguf IDS STEPS [TEXT]

IDS is the prompt as comma-separated token ids, fed directly (llama.cpp's
tokenizer plays no part in the logits). Prints one JSON object:

  - "generated": STEPS greedy tokens (argmax, lowest id on a tie);
  - "logits": the full logits before each of them (the first row is the
    last prompt position's);
  - "tokens": llama.cpp's tokenization of TEXT (no BOS, special tokens
    parsed), when TEXT is given: a check of the exported vocabulary;
  - "vocab_size", "llama_cpp_python".

Settings: one token per llama_decode (a batched decode crashes in this
build on CPUs with AMX, see DEVELOPERS.md), an f32 key/value cache, no
flash attention, two threads.
"""

import json
import sys

import numpy as np
import llama_cpp
from llama_cpp import Llama

GGML_TYPE_F32 = 0


def main():
    path, ids, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    text = sys.argv[4] if len(sys.argv) > 4 else None
    prompt = [int(x) for x in ids.split(",")]
    llm = Llama(
        model_path=path,
        n_ctx=len(prompt) + steps,
        n_batch=len(prompt) + steps,
        n_threads=2,
        type_k=GGML_TYPE_F32,
        type_v=GGML_TYPE_F32,
        flash_attn=False,
        verbose=False,
    )
    vocab = llm.n_vocab()

    def last_logits():
        ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        return np.array(np.ctypeslib.as_array(ptr, shape=(vocab,)), dtype=np.float32)

    for token in prompt:
        llm.eval([token])
    generated, rows = [], []
    for step in range(steps):
        row = last_logits()
        rows.append([float(x) for x in row])
        token = int(np.argmax(row))
        generated.append(token)
        if step + 1 < steps:
            llm.eval([token])
    out = {
        "llama_cpp_python": llama_cpp.__version__,
        "vocab_size": vocab,
        "generated": generated,
        "logits": rows,
    }
    if text is not None:
        out["tokens"] = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
