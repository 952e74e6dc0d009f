#!/usr/bin/env python3
"""Gemma 3 270M Q4_K_M computed exactly: `transformers` loads the GGUF,
dequantizes every weight to f32 and runs Gemma3ForCausalLM in f32, on the
same token sequences llama_cpp_reference.py recorded from llama.cpp.

Both llama.cpp and Monologue round the activations to 8 bits before each
quantized product (differently); this run does not, so it is the referee
between them. Measured on these prompts, llama.cpp's top-5 logits are a
median 0.16 (max 1.9) from it, and at one position where llama.cpp's top-2
margin is 1.2 the exact computation picks the other token.

For every prompt and generated position it records transformers' own
top-5 (ids, logits, top-2 margin) and its logits at llama.cpp's top-5 ids,
into gemma3_dequantized.json, for engine/tests/suite/llama_cpp_fidelity.rs.

    pip install torch transformers accelerate gguf
    python3 tests/reference/gemma3_dequantized.py
"""

import json
import pathlib
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODEL = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
TOP = 5


def main():
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(
        str(MODEL.parent), gguf_file=MODEL.name, dtype=torch.float32
    ).eval()
    reference = json.loads((HERE / "llama_cpp_gemma3.json").read_text())
    prompts = []
    with torch.no_grad():
        for p in reference["prompts"]:
            tokens = p["prompt_tokens"] + p["generated"][:-1]
            logits = model(torch.tensor([tokens])).logits[0]
            first = len(p["prompt_tokens"]) - 1
            positions = []
            for row, theirs in zip(logits[first:], p["top"]):
                values, ids = torch.topk(row, TOP)
                positions.append(
                    {
                        "ids": [int(i) for i in ids],
                        "logits": [float(v) for v in values],
                        "margin": float(values[0] - values[1]),
                        "at_llama_cpp_top": [float(row[i]) for i in theirs["ids"]],
                    }
                )
            prompts.append({"name": p["name"], "top": positions})
            print(p["name"], file=sys.stderr)
    out = {
        "about": "transformers Gemma3ForCausalLM in f32 on the GGUF's dequantized weights, "
        "teacher-forced on llama_cpp_gemma3.json's tokens (made by gemma3_dequantized.py)",
        "transformers": transformers.__version__,
        "torch": torch.__version__.split("+")[0],
        "prompts": prompts,
    }
    (HERE / "gemma3_dequantized.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
