#!/usr/bin/env python3
"""Build tests/fixtures/train/gpt_grads.safetensors: one forward and backward
pass of a tiny GPT-2 in plain PyTorch, for engine/tests/suite/train_torch_grads.rs
(the whole-model check llm.c's test_gpt2 makes).

The model is written out in torch ops (no `transformers`), as the engine's
`train::gpt::Gpt` builds it: token + position embeddings; per block
x += c_proj(causal_attention(c_attn(ln_1(x)))), x += mlp.c_proj(gelu_tanh(
mlp.c_fc(ln_2(x)))); ln_f; logits = x · wteᵀ (the tied head); LayerNorm eps
1e-5; mean cross-entropy over the targets that are not -1.

The fixture holds, all f32 unless noted:

  <name>        every parameter under the Hugging Face GPT-2 name that
                `Gpt` gives it, in the engine's layout: the four linear
                weights (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj)
                are `[out, in]` like torch.nn.Linear, i.e. the TRANSPOSE of
                Hugging Face's Conv1D `[in, out]`, so the Rust test copies
                every value into the graph as it is
  grad.<name>   d loss / d <name>, same layout
  ids           I32 [batch, seq]
  targets       I32 [batch, seq]; -1 is not scored (the engine's IGNORE)
  logits        [batch · seq, vocab]
  loss          [1]

and the config (vocab, context, layers, width, heads, batch, seq) as
safetensors metadata.

The parameters are drawn as f32 (seeded). LayerNorm weights and every bias
are random too, not 1 and 0, and the matrices are wider than GPT-2's 0.02
so that attention is far from uniform and GELU far from linear: a wrong
term anywhere in a backward pass moves some gradient visibly. Forward and
backward then run in float64 from those f32 values, and the results are
rounded to f32: the fixture is the exact answer to f32 precision, and what
the Rust test sees is the engine's own f32 error. The script also runs the
pass in float32 and prints how far torch's own f32 gradients land from the
f64 ones — the scale of error an f32 implementation is expected to show.

The safetensors file is written by hand (8-byte header length, JSON header,
raw little-endian data), so the only dependency is torch:

    pip install torch
    python3 tests/reference/train_gpt_grads.py

The output is deterministic for a given torch version (CPU, one thread).
"""

import json
import math
import os
import struct

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "train", "gpt_grads.safetensors")

CONFIG = dict(vocab=67, context=16, layers=2, width=32, heads=4)
BATCH, SEQ = 3, 16
SEED = 1234


def param_specs(c):
    """(name, shape, kind) in `Gpt::new`'s order. kind: 'matrix' (normal),
    'gain' (1 + normal, a LayerNorm weight), 'bias' (small normal)."""
    w, f = c["width"], 4 * c["width"]
    specs = [
        ("transformer.wte.weight", [c["vocab"], w], "matrix"),
        ("transformer.wpe.weight", [c["context"], w], "matrix"),
    ]
    for i in range(c["layers"]):
        p = f"transformer.h.{i}."
        specs += [
            (p + "ln_1.weight", [w], "gain"),
            (p + "ln_1.bias", [w], "bias"),
            (p + "attn.c_attn.weight", [3 * w, w], "matrix"),
            (p + "attn.c_attn.bias", [3 * w], "bias"),
            (p + "attn.c_proj.weight", [w, w], "matrix"),
            (p + "attn.c_proj.bias", [w], "bias"),
            (p + "ln_2.weight", [w], "gain"),
            (p + "ln_2.bias", [w], "bias"),
            (p + "mlp.c_fc.weight", [f, w], "matrix"),
            (p + "mlp.c_fc.bias", [f], "bias"),
            (p + "mlp.c_proj.weight", [w, f], "matrix"),
            (p + "mlp.c_proj.bias", [w], "bias"),
        ]
    specs += [
        ("transformer.ln_f.weight", [w], "gain"),
        ("transformer.ln_f.bias", [w], "bias"),
    ]
    return specs


def init_params(c, gen):
    params = {}
    for name, shape, kind in param_specs(c):
        z = torch.randn(shape, generator=gen, dtype=torch.float32)
        if kind == "matrix":
            # std 0.2 for matrices reading the width, 0.1 for the ones
            # reading the 4× wider MLP (their inputs are larger sums).
            std = 0.1 if name.endswith("mlp.c_proj.weight") else 0.2
            params[name] = z * std
        elif kind == "gain":
            params[name] = 1.0 + 0.1 * z
        else:
            params[name] = 0.05 * z
    return params


