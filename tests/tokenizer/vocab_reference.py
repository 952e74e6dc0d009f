#!/usr/bin/env python3
"""Reference ids for every vocabulary of llama.cpp's tokenizer suite (and
Gemma 3's), for engine/tests/suite/tokenizer_vocabs.rs:

    python3 tests/tokenizer/vocab_reference.py WORKDIR NAME=GGUF ...

WORKDIR holds corpus.jsonl (one JSON string per line). For each NAME this
writes, from the GGUF's tokenizer.ggml.* values (read with `gguf`):
  NAME.json                   a Hugging Face tokenizer.json built from them
                              (where `tokenizers` can express the vocabulary)
  hf_NAME.jsonl               `tokenizers`' ids for each line
  llama-spm-{first,split}.json, hf_llama-spm-{first,split}.jsonl
                              the same with a Metaspace pre-tokenizer
  llamacpp_NAME.jsonl         llama.cpp's ids (llama-cpp-python, vocab only)
all with special tokens as plain text (user-defined tokens still matched),
as llama.cpp's own suite encodes. Any missing tool is an error (exit status
1), never a skip.

The tokenizer.json files follow how Hugging Face writes these models:
byte-level BPE with the pre-tokenizer regexes of the model's own
tokenizer.json; SentencePiece vocabularies as BPE with byte fallback, whose
merges come from the scores (every split of a token into two tokens, ranked
by the token's score, as `transformers` converts them).
"""
import json
import multiprocessing
import os
import sys
import threading

try:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
except ImportError:
    sys.exit("vocab_reference.py: the Python package `tokenizers` is missing (pip install tokenizers)")
try:
    from gguf import GGUFReader
except ImportError:
    sys.exit("vocab_reference.py: the Python package `gguf` is missing (pip install gguf)")

GPT2 = None  # ByteLevel(use_regex=True)
LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN35 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
DIGITS = "digits"  # Digits(individual) then ByteLevel(use_regex=True)

# The pre-tokenizer of each byte-level vocabulary, as its tokenizer.json has
# it: None (GPT-2's ByteLevel), DIGITS, or a list of Split regexes.
BYTE_LEVEL = {
    "gpt-2": GPT2,
    "mpt": GPT2,
    "llama-bpe": [LLAMA3],
    "qwen2": [QWEN2],
    "qwen35": [QWEN35],
    "starcoder": DIGITS,
    "refact": DIGITS,
    "command-r": DIGITS,
    "deepseek-coder": [
        r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+", r"\p{N}",
    ],
}
DEEPSEEK_LLM = "deepseek-llm"
FALCON = "falcon"
BYTE_LEVEL[DEEPSEEK_LLM] = [
    r"[\r\n]",
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af"
    "\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5"
    "\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba"
    "\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45"
    "\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe"
    "\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc"
    "\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3"
    "\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06"
    "\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3"
    "\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df"
    "\U0001e900-\U0001e943]+",
    "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
    r"\s+$",
    "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
    r"\p{N}+",
]
BYTE_LEVEL[FALCON] = FALCON  # Punctuation, ByteLevel, Digits, Split(3 digits)
IGNORE_MERGES = {"llama-bpe"}


def read(path):
    r = GGUFReader(path)

    def field(key):
        return r.fields.get(key)

    def strings(key):
        f = field(key)
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data] if f else []

    def scalar(key):
        f = field(key)
        return None if f is None else f.parts[f.data[0]].tolist()[0]

    def array(key):
        f = field(key)
        return None if f is None else [f.parts[i].tolist()[0] for i in f.data]

    model = bytes(field("tokenizer.ggml.model").parts[field("tokenizer.ggml.model").data[0]]).decode()
    return {
        "model": model,
        "tokens": strings("tokenizer.ggml.tokens"),
        "types": array("tokenizer.ggml.token_type"),
        "scores": array("tokenizer.ggml.scores"),
        "merges": strings("tokenizer.ggml.merges"),
        "unk": scalar("tokenizer.ggml.unknown_token_id"),
        "add_space_prefix": scalar("tokenizer.ggml.add_space_prefix"),
    }


def added(tok, v, kind):
    """Adds the tokens of `kind` (3 control, 4 user-defined) as added tokens."""
    tokens = [AddedToken(t, special=(k == 3), normalized=False)
              for t, k in zip(v["tokens"], v["types"]) if k == kind]
    if kind == 3:
        tok.add_special_tokens(tokens)
    else:
        tok.add_tokens(tokens)


