#!/usr/bin/env python3
"""Build tests/fixtures/train/peft-llama/: a LoRA adapter written by the
engine, and the logits Hugging Face `peft` computes with it, for
engine/tests/suite/train_lora.rs (`peft` must load our adapter onto the
base model and compute what the engine computes).

The adapter comes from the engine's own command line: `monologue finetune
--lora-rank 4` for a few steps on llama.cpp's GGUF copy of the tiny
`llama` fixture (a GGUF `llama` file: its query and key rows are in
llama.cpp's order, which the adapter must undo for Hugging Face). Its
folder is copied here with `base_model_name_or_path` pointing at the
Hugging Face fixture, relative to the folder. `peft` then loads it with
`PeftModel.from_pretrained` onto `AutoModelForCausalLM` of that fixture
(float64, eager attention), and the logits of a few token sequences go to
`peft_logits.json`.

Run from the repository root after `cargo build --release` (needs torch,
transformers, peft):

    python3 tests/reference/peft_adapter.py
"""

import json
import os
import shutil
import subprocess
import tempfile

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HF = os.path.join(ROOT, "tests", "fixtures", "hf", "llama")
OUT = os.path.join(ROOT, "tests", "fixtures", "train", "peft-llama")
INPUTS = [[5, 17, 99, 3, 250, 41, 7, 7, 180, 64, 2, 31], [1, 2, 3, 4, 5, 6, 7, 8]]


def train_adapter(work):
    data = os.path.join(work, "chats.jsonl")
    with open(data, "w") as f:
        for q, a in [("Say hello.", "hello there"), ("Name a colour.", "blue"), ("Count.", "1 2 3")]:
            f.write(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n")
    run = os.path.join(work, "run")
    subprocess.run(
        [os.path.join(ROOT, "target", "release", "monologue"), "finetune",
         "--model", os.path.join(HF, "llama_cpp.gguf"), "--data", data, "--out", run,
         "--lora-rank", "4", "--lora-alpha", "8", "--lr", "2e-2", "--steps", "6",
         "--batch", "1", "--seq", "128", "--validation", "0", "--json", "--threads", "1"],
        check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(run, "latest")) as f:
        return os.path.join(run, f.read().strip())


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as work:
        step = train_adapter(work)
        shutil.rmtree(OUT, ignore_errors=True)
        os.makedirs(OUT)
        for name in ["adapter_config.json", "adapter_model.safetensors"]:
            shutil.copy(os.path.join(step, name), OUT)
    path = os.path.join(OUT, "adapter_config.json")
    with open(path) as f:
        config = json.load(f)
    config["base_model_name_or_path"] = os.path.relpath(HF, OUT)
    with open(path, "w") as f:
        json.dump(config, f, indent=2)

    base = AutoModelForCausalLM.from_pretrained(HF, attn_implementation="eager", dtype=torch.float32)
    model = PeftModel.from_pretrained(base, OUT).double().eval()
    plain = AutoModelForCausalLM.from_pretrained(HF, attn_implementation="eager", dtype=torch.float32).double().eval()
    cases = []
    with torch.no_grad():
        for ids in INPUTS:
            x = torch.tensor([ids])
            logits = model(input_ids=x).logits[0].float()
            moved = (logits - plain(input_ids=x).logits[0].float()).abs().max().item()
            cases.append({"ids": ids, "logits": logits.flatten().tolist(), "moved": moved})
    with open(os.path.join(OUT, "peft_logits.json"), "w") as f:
        json.dump({"about": "made by tests/reference/peft_adapter.py", "cases": cases}, f)
    print("adapter moved the logits by", [round(c["moved"], 4) for c in cases])


if __name__ == "__main__":
    main()
