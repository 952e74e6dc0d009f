#!/usr/bin/env python3
"""Fine-tuning SmolLM2-135M-Instruct on the CPU: Monologue against PyTorch
eager (+ `peft` for LoRA), same threads, same run. Tokens per second of the
median timed step, and each process's peak resident memory.

The data is the worked example's: addition traces in a <think> section
(`monologue finetune --task addition` writes them; here they are written
to a JSON-lines file both sides read), packed into rows of --seq tokens,
--batch rows per step. Both sides train from the same file, the default
model's Q4_1 GGUF: PyTorch loads it through transformers' GGUF reader,
which widens every weight to f32; Monologue fine-tunes every weight in f32
(`--lora-rank 0`), or with LoRA keeps the base in its Q4_1 blocks (its
forward and input gradient through the quantized kernels) where PyTorch's
base is f32. LoRA: rank 16, alpha 32, every projection of every block, no
dropout. Each step is forward, cross-entropy on the assistant's tokens,
backward, clipping at 1.0 and AdamW.

PyTorch packs the same way (several conversations per row, positions
restarting and attention kept inside each) through transformers'
`position_ids` with flash-style varlen attention where available; where
not (CPU eager), it concatenates without a mask, which only flatters it.

    pip install torch transformers peft gguf
    cargo build --release -p monologue-cli
    python3 benches/finetune_vs_torch.py [--seq 512 --batch 4 --steps 4 --warmup 1 --threads N]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MONOLOGUE = os.path.join(ROOT, "target", "release", "monologue")
GGUF_DIR = os.path.join(ROOT, "models")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def traces(path, n):
    """Addition traces as Monologue writes them, into `path`."""
    import random

    rng = random.Random(7)
    with open(path, "w") as f:
        for _ in range(n):
            a, b = rng.randint(100, 999), rng.randint(100, 999)
            lines = ["<think>", f"{a} + {b}"]
            carry, da, db = 0, str(a)[::-1], str(b)[::-1]
            for i in range(3):
                s = int(da[i]) + int(db[i]) + carry
                terms = [da[i], db[i]] + (["1"] if carry else [])
                if s >= 10 and i < 2:
                    lines.append(f"{' + '.join(terms)} = {s}, write {s - 10}, carry 1")
                else:
                    lines.append(f"{' + '.join(terms)} = {s}, write {s}")
                carry = int(s >= 10)
            lines += [f"so {a} + {b} = {a + b}", "</think>", str(a + b)]
            msg = [{"role": "user", "content": f"What is {a} + {b}?"},
                   {"role": "assistant", "content": "\n".join(lines)}]
            f.write(json.dumps({"messages": msg}) + "\n")


def ours(args, data, lora):
    cmd = [MONOLOGUE, "finetune", "--model", os.path.join(GGUF_DIR, GGUF), "--data", data,
           "--seq", str(args.seq), "--batch", str(args.batch), "--steps", str(args.steps + args.warmup),
           "--validation", "0", "--eval-every", "0", "--json", "--threads", str(args.threads),
           "--lora-rank", "16" if lora else "0", "--save-every", "0"]
    with tempfile.TemporaryDirectory() as out:
        cmd += ["--out", out]
        run = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, check=True)
    steps = [json.loads(l) for l in run.stdout.splitlines()]
    rss = [l for l in run.stderr.splitlines() if "Maximum resident" in l]
    peak = int(rss[0].split()[-1]) / 1024 if rss else float("nan")
    return statistics.median(s["tok_s"] for s in steps[args.warmup:]), peak


def theirs(args, data, lora):
    """Runs in a child process so that its peak memory is its own."""
    code = f"""
import json, statistics, time, resource, torch
torch.set_num_threads({args.threads})
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained({GGUF_DIR!r}, gguf_file={GGUF!r})
model = AutoModelForCausalLM.from_pretrained({GGUF_DIR!r}, gguf_file={GGUF!r}, dtype=torch.float32)
if {lora}:
    from peft import LoraConfig, get_peft_model
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
        target_modules=["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"]))
model.train()
rows, cur = [], []
for line in open({data!r}):
    msgs = json.loads(line)["messages"]
    prompt = tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(msgs, tokenize=False)
    p, f = tok(prompt)["input_ids"], tok(full)["input_ids"]
    labels = [-100] * len(p) + f[len(p):]
    if len(cur) + len(f) > {args.seq}:
        rows.append(cur); cur = []
    cur = cur + list(zip(f, labels, range(len(f))))
rows.append(cur)
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
times = []
for step in range({args.steps + args.warmup}):
    batch = [rows[(step * {args.batch} + i) % len(rows)] for i in range({args.batch})]
    pad = lambda r: r + [(0, -100, 0)] * ({args.seq} - len(r))
    batch = [pad(r) for r in batch]
    ids = torch.tensor([[t for t, _, _ in r] for r in batch])
    labels = torch.tensor([[l for _, l, _ in r] for r in batch])
    pos = torch.tensor([[q for _, _, q in r] for r in batch])
    t0 = time.perf_counter()
    logits = model(input_ids=ids, position_ids=pos).logits
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step(); opt.zero_grad(set_to_none=True)
    times.append(time.perf_counter() - t0)
tok_s = [{args.batch} * {args.seq} / t for t in times[{args.warmup}:]]
print(json.dumps({{"tok_s": statistics.median(tok_s), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(run.stderr[-2000:])
    out = json.loads(run.stdout.strip().splitlines()[-1])
    return out["tok_s"], out["peak_mb"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "traces.jsonl")
        traces(data, 400)
        print(f"SmolLM2-135M-Instruct, rows of {args.seq} tokens, batch {args.batch}, {args.threads} threads, median of {args.steps} steps")
        print("| mode | Monologue tok/s | PyTorch tok/s | ratio | Monologue peak MB | PyTorch peak MB |")
        print("|---|---|---|---|---|---|")
        for name, lora in [("full (f32, AdamW)", False), ("LoRA r=16", True)]:
            (a, am), (b, bm) = ours(args, data, lora), theirs(args, data, lora)
            print(f"| {name} | {a:.0f} | {b:.0f} | {a / b:.2f}x | {am:.0f} | {bm:.0f} |", flush=True)


if __name__ == "__main__":
    main()