def byte_level(name, v):
    vocab = {t: i for i, t in enumerate(v["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in v["merges"]]
    tok = Tokenizer(models.BPE(vocab, merges, ignore_merges=name in IGNORE_MERGES))
    pre = BYTE_LEVEL[name]
    if pre is GPT2:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    elif pre == FALCON:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Punctuation(behavior="contiguous"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            pre_tokenizers.Digits(individual_digits=False),
            pre_tokenizers.Split(Regex("[0-9][0-9][0-9]"), behavior="isolated", invert=False),
        ])
    elif pre == DIGITS:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(p), behavior="isolated", invert=False) for p in pre]
            + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    return tok


def sentencepiece(v):
    tokens, scores, types = v["tokens"], v["scores"], v["types"]
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    # Every way to write a normal token as two tokens, ranked by the
    # token's score (higher first), then by the pieces' ids.
    ranked = []
    for i, t in enumerate(tokens):
        if types[i] != 1 or len(t) < 2:
            continue
        for cut in range(1, len(t)):
            a, b = t[:cut], t[cut:]
            if a in vocab and b in vocab:
                ranked.append((-scores[i], vocab[a], vocab[b], a, b))
    ranked.sort()
    merges = [(a, b) for _, _, _, a, b in ranked]
    unk = tokens[v["unk"]] if v["unk"] is not None else None
    tok = Tokenizer(models.BPE(vocab, merges, unk_token=unk, fuse_unk=True, byte_fallback=True))
    steps = []
    if v["add_space_prefix"] is None or v["add_space_prefix"]:
        steps.append(normalizers.Prepend("▁"))
    steps.append(normalizers.Replace(" ", "▁"))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([
        decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0),
    ])
    return tok


def metaspace_variants(tok):
    """The same SentencePiece vocabulary as older tokenizer.json files write
    it: a Metaspace pre-tokenizer in place of the Prepend/Replace
    normalizers, once prepending at the start only (whole text), once before
    every word (split at each space)."""
    variants = {}
    for suffix, scheme, split in [("first", "first", False), ("split", "always", True)]:
        t = Tokenizer.from_str(tok.to_str())
        t.normalizer = None
        t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme, split=split)
        variants[suffix] = t
    return variants


def write(path, id_lists):
    with open(path, "w") as out:
        for ids in id_lists:
            out.write(json.dumps(ids, separators=(",", ":")))
            out.write("\n")


def reference(job):
    """Writes one vocabulary's files (runs in a worker process)."""
    work, lines, name, path = job
    from llama_cpp import Llama
    v = read(path)
    tok = None
    if v["model"] == "gpt2" and name in BYTE_LEVEL:
        tok = byte_level(name, v)
    elif v["model"] == "llama":
        tok = sentencepiece(v)
    if tok is not None:
        # Control tokens as plain text: leave them out of the added tokens
        # while encoding (`encode_special_tokens` would drop the
        # user-defined ones too), and put them in the saved file.
        added(tok, v, 4)
        write(os.path.join(work, f"hf_{name}.jsonl"),
              [e.ids for e in tok.encode_batch(lines, add_special_tokens=False)])
        added(tok, v, 3)
        tok.save(os.path.join(work, f"{name}.json"))
        if name == "llama-spm":
            for suffix, t in metaspace_variants(tok).items():
                t.save(os.path.join(work, f"{name}-{suffix}.json"))
                t.encode_special_tokens = True  # llama-spm has no user-defined tokens
                write(os.path.join(work, f"hf_{name}-{suffix}.jsonl"),
                      [e.ids for e in t.encode_batch(lines, add_special_tokens=False)])
    llm = Llama(model_path=path, vocab_only=True, verbose=False)
    ids = []

    def run():
        ids.extend(llm.tokenize(l.encode("utf-8"), add_bos=False, special=False) if l else []
                   for l in lines)

    # llama.cpp runs most pre-tokenizer patterns on std::regex, which
    # recurses once per character: a long line needs a deep stack.
    threading.stack_size(1 << 30)
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if len(ids) != len(lines):
        raise RuntimeError(f"llama.cpp failed on {name}")
    write(os.path.join(work, f"llamacpp_{name}.jsonl"), ids)
    return name


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: vocab_reference.py WORKDIR NAME=GGUF ...")
    work = sys.argv[1]
    with open(os.path.join(work, "corpus.jsonl")) as f:
        lines = [json.loads(l) for l in f]
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        sys.exit("vocab_reference.py: the Python package `llama-cpp-python` is missing")
    jobs = [(work, lines, *arg.split("=", 1)) for arg in sys.argv[2:]]
    # One vocabulary per core, each single-threaded.
    os.environ["RAYON_NUM_THREADS"] = "1"
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        for name in pool.imap_unordered(reference, jobs):
            print(f"{name}: done", file=sys.stderr)


if __name__ == "__main__":
    main()
