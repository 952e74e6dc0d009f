#!/usr/bin/env python3
"""A random-weight GGUF in a real model's shapes, quantized by llama.cpp, for
speed benchmarks: decode speed depends on the shapes and the block formats,
not on what the weights say.

    python3 benches/random_model.py [--shape llama-3.2-1b] [--type Q4_K_M] [--out PATH]

Writes an F16 GGUF with the `gguf` package (random normal weights, scale
0.02; norms of ones), borrowing SmolLM2's tokenizer so that both engines can
load it, padded with unreachable tokens to the real model's vocabulary size so
that the output matrix has its real size. llama.cpp's own quantizer
(`llama_model_quantize` from llama-cpp-python, the code behind
`llama-quantize`) then turns it into the mix it would give a user: Q4_K_M
puts Q6_K on the output and on half of attn_v/ffn_down, Q4_K elsewhere.

Then: python3 benches/vs_llama_cpp.py --model PATH
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZER_SOURCE = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")

# name: (embedding, layers, heads, kv heads, feed-forward, vocabulary, rope base)
SHAPES = {
    "llama-3.2-1b": (2048, 16, 32, 8, 8192, 128256, 500000.0),
    "llama-3.2-3b": (3072, 28, 24, 8, 8192, 128256, 500000.0),
}


def borrowed_tokenizer(vocab_size):
    """SmolLM2's tokenizer fields, its token list padded to `vocab_size`."""
    from gguf import GGUFReader

    reader = GGUFReader(TOKENIZER_SOURCE)
    fields = {}
    for name, field in reader.fields.items():
        if name.startswith("tokenizer.ggml."):
            fields[name] = field
    tokens = [bytes(fields["tokenizer.ggml.tokens"].parts[i]).decode("utf-8")
              for i in fields["tokenizer.ggml.tokens"].data]
    types = [int(fields["tokenizer.ggml.token_type"].parts[i][0])
             for i in fields["tokenizer.ggml.token_type"].data]
    merges = [bytes(fields["tokenizer.ggml.merges"].parts[i]).decode("utf-8")
              for i in fields["tokenizer.ggml.merges"].data]
    special = {}
    for key in ("bos_token_id", "eos_token_id", "padding_token_id", "unknown_token_id"):
        name = "tokenizer.ggml." + key
        if name in fields:
            special[key] = int(fields[name].parts[-1][0])
    # Padding tokens: USER_DEFINED (4) words that no text produces by merges
    # but that the tokenizer still matches whole; their names cannot occur
    # in the benchmark's token ids, which are drawn directly.
    for i in range(len(tokens), vocab_size):
        tokens.append(f"<|pad_{i}|>")
        types.append(4)
    return tokens, types, merges, special


def write_f16(path, shape_name, seed):
    import gguf

    n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, rope_base = SHAPES[shape_name]
    head_dim = n_embd // n_head
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(f"random {shape_name}")
    writer.add_context_length(8192)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(rope_base)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    tokens, types, merges, special = borrowed_tokenizer(n_vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for key, value in special.items():
        getattr(writer, "add_" + key.replace("padding", "pad").replace("unknown", "unk"))(value)

    def random(rows, cols):
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)

    # Tied embeddings, as Llama 3.2 1B/3B have: token_embd is also the output.
    writer.add_tensor("token_embd.weight", random(n_vocab, n_embd))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    kv = n_head_kv * head_dim
    for i in range(n_layer):
        p = f"blk.{i}."
        writer.add_tensor(p + "attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(p + "attn_q.weight", random(n_embd, n_embd))
        writer.add_tensor(p + "attn_k.weight", random(kv, n_embd))
        writer.add_tensor(p + "attn_v.weight", random(kv, n_embd))
        writer.add_tensor(p + "attn_output.weight", random(n_embd, n_embd))
        writer.add_tensor(p + "ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(p + "ffn_gate.weight", random(n_ff, n_embd))
        writer.add_tensor(p + "ffn_up.weight", random(n_ff, n_embd))
        writer.add_tensor(p + "ffn_down.weight", random(n_embd, n_ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def quantize(source, dest, type_name, threads):
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + type_name)
    params.nthread = threads
    status = llama_cpp.llama_model_quantize(source.encode(), dest.encode(), params)
    if status != 0:
        sys.exit(f"error: llama.cpp's quantizer failed ({status})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama-3.2-1b")
    parser.add_argument("--type", default="Q4_K_M", help="a llama.cpp file type, e.g. Q4_K_M, Q5_K_M, Q6_K")
    parser.add_argument("--out", help="default: models/random-SHAPE.TYPE.gguf")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = args.out or os.path.join(ROOT, "models", f"random-{args.shape}.{args.type}.gguf")
    f16 = out + ".f16.tmp"
    write_f16(f16, args.shape, args.seed)
    try:
        quantize(f16, out, args.type, os.cpu_count())
    finally:
        os.remove(f16)
    print(out)


if __name__ == "__main__":
    main()
