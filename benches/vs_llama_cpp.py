#!/usr/bin/env python3
"""Monologue against llama.cpp on the same GGUF, in the same run, with the
same thread count: prefill (pp512) and decode (tg128) tokens per second,
load time and peak resident memory, and decode against the memory-bandwidth
limit (model bytes read per token / the read bandwidth `monologue bench
kernels` measures).

llama.cpp comes from llama-cpp-python (scripts/setup.sh --tests builds it).
Its decode loop feeds one token per `llama_decode` call, like llama-bench's
tg test; Python adds a few microseconds per token (well under 1%).

    python3 benches/vs_llama_cpp.py [--model PATH] [--threads N] [--runs R] [--busy]

--busy keeps one core busy with a spinning process (as a browser or a build
would) for the whole run, so that both engines are measured on a shared
machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MONOLOGUE = os.path.join(ROOT, "target", "release", "monologue")
DEFAULT_MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
PROMPT_TOKENS, GEN_TOKENS = 512, 128

# Runs in a child process, so that a crash in llama.cpp (its AMX weight
# repacking crashes batched decoding on some Xeons) is reported, not fatal.
LLAMA_CPP_CHILD = r"""
import json, resource, statistics, sys, time
import llama_cpp
from llama_cpp import Llama
model, threads, runs, extra, n_prompt, n_gen = sys.argv[1:7]
threads, runs, n_prompt, n_gen = int(threads), int(runs), int(n_prompt), int(n_gen)
if extra == "off":
    default = llama_cpp.llama_model_default_params
    def without_extra_buffers():
        p = default()
        p.use_extra_bufts = False
        return p
    llama_cpp.llama_model_default_params = without_extra_buffers
    llama_cpp.llama.llama_cpp.llama_model_default_params = without_extra_buffers
start = time.perf_counter()
llm = Llama(model_path=model, n_ctx=n_prompt + n_gen + 8, n_batch=n_prompt, n_ubatch=n_prompt,
            n_threads=threads, n_threads_batch=threads, verbose=False)
load_ms = (time.perf_counter() - start) * 1e3
vocab = llm.n_vocab()
tokens = [(i * 2654435761 + 12345) % vocab for i in range(n_prompt + n_gen + 1)]

def prefill():
    llm.reset()
    t = time.perf_counter()
    llm.eval(tokens[:n_prompt])
    return time.perf_counter() - t

def decode():
    llm.reset()
    llm.eval(tokens[:1])
    t = time.perf_counter()
    for tok in tokens[1:n_gen + 1]:
        llm.eval([tok])
    return time.perf_counter() - t

# Decode first and report it at once: batched prefill is what crashes.
decode()
tg = statistics.median(decode() for _ in range(runs))
print(json.dumps({"decode_tok_s": n_gen / tg, "load_ms": load_ms,
                  "version": llama_cpp.__version__}), flush=True)
prefill()
pp = statistics.median(prefill() for _ in range(runs))
print(json.dumps({"prefill_tok_s": n_prompt / pp,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def llama_cpp_child(model, threads, runs, extra):
    child = subprocess.run(
        [sys.executable, "-c", LLAMA_CPP_CHILD, model, str(threads), str(runs), extra,
         str(PROMPT_TOKENS), str(GEN_TOKENS)],
        capture_output=True, text=True)
    result = {}
    for line in child.stdout.splitlines():
        result.update(json.loads(line))
    return child.returncode, result


def llama_cpp(model, threads, runs):
    """llama.cpp at its best: with its extra buffer types (weight repacking,
    AMX) where they work; where batched decoding crashes with them, the
    prefill number comes from a second run without."""
    code, result = llama_cpp_child(model, threads, runs, "on")
    result["settings"] = "extra buffer types on"
    if code != 0:
        print(f"llama.cpp exited with {code} in batched prefill; measuring prefill again "
              "without extra buffer types", file=sys.stderr)
        code, retry = llama_cpp_child(model, threads, runs, "off")
        if code != 0 or "decode_tok_s" not in result:
            sys.exit("llama.cpp did not run")
        result["prefill_tok_s"] = retry["prefill_tok_s"]
        result["peak_rss_mb"] = retry["peak_rss_mb"]
        result["settings"] = "decode with extra buffer types, prefill without (it crashes with them here)"
    return result


def monologue(args):
    out = subprocess.run([MONOLOGUE, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--busy", action="store_true",
                        help="keep one core busy with a spinning process while measuring")
    args = parser.parse_args()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        compare(args)
    finally:
        if busy:
            busy.kill()


def compare(args):

    ours = monologue(["bench", "--model", args.model, "--threads", str(args.threads),
                      "--runs", str(args.runs), "--prompt-tokens", str(PROMPT_TOKENS),
                      "--gen-tokens", str(GEN_TOKENS), "--json"])
    theirs = llama_cpp(args.model, args.threads, args.runs)
    kernels = monologue(["bench", "kernels", "--threads", str(args.threads), "--json"])
    bandwidth = kernels["read_bandwidth_gbps"]
    model_gb = os.path.getsize(args.model) / 1e9  # every weight is read once per token
    limit = bandwidth / model_gb

    print(f"model {os.path.basename(args.model)}, {args.threads} threads, "
          f"llama-cpp-python {theirs['version']} ({theirs['settings']}), "
          f"median of {args.runs} runs" + (", one core kept busy" if args.busy else ""))
    print()
    print("| metric | monologue | llama.cpp | ratio |")
    print("|--------|----------:|----------:|------:|")
    for key, label, better in [
        ("prefill_tok_s", f"prefill pp{PROMPT_TOKENS} (tok/s)", "higher"),
        ("decode_tok_s", f"decode tg{GEN_TOKENS} (tok/s)", "higher"),
        ("load_ms", "load (ms)", "lower"),
        ("peak_rss_mb", "peak resident memory (MB)", "lower"),
    ]:
        a, b = ours[key], theirs[key]
        ratio = a / b if better == "higher" else b / a
        print(f"| {label} | {a:.1f} | {b:.1f} | {ratio:.2f}x |")
    print()
    print(f"read bandwidth {bandwidth:.1f} GB/s, model {model_gb * 1e3:.0f} MB read per token: "
          f"decode limit {limit:.0f} tok/s; monologue at {100 * ours['decode_tok_s'] / limit:.0f}%, "
          f"llama.cpp at {100 * theirs['decode_tok_s'] / limit:.0f}% of it")
    print("(ratio > 1 means monologue is better; llama.cpp's memory includes the Python interpreter)")


if __name__ == "__main__":
    main()
