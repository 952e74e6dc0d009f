#!/usr/bin/env python3
"""Record what Hugging Face `transformers` computes on the GPT our trainer
made, tests/fixtures/train/tiny-gpt/, for engine/tests/suite/train_export.rs.

The folder is a checkpoint exactly as `monologue train` saved it
(config.json, model.safetensors, tokenizer.json; the optimizer state and
training.json left out); tests/fixtures/train/README.md has the command.
`GPT2LMHeadModel.from_pretrained` loads it with no conversion. We record,
in tests/fixtures/train/tiny-gpt-hf-logits.json:

  text, ids       the input, and its ids from the fixture's tokenizer.json
  logits          [T, vocab]: one forward over the ids
  greedy_prompt   token ids
  greedy          16 greedy tokens (argmax, one full forward per step)
  greedy_margin   for each greedy step, top-1 minus top-2 logit

Needs torch, transformers and tokenizers (CPU, f32, one thread):

    pip install torch transformers tokenizers
    python3 tests/reference/train_export_hf.py
"""

import json
import pathlib

import torch
import transformers
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "train"
MODEL = FIXTURES / "tiny-gpt"
TEXT = "To be, or not to"
GREEDY_PROMPT = "To be, or"
GREEDY = 16


def encode(text):
    """The fixture's own tokenizer.json, run by Hugging Face `tokenizers`."""
    return Tokenizer.from_file(str(MODEL / "tokenizer.json")).encode(text).ids


def main():
    torch.set_num_threads(1)
    model = GPT2LMHeadModel.from_pretrained(MODEL, torch_dtype=torch.float32).eval()
    ids = encode(TEXT)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
        # Greedy by hand (a full forward per step), so that nothing in
        # `generate` (end-of-text handling, logits processors) intervenes.
        prompt = encode(GREEDY_PROMPT)
        seq, greedy, margins = list(prompt), [], []
        for _ in range(GREEDY):
            row = model(torch.tensor([seq])).logits[0, -1]
            top = torch.topk(row, 2)
            greedy.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
            seq.append(greedy[-1])
    record = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "text": TEXT,
        "ids": ids,
        # 8 significant digits: f32 to within 1e-7 relative, far below the
        # test's tolerance.
        "logits": [[float(f"{x:.8g}") for x in row.tolist()] for row in logits],
        "greedy_prompt": prompt,
        "greedy": greedy,
        "greedy_margin": [round(m, 6) for m in margins],
    }
    (FIXTURES / "tiny-gpt-hf-logits.json").write_text(json.dumps(record) + "\n")
    print(f"{len(ids)} positions, greedy {greedy}, least margin {min(margins):.3f}")


if __name__ == "__main__":
    main()
