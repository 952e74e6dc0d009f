#!/usr/bin/env python3
"""Tokenizer encode speed, ours against Hugging Face `tokenizers` and
`tiktoken`, in one run on the parity corpus (which the tokenizer tests build
in target/tmp/):

    cargo test --release -p monologue --test suite -- tokenizer_parity:: tokenizer_vocabs::   # once
    python3 benches/tokenizer.py [WORK_DIR]

Byte-level BPE: GPT-2 and SmolLM2. SentencePiece: Llama 2's vocabulary
(llama.cpp's `llama-spm`) and Gemma 3's, ours from the GGUF (score merging)
and `tokenizers` from the tokenizer.json the vocabulary test builds from the
same GGUF (BPE with byte fallback, as Hugging Face ships these models).

Single-thread rows encode the whole corpus as one string; batch rows encode
its records as a batch. Every implementation matches special-token strings
(as `tokenizers` always does), so all rows of one tokenizer and kind must
count the same tokens: the token column shows that like is raced with like.
tiktoken's GPT-2 encoding is built offline from encoder.json's ranks.
"""
import json
import os
import subprocess
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import tiktoken  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MONOLOGUE = os.path.join(ROOT, "target", "release", "monologue")
THREADS = min(os.cpu_count() or 1, 8)
# GPT-2's byte-to-character table, to turn encoder.json keys into bytes.
PRINTABLE = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))


def byte_decoder():
    shown = PRINTABLE[:]
    order = PRINTABLE[:]
    extra = 0
    for b in range(256):
        if b not in PRINTABLE:
            order.append(b)
            shown.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(order, shown)}


def best_of(runs, f, arg):
    seconds, out = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        out = f(arg)
        seconds = min(seconds, time.perf_counter() - start)
    return seconds, out


def ours(model, records, threads, batch):
    args = [MONOLOGUE, "bench", "tokenizer", "--model", model, "--input", records, "--jsonl",
            "--special", "--threads", str(threads), "--json"] + (["--batch"] if batch else [])
    r = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    return r["mb_per_s"], r["tokens"]


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "tmp", "tokenizer-parity")
    with open(os.path.join(work, "corpus.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    text = "".join(lines)
    corpus = os.path.join(work, "corpus.jsonl")
    mb = len(text.encode()) / 1e6
    rows = []
    vocabs = os.path.join(os.path.dirname(work), "tokenizer-vocabs")
    gguf = {
        "llama-spm": os.path.join(ROOT, "models", "llama.cpp", "models", "ggml-vocab-llama-spm.gguf"),
        "gemma3": os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf"),
    }
    for name in ["gpt2", "smollm2", "llama-spm", "gemma3"]:
        path = os.path.join(work, name + ".json")
        if name in gguf:
            path = os.path.join(vocabs, name + ".json")
        speed, n = ours(gguf.get(name, path), corpus, 1, False)
        rows.append((name, "monologue", "1", speed, n))
        for threads in [1, THREADS]:
            speed, n = ours(gguf.get(name, path), corpus, threads, True)
            rows.append((name, "monologue batch", str(threads), speed, n))
        tok = Tokenizer.from_file(path)
        t, ids = best_of(3, lambda s: tok.encode(s, add_special_tokens=False).ids, text)
        rows.append((name, "tokenizers", "1", mb / t, len(ids)))
        t, out = best_of(3, lambda ls: tok.encode_batch(ls, add_special_tokens=False), lines)
        rows.append((name, "tokenizers batch", "1", mb / t, sum(len(e.ids) for e in out)))
    dec = byte_decoder()
    with open(os.path.join(work, "gpt2", "encoder.json")) as f:
        encoder = json.load(f)
    ranks = {bytes(dec[c] for c in tok): i for tok, i in encoder.items() if tok != "<|endoftext|>"}
    pattern = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    enc = tiktoken.Encoding("gpt2-offline", pat_str=pattern, mergeable_ranks=ranks,
                            special_tokens={"<|endoftext|>": 50256})
    t, ids = best_of(3, lambda s: enc.encode(s, allowed_special="all"), text)
    rows.append(("gpt2", "tiktoken", "1", mb / t, len(ids)))
    t, out = best_of(3, lambda ls: enc.encode_batch(ls, num_threads=THREADS, allowed_special="all"), lines)
    rows.append(("gpt2", "tiktoken batch", str(THREADS), mb / t, sum(map(len, out))))

    print(f"corpus: {mb:.1f} MB, {len(lines)} records\n")
    print("| tokenizer | implementation | threads | MB/s | tokens | monologue, same kind and threads, is |")
    print("|---|---|--:|--:|--:|--:|")
    for name, impl, threads, speed, n in rows:
        kind = "batch" in impl
        base = next(r[3] for r in rows
                     if r[0] == name and r[1].startswith("monologue") and ("batch" in r[1]) == kind and r[2] == threads)
        ratio = "" if impl.startswith("monologue") else f"{base / speed:.1f}× faster"
        print(f"| {name} | {impl} | {threads} | {speed:.1f} | {n} | {ratio} |")


if __name__ == "__main__":
    main()
