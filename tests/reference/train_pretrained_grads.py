#!/usr/bin/env python3
"""Build tests/fixtures/train/pretrained/<name>.safetensors: one training
step's forward and backward pass of each tiny Hugging Face fixture under
tests/fixtures/hf/, computed by `transformers` itself, for
engine/tests/suite/train_pretrained.rs (fine-tuning a pretrained model
through the engine's tape must give these gradients).

Each model is loaded with `AutoModelForCausalLM.from_pretrained` from its
fixture folder, eager attention, then converted to float64 (its f32 weights
widen exactly). One batch of 2 sequences of 12 random tokens (longer than
the sliding windows of 8 in mistral and gemma3, so windows matter) runs
forward; the loss is the mean cross-entropy of the logits against the
targets (the next token; two positions are -1, not scored), written out
here rather than through the model's `labels`, so that the convention is
the engine's: one target per position. Backward gives every parameter's
gradient, rounded to f32 at the end: the fixture is the exact answer to
f32 precision.

The file holds, f32 unless noted:

  ids            I32 [batch, seq]
  targets        I32 [batch, seq]; -1 is not scored
  logits         [batch * seq, vocab]
  loss           [1]
  grad.<name>    d loss / d parameter, under the parameter's name in the
                 checkpoint (a tied head has no name of its own: its
                 gradient is inside the embedding's)

Run from the repository root (needs torch, transformers, safetensors):

    python3 tests/reference/train_pretrained_grads.py [NAME ...]
"""

import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = ["llama", "llama3", "mistral", "phi3", "qwen2", "qwen3", "qwen3-yarn", "gemma3"]
BATCH, SEQ = 2, 12


def build(name):
    src = os.path.join(ROOT, "tests", "fixtures", "hf", name)
    model = AutoModelForCausalLM.from_pretrained(
        src, attn_implementation="eager", dtype=torch.float32
    )
    model = model.double().eval()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    ids = torch.randint(0, vocab, (BATCH, SEQ + 1), generator=g)
    inputs, targets = ids[:, :-1].clone(), ids[:, 1:].clone()
    targets[0, 3] = -1
    targets[1, SEQ - 1] = -1
    logits = model(input_ids=inputs).logits.reshape(BATCH * SEQ, vocab)
    loss = F.cross_entropy(logits, targets.reshape(-1), ignore_index=-1)
    loss.backward()
    out = {
        "ids": inputs.to(torch.int32).contiguous(),
        "targets": targets.to(torch.int32).contiguous(),
        "logits": logits.detach().float().contiguous(),
        "loss": loss.detach().float().reshape(1),
    }
    for pname, p in model.named_parameters():
        out["grad." + pname] = p.grad.float().contiguous()
    dst = os.path.join(ROOT, "tests", "fixtures", "train", "pretrained", name + ".safetensors")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    save_file(out, dst, metadata={"torch": torch.__version__})
    print(f"{name}: loss {loss.item():.6f}, {len(out) - 4} gradients -> {os.path.relpath(dst, ROOT)}")


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    for name in sys.argv[1:] or NAMES:
        build(name)


if __name__ == "__main__":
    main()
