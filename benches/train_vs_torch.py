#!/usr/bin/env python3
"""Monologue's training against PyTorch on the CPU, in the same run, with the
same thread count: training tokens per second of one GPT-2-architecture
model (default 6 layers, width 384, 6 heads, sequences of 256, batches of 8,
the byte tokenizer's vocabulary of 257).

Both sides time the same work per optimizer step: forward, cross-entropy,
backward, global-norm gradient clipping at 1.0 and an AdamW update
(betas 0.9/0.95, weight decay 0.1 on matrices). Monologue is the release
binary's `monologue train --json`, which reports each step's tok/s (drawing
the batch is outside it); PyTorch is a nanoGPT-style module in eager mode
(fused scaled_dot_product_attention, tied head, tanh GELU) with
torch.optim.AdamW, timed the same way. The first --warmup steps are left out
of both; the table gives tokens per second of the median remaining step.
The two sides take turns (--rounds of each, alternating), so a stretch of
time when the machine is slower lands on both.

The thread count defaults to the CPUs this process may run on, which is
what the engine's pool takes (std's available_parallelism); it is passed
to both: `monologue train --threads N`, torch.set_num_threads(N). Give
several (`--threads 1,4`) for a row pair each. On a machine shared with
other work, threads that get descheduled stall both sides' barriers;
compare the one-thread rows there.

    pip install torch
    cargo build --release -p monologue-cli
    python3 benches/train_vs_torch.py [--layers 6 --width 384 --heads 6
        --seq 256 --batch 8 --steps 8 --warmup 2 --rounds 3 --threads N[,M...]]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MONOLOGUE = os.path.join(ROOT, "target", "release", "monologue")
VOCAB = 257  # the byte tokenizer: 256 bytes and an end-of-text token


def training_text(min_bytes):
    """The repository's own prose, repeated to at least `min_bytes`."""
    parts = []
    for name in ["README.md", "ARCHITECTURE.md", "DEVELOPERS.md"]:
        path = os.path.join(ROOT, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                parts.append(f.read())
    text = "\n".join(parts) or "The quick brown fox jumps over the lazy dog. "
    return text * (min_bytes // len(text.encode()) + 1)


def monologue(args, threads):
    """Per-step seconds and tokens from `monologue train --json`."""
    tokens = args.batch * args.seq
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "corpus.txt")
        with open(data, "w", encoding="utf-8") as f:
            # Windows are drawn from the training split (90%).
            f.write(training_text(4 * tokens + 65536))
        cmd = [MONOLOGUE, "train", "--json", "--data", data, "--out", os.path.join(tmp, "run"),
               "--tokenizer", "bytes", "--threads", str(threads),
               "--layers", str(args.layers), "--width", str(args.width),
               "--heads", str(args.heads), "--seq", str(args.seq), "--batch", str(args.batch),
               "--steps", str(args.steps), "--warmup", "1", "--eval-every", "0",
               "--save-every", "0"]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"monologue train failed ({out.returncode}):\n{out.stderr}")
    steps = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if len(steps) != args.steps:
        sys.exit(f"monologue printed {len(steps)} steps, not {args.steps}:\n{out.stderr}")
    return [tokens / s["tok_s"] for s in steps]


TORCH_MODEL = r'''
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.mlp_proj = nn.Linear(4 * width, width)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, context, layers, width, heads):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.h = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids, targets):
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(T))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T  # the tied head
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
'''


def torch_steps(args, threads):
    """Per-step seconds of the same model and update in PyTorch."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(1337)
    scope = {}
    exec(TORCH_MODEL, scope)
    model = scope["GPT"](VOCAB, args.seq, args.layers, args.width, args.heads)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    times = []
    for _ in range(args.steps):
        ids = torch.randint(0, VOCAB, (args.batch, args.seq))
        targets = torch.randint(0, VOCAB, (args.batch, args.seq))
        start = time.perf_counter()
        loss = model(ids, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return times, torch.__version__


def tok_s(tokens, seconds):
    """Tokens per second of the median step (robust to a step slowed by
    another process on a shared machine)."""
    return tokens / statistics.median(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8, help="steps run on each side")
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out")
    parser.add_argument("--rounds", type=int, default=3,
                        help="turns each side takes, alternating")
    parser.add_argument("--threads", default=str(len(os.sched_getaffinity(0))),
                        help="thread counts, comma-separated (e.g. 1,4)")
    args = parser.parse_args()
    if args.steps <= args.warmup:
        sys.exit("--steps must exceed --warmup")
    if not os.path.exists(MONOLOGUE):
        sys.exit(f"{MONOLOGUE} is missing: cargo build --release -p monologue-cli")

    tokens = args.batch * args.seq
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours += monologue(args, threads)[args.warmup:]
            times, version = torch_steps(args, threads)
            theirs += times[args.warmup:]
        rows.append((threads, tok_s(tokens, ours), tok_s(tokens, theirs)))

    w, l = args.width, args.layers
    params = VOCAB * w + args.seq * w + l * (12 * w * w + 13 * w) + 2 * w
    print(f"GPT {l} layers, width {w}, {args.heads} heads, vocabulary {VOCAB} "
          f"({params / 1e6:.1f} M parameters), batch {args.batch} × seq {args.seq} = "
          f"{tokens} tokens per step; median of {args.rounds} rounds × "
          f"{args.steps - args.warmup} steps after {args.warmup} warm-up, the sides "
          f"alternating; torch {version} (eager)")
    print()
    print("| implementation | threads | tok/s | ratio |")
    print("|----------------|--------:|------:|------:|")
    for threads, ours, theirs in rows:
        print(f"| monologue | {threads} | {ours:.0f} | {ours / theirs:.2f} |")
        print(f"| pytorch | {threads} | {theirs:.0f} | 1.00 |")
    print()
    print("(ratio: tok/s against PyTorch's at the same thread count; > 1 means monologue "
          "trains faster)")


if __name__ == "__main__":
    main()
