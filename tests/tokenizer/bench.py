#!/usr/bin/env python3
"""Single-thread encode speed of Hugging Face `tokenizers` and `tiktoken` on
the parity corpus (the whole corpus as one string, best of 3), to compare
with engine/examples/tokenizer_bench.rs:
    python3 tests/tokenizer/bench.py target/tmp/tokenizer-parity
tiktoken's GPT-2 encoding is built offline from encoder.json's ranks.
"""
import json
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import tiktoken  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

BYTES = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))


def byte_decoder():
    chars = BYTES[:]
    n = 0
    full = BYTES[:]
    for b in range(256):
        if b not in BYTES:
            full.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(full, chars)}


def best(f, text):
    out = None
    t = float("inf")
    for _ in range(3):
        s = time.perf_counter()
        out = f(text)
        t = min(t, time.perf_counter() - s)
    return t, len(out)


def main():
    work = sys.argv[1]
    with open(os.path.join(work, "corpus.jsonl")) as f:
        lines = [json.loads(l) for l in f]
    text = "".join(lines)
    mb = len(text.encode()) / 1e6
    for name in ["gpt2", "smollm2"]:
        tok = Tokenizer.from_file(os.path.join(work, name + ".json"))
        t, n = best(lambda s: tok.encode(s, add_special_tokens=False).ids, text)
        print(f"tokenizers {name}: {mb:.1f} MB -> {n} tokens, {t:.3} s = {mb / t:.1f} MB/s (one string)")
        t, n = best(lambda ls: tok.encode_batch(ls, add_special_tokens=False), lines)
        print(f"tokenizers {name}: encode_batch of {len(lines)} records, 1 thread: {t:.3} s = {mb / t:.1f} MB/s")
    dec = byte_decoder()
    with open(os.path.join(work, "gpt2", "encoder.json")) as f:
        encoder = json.load(f)
    ranks = {bytes(dec[c] for c in tok): i for tok, i in encoder.items() if tok != "<|endoftext|>"}
    pat = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    enc = tiktoken.Encoding("gpt2-offline", pat_str=pat, mergeable_ranks=ranks,
                            special_tokens={"<|endoftext|>": 50256})
    t, n = best(enc.encode_ordinary, text)
    print(f"tiktoken gpt2: {mb:.1f} MB -> {n} tokens, {t:.3f} s = {mb / t:.1f} MB/s")


if __name__ == "__main__":
    main()