def forward(P, ids, c):
    """Logits [B·T, vocab] for ids [B, T]."""
    B, T = ids.shape
    C, H = c["width"], c["heads"]
    D = C // H
    x = P["transformer.wte.weight"][ids] + P["transformer.wpe.weight"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(c["layers"]):
        p = f"transformer.h.{i}."
        h = F.layer_norm(x, (C,), P[p + "ln_1.weight"], P[p + "ln_1.bias"], 1e-5)
        qkv = F.linear(h, P[p + "attn.c_attn.weight"], P[p + "attn.c_attn.bias"])
        q, k, v = qkv.split(C, dim=-1)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(D)
        scores = scores.masked_fill(~mask, float("-inf"))
        y = scores.softmax(dim=-1) @ v
        y = y.transpose(1, 2).reshape(B, T, C)
        x = x + F.linear(y, P[p + "attn.c_proj.weight"], P[p + "attn.c_proj.bias"])
        h = F.layer_norm(x, (C,), P[p + "ln_2.weight"], P[p + "ln_2.bias"], 1e-5)
        h = F.gelu(F.linear(h, P[p + "mlp.c_fc.weight"], P[p + "mlp.c_fc.bias"]),
                   approximate="tanh")
        x = x + F.linear(h, P[p + "mlp.c_proj.weight"], P[p + "mlp.c_proj.bias"])
    x = F.layer_norm(x, (C,), P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], 1e-5)
    return (x @ P["transformer.wte.weight"].T).reshape(B * T, c["vocab"])


def run(params, ids, targets, c, dtype):
    P = {n: v.to(dtype).requires_grad_(True) for n, v in params.items()}
    logits = forward(P, ids, c)
    loss = F.cross_entropy(logits, targets.reshape(-1), ignore_index=-1)
    loss.backward()
    return logits.detach(), loss.detach(), {n: v.grad for n, v in P.items()}


def write_safetensors(path, tensors, metadata):
    """tensors: name → (dtype string, shape, bytes)."""
    header = {"__metadata__": metadata}
    offset = 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, data in tensors.values():
            f.write(data)


def f32(t):
    t = t.detach().to(torch.float32).contiguous()
    return ("F32", list(t.shape), struct.pack(f"<{t.numel()}f", *t.reshape(-1).tolist()))


def i32(t):
    t = t.to(torch.int32).contiguous()
    return ("I32", list(t.shape), struct.pack(f"<{t.numel()}i", *t.reshape(-1).tolist()))


def main():
    torch.set_num_threads(1)
    c = CONFIG
    gen = torch.Generator().manual_seed(SEED)
    params = init_params(c, gen)
    ids = torch.randint(0, c["vocab"], (BATCH, SEQ), generator=gen)
    targets = torch.randint(0, c["vocab"], (BATCH, SEQ), generator=gen)
    targets[1, 5] = -1  # one row that is not scored

    logits, loss, grads = run(params, ids, targets, c, torch.float64)
    _, loss32, grads32 = run(params, ids, targets, c, torch.float32)

    worst_abs, worst_rel = 0.0, 0.0
    for name, g in grads.items():
        d = (grads32[name].double() - g).abs().max().item()
        worst_abs = max(worst_abs, d)
        worst_rel = max(worst_rel, d / g.abs().max().item())
    print(f"loss {loss.item():.6f} (float32 pass: {loss32.item():.6f})")
    print(f"torch float32 gradients against float64: worst |diff| {worst_abs:.2e}, "
          f"worst |diff| / max|grad| of a parameter {worst_rel:.2e}")

    tensors = {}
    for name, value in params.items():
        tensors[name] = f32(value)
    for name, g in grads.items():
        tensors["grad." + name] = f32(g)
    tensors["ids"] = i32(ids)
    tensors["targets"] = i32(targets)
    tensors["logits"] = f32(logits)
    tensors["loss"] = f32(loss.reshape(1))
    metadata = {k: str(v) for k, v in c.items()}
    metadata.update(batch=str(BATCH), seq=str(SEQ), torch=torch.__version__,
                    layout="linear weights [out, in] (transposed from HF Conv1D)")
    write_safetensors(OUT, tensors, metadata)
    print(f"wrote {os.path.relpath(OUT, ROOT)} ({os.path.getsize(OUT)} bytes, "
          f"{len(tensors)} tensors)")


if __name__ == "__main__":
    main()
