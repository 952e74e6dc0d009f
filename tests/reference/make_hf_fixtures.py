#!/usr/bin/env python3
"""Build the tiny Hugging Face fixtures under tests/fixtures/hf/ and record
what `transformers` computes on them.

Each fixture is a random-weight model small enough to commit (about half a
MB with its reference outputs), saved with `save_pretrained` exactly as a real checkpoint would be, plus
a byte-level BPE tokenizer trained here on a few paragraphs of text:

  llama/       LlamaForCausalLM in TinyLlama's layout: grouped-query
               attention (4 heads, 2 KV heads), untied head, BOS added
  qwen2/       Qwen2ForCausalLM: bias on q/k/v, tied embeddings, Qwen 2's
               pre-tokenizer regex, no BOS
  gpt2/        GPT2LMHeadModel: learned positions, LayerNorm, Conv1D
               weights, tied head; also vocab.json + merges.txt
  llama-bf16/  the llama weights stored as BF16 (config + weights only)
  qwen2-f16/   the qwen2 weights stored as F16 (config + weights only)
  qwen3/       Qwen3ForCausalLM: per-head q/k RMSNorm, heads of 32 on a
               width of 64 (head size independent of width), tied
  gemma3/      Gemma3ForCausalLM (text): √d embedding scale, (1 + w) norms
               before and after each block, q/k norms, GeGLU, five
               sliding-window layers (window 8) then one global layer with
               its own RoPE base
  llama3/      LlamaForCausalLM with Llama 3.1's `rope_scaling` (all three
               frequency bands in use); reference.json also records the
               per-frequency divisors transformers computes (`rope_freqs`),
               which llama.cpp's converter writes as rope_freqs.weight
  qwen3-yarn/  the qwen3 shape with YaRN `rope_scaling` (factor 4 over an
               original 512 positions, blend from dimension 1 to 8);
               reference.json also records transformers' divisors and
               attention factor
  mistral/     MistralForCausalLM with a sliding window of 8 on every layer
  phi3/        Phi3ForCausalLM: fused qkv_proj and gate_up_proj, RoPE on half
               of each head (partial_rotary_factor 0.5)
  gemma3-mm/   Gemma3ForConditionalGeneration: a two-layer Gemma 3 text
               model beside a one-layer SigLIP vision tower and projector,
               saved as transformers saves it (the text config as its
               differences from Gemma3TextConfig's defaults, the language
               model under `language_model.model.`); logits of text-only
               inputs (config + weights + tokenizer, no hidden states)

For every fixture, `reference.json` indexes `reference.bin` (little-endian
f32, concatenated arrays). For each input (a token id sequence, most of them
the tokenizer's encoding of a text) it records:

  logits         [T, vocab]            one full forward over the input
  hidden_states  [n_layers + 1, T, d]  `output_hidden_states=True`: the
                 residual stream entering each layer, then the final
                 normed output (transformers' convention)
  attentions     [n_layers, heads, T, T]  softmax probabilities (eager)
  greedy         16 tokens from `generate(do_sample=False)` (EOS ignored)
  greedy_margin  for each greedy step, top-1 minus top-2 logit

The half-precision copies record only logits (and greedy tokens), computed in
f32 from the rounded weights, so an engine that widens half weights to f32
exactly should match them as closely as the f32 fixtures.

Run from the repository root (needs torch, transformers, tokenizers,
safetensors; CPU only):

    pip install torch transformers tokenizers safetensors
    python3 tests/reference/make_hf_fixtures.py [NAME ...]

With names (llama, qwen2, gpt2, qwen3, gemma3, llama3, qwen3-yarn, mistral, phi3, gemma3-mm), only those
fixtures are rebuilt.

The output is deterministic for a given torch/transformers version: seeds are
fixed, the tokenizer trainer is deterministic and everything runs in f32 on
one thread.
"""

import copy
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    Gemma3Config,
    Gemma3ForCausalLM,
    Gemma3ForConditionalGeneration,
    Gemma3TextConfig,
    MistralConfig,
    MistralForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
    SiglipVisionConfig,
)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "hf")

# Qwen 2's pre-tokenizer regex, as its tokenizer.json writes it.
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Training text for the tokenizers (written for this file).
CORPUS = """\
The engine reads a model file, maps its tensors into memory and runs them one
layer at a time. Each layer mixes the tokens it has seen with attention, then
passes every position through a small feed-forward network. The residual
stream carries the sum of everything the layers have written so far.
Tokens are pieces of text: common words become one token, rare words are
spelled from smaller pieces, and any byte can always be written on its own.
Numbers such as 2024, 3.14159 and 42 are split into digits or short groups.
When the model generates, it picks the most likely next token, appends it and
runs again, remembering the keys and values of earlier positions in a cache.
Small models are quick to test: their weights fit in a few hundred kilobytes,
and a mistake in any kernel shows up as a different logit at some position.
"Why?" she asked. 'Because it's simpler,' he said -- and it was.
Caf\u00e9, na\u00efve, \u00fcber, \u65e5\u672c\u8a9e, emoji \U0001F600 and tabs\tand
newlines\n\nare all text too.
"""

TEXTS = [
    "The model",
    "Tokens are pieces of text, and the cache remembers keys.",
    "Numbers: 2024, 3.14; caf\u00e9 \u65e5\u672c!",
]

N_GREEDY = 16


def train_tokenizer(vocab_size, specials, qwen_regex=False):
    tok = Tokenizer(models.BPE())
    if qwen_regex:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS.splitlines(keepends=True), trainer=trainer)
    return tok


def randomize(model, seed, std):
    """Weights with enough spread that logits are far apart (the default
    init at std 0.02 gives nearly uniform logits and fragile argmaxes)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight") or ".ln_" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))
    model.tie_weights()


class Recorder:
    def __init__(self):
        self.blob = bytearray()

    def add(self, tensor):
        a = np.ascontiguousarray(tensor.detach().to(torch.float32).numpy(), dtype="<f4")
        entry = {"offset": len(self.blob), "shape": list(a.shape)}
        self.blob += a.tobytes()
        return entry


def greedy(model, ids, eos_free_config):
    inp = torch.tensor([ids])
    out = model.generate(
        inp,
        attention_mask=torch.ones_like(inp),
        generation_config=eos_free_config,
    )
    new = out.sequences[0, len(ids):].tolist()
    margins = []
    for step in out.logits:
        top = torch.topk(step[0].float(), 2).values
        margins.append(round(float(top[0] - top[1]), 6))
    # Cross-check generate() against argmax over full forwards.
    seq = list(ids)
    for _ in range(N_GREEDY):
        logits = model(torch.tensor([seq])).logits[0, -1]
        seq.append(int(torch.argmax(logits)))
    assert seq[len(ids):] == new, (seq[len(ids):], new)
    return new, margins


def record(model, inputs, out_dir, full=True, extra=None):
    rec = Recorder()
    gen = GenerationConfig(
        do_sample=False,
        max_new_tokens=N_GREEDY,
        min_new_tokens=0,
        eos_token_id=None,
        pad_token_id=0,
        output_logits=True,
        return_dict_in_generate=True,
        bos_token_id=None,
    )
    entries = []
    with torch.no_grad():
        for inp in inputs:
            ids = inp["ids"]
            out = model(
                torch.tensor([ids]),
                output_hidden_states=full,
                output_attentions=full,
            )
            e = dict(inp)
            e["logits"] = rec.add(out.logits[0])
            if full:
                e["hidden_states"] = rec.add(torch.stack([h[0] for h in out.hidden_states]))
                e["attentions"] = rec.add(torch.stack([a[0] for a in out.attentions]))
            e["greedy"], e["greedy_margin"] = greedy(model, ids, gen)
            entries.append(e)
    with open(os.path.join(out_dir, "reference.bin"), "wb") as f:
        f.write(rec.blob)
    index = {
        "about": "made by tests/reference/make_hf_fixtures.py; arrays are little-endian f32 "
        "in reference.bin at byte `offset`, row-major `shape`",
        "torch": torch.__version__.split("+")[0],
        "transformers": transformers.__version__,
        "inputs": entries,
        **(extra or {}),
    }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(index, f, indent=1, ensure_ascii=False)
        f.write("\n")


def make_inputs(hf_tok, vocab, seed):
    inputs = []
    for text in TEXTS:
        ids = hf_tok(text)["input_ids"]
        inputs.append({"text": text, "ids": ids})
    g = torch.Generator().manual_seed(seed)
    # A single token, and a long sequence of random ids (positions beyond
    # anything the texts reach).
    inputs.insert(0, {"ids": [int(torch.randint(vocab, (1,), generator=g))]})
    inputs.append({"ids": torch.randint(vocab, (32,), generator=g).tolist()})
    return inputs


def save_tokenizer(tok, out_dir, config, gpt2_files=False):
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    if gpt2_files:
        tok.model.save(out_dir)  # vocab.json + merges.txt


def fresh_dir(name):
    d = os.path.join(ROOT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    return d


def half_copy(model, name, dtype, inputs):
    """The same model with weights rounded to `dtype`: saved in that dtype,
    and evaluated in f32 from the rounded values."""
    d = fresh_dir(name)
    copy.deepcopy(model).to(dtype).save_pretrained(d, safe_serialization=True)
    # Round the parameters only: `model.to(dtype)` would also round buffers
    # such as the rotary frequencies, which are computed, not stored.
    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for p in rounded.parameters():
            p.copy_(p.to(dtype).to(torch.float32))
    record(rounded, [{k: v for k, v in i.items() if k == "ids"} for i in inputs], d, full=False)
    for f in ("generation_config.json",):
        p = os.path.join(d, f)
        if os.path.exists(p):
            os.remove(p)


def build_llama():
    specials = ["<unk>", "<s>", "</s>"]
    tok = train_tokenizer(320, specials)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    vocab = tok.get_vocab_size()
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        bos_token_id=bos,
        eos_token_id=eos,
        attn_implementation="eager",
    )
    torch.manual_seed(1)
    model = LlamaForCausalLM(config).eval()
    randomize(model, 1, 0.15)
    d = fresh_dir("llama")
    model.save_pretrained(d, safe_serialization=True)
    save_tokenizer(
        tok,
        d,
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "add_bos_token": True,
            "add_eos_token": False,
            "model_max_length": 128,
            "clean_up_tokenization_spaces": False,
        },
    )
    hf_tok = AutoTokenizer.from_pretrained(d)
    inputs = make_inputs(hf_tok, vocab, 11)
    for i in inputs:
        if "text" in i:
            assert i["ids"] == [bos] + tok.encode(i["text"], add_special_tokens=False).ids
    record(model, inputs, d)
    half_copy(model, "llama-bf16", torch.bfloat16, inputs)


def build_qwen2():
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = train_tokenizer(320, specials, qwen_regex=True)
    eot = tok.token_to_id("<|endoftext|>")
    vocab = tok.get_vocab_size()
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rms_norm_eps=1e-6,
        rope_theta=1000000.0,
        tie_word_embeddings=True,
        use_sliding_window=False,
        bos_token_id=eot,
        eos_token_id=tok.token_to_id("<|im_end|>"),
        attn_implementation="eager",
    )
    torch.manual_seed(2)
    model = Qwen2ForCausalLM(config).eval()
    randomize(model, 2, 0.15)
    d = fresh_dir("qwen2")
    model.save_pretrained(d, safe_serialization=True)
    save_tokenizer(
        tok,
        d,
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": None,
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "add_bos_token": False,
            "model_max_length": 128,
            "clean_up_tokenization_spaces": False,
        },
    )
    hf_tok = AutoTokenizer.from_pretrained(d)
    inputs = make_inputs(hf_tok, vocab, 12)
    for i in inputs:
        if "text" in i:
            assert i["ids"] == tok.encode(i["text"], add_special_tokens=False).ids
    record(model, inputs, d)
    half_copy(model, "qwen2-f16", torch.float16, inputs)


def build_gpt2():
    specials = ["<|endoftext|>"]
    tok = train_tokenizer(320, specials)
    eot = tok.token_to_id("<|endoftext|>")
    vocab = tok.get_vocab_size()
    config = GPT2Config(
        vocab_size=vocab,
        n_positions=128,
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_inner=128,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
        bos_token_id=eot,
        eos_token_id=eot,
        attn_implementation="eager",
    )
    torch.manual_seed(3)
    model = GPT2LMHeadModel(config).eval()
    randomize(model, 3, 0.15)
    d = fresh_dir("gpt2")
    model.save_pretrained(d, safe_serialization=True)
    save_tokenizer(
        tok,
        d,
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<|endoftext|>",
            "eos_token": "<|endoftext|>",
            "add_bos_token": False,
            "model_max_length": 128,
            "clean_up_tokenization_spaces": False,
        },
        gpt2_files=True,
    )
    hf_tok = AutoTokenizer.from_pretrained(d)
    inputs = make_inputs(hf_tok, vocab, 13)
    for i in inputs:
        if "text" in i:
            assert i["ids"] == tok.encode(i["text"], add_special_tokens=False).ids
    record(model, inputs, d)


def llama_family_fixture(name, model, tok, seed, tokenizer_config, std=0.15, extra=None):
    """Randomize, save, check the tokenizer round trip and record."""
    randomize(model, seed, std)
    d = fresh_dir(name)
    model.save_pretrained(d, safe_serialization=True)
    save_tokenizer(tok, d, tokenizer_config)
    hf_tok = AutoTokenizer.from_pretrained(d)
    inputs = make_inputs(hf_tok, model.config.vocab_size, 20 + seed)
    record(model, inputs, d, extra=extra)
    return d


QWEN_TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": None,
    "eos_token": "<|im_end|>",
    "pad_token": "<|endoftext|>",
    "add_bos_token": False,
    "model_max_length": 128,
    "clean_up_tokenization_spaces": False,
}


def llama_tokenizer():
    """The llama fixture's tokenizer (BOS added) and its config."""
    specials = ["<unk>", "<s>", "</s>"]
    tok = train_tokenizer(320, specials)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": 128,
        "clean_up_tokenization_spaces": False,
    }
    return tok, config


def build_qwen3():
    tok = train_tokenizer(320, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], qwen_regex=True)
    config = Qwen3Config(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=128,
        rms_norm_eps=1e-6,
        rope_theta=1000000.0,
        tie_word_embeddings=True,
        bos_token_id=tok.token_to_id("<|endoftext|>"),
        eos_token_id=tok.token_to_id("<|im_end|>"),
        attn_implementation="eager",
    )
    torch.manual_seed(4)
    llama_family_fixture("qwen3", Qwen3ForCausalLM(config).eval(), tok, 4, QWEN_TOKENIZER_CONFIG)


def build_gemma3():
    tok, tok_config = llama_tokenizer()
    # Six layers, so that the sliding/global pattern is Gemma 3's own
    # (five sliding, one global), which llama.cpp hard-codes for GGUF.
    # query_pre_attn_scalar equals the head size, as in every Gemma 3 but
    # the 27B.
    config = Gemma3TextConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=6,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        query_pre_attn_scalar=32,
        sliding_window=8,
        max_position_embeddings=128,
        rms_norm_eps=1e-6,
        bos_token_id=tok.token_to_id("<s>"),
        eos_token_id=tok.token_to_id("</s>"),
        pad_token_id=tok.token_to_id("<unk>"),
        attn_implementation="eager",
    )
    torch.manual_seed(5)
    model = Gemma3ForCausalLM(config).eval()
    llama_family_fixture("gemma3", model, tok, 5, tok_config)


def build_gemma3_multimodal():
    tok, tok_config = llama_tokenizer()
    # Keys left at Gemma3TextConfig's defaults (rms_norm_eps, rope_theta,
    # rope_local_base_freq, hidden_activation) are not written: a reader
    # must know them.
    text = Gemma3TextConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        query_pre_attn_scalar=32,
        sliding_window=8,
        max_position_embeddings=128,
        bos_token_id=tok.token_to_id("<s>"),
        eos_token_id=tok.token_to_id("</s>"),
        pad_token_id=tok.token_to_id("<unk>"),
    )
    vision = SiglipVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=28,
        patch_size=14,
    )
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4)
    config._attn_implementation = "eager"
    torch.manual_seed(9)
    model = Gemma3ForConditionalGeneration(config).eval()
    randomize(model, 9, 0.15)
    d = fresh_dir("gemma3-mm")
    model.save_pretrained(d, safe_serialization=True)
    # Real Gemma 3 checkpoints (saved by transformers 4.50) write their
    # text config as its differences from Gemma3TextConfig's defaults;
    # transformers 5 writes every key. Write it the older way, and check
    # that transformers reads it back as the same config.
    path = os.path.join(d, "config.json")
    with open(path) as f:
        saved = json.load(f)
    full = saved["text_config"]
    defaults = Gemma3TextConfig().to_dict()
    # Keys derived from others (the layer pattern, the RoPE bases).
    derived = Gemma3TextConfig(num_hidden_layers=text.num_hidden_layers).to_dict()
    for k in ("layer_types", "rope_parameters"):
        defaults[k] = derived[k]
    saved["text_config"] = {
        k: v for k, v in full.items() if k == "model_type" or defaults.get(k) != v
    }
    with open(path, "w") as f:
        json.dump(saved, f, indent=2, sort_keys=True)
        f.write("\n")
    reread = Gemma3Config.from_pretrained(d).text_config.to_dict()
    for k, v in full.items():
        assert reread.get(k) == v, (k, reread.get(k), v)
    save_tokenizer(tok, d, tok_config)
    hf_tok = AutoTokenizer.from_pretrained(d)
    inputs = make_inputs(hf_tok, text.vocab_size, 29)
    record(model, inputs, d, full=False)


def build_llama3():
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    tok, tok_config = llama_tokenizer()
    # original_max_position_embeddings 64 with head size 16 and base 5e5:
    # wavelengths 6.3 (kept), 32 (blended) and ≥ 166 (divided by 8).
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
        tie_word_embeddings=True,
        bos_token_id=tok.token_to_id("<s>"),
        eos_token_id=tok.token_to_id("</s>"),
        attn_implementation="eager",
    )
    torch.manual_seed(6)
    model = LlamaForCausalLM(config).eval()
    head_dim = config.hidden_size // config.num_attention_heads
    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](config, "cpu")
    plain = 1.0 / (500000.0 ** (torch.arange(0, head_dim, 2).float() / head_dim))
    divisors = (plain / scaled).tolist()
    assert divisors[0] == 1.0 and abs(divisors[-1] - 8.0) < 1e-5, divisors
    llama_family_fixture("llama3", model, tok, 6, tok_config, extra={"rope_freqs": divisors})


def build_qwen3_yarn():
    tok = train_tokenizer(320, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], qwen_regex=True)
    # YaRN stretching a 512-position original context 4 times. With head
    # size 32 and base 1e4 its blend runs from dimension 1 to 8: frequencies
    # kept, blended and divided by 4 all occur, and the magnitude on q and k
    # is 1 + 0.1 ln 4.
    config = Qwen3Config(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=2048,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 512},
        tie_word_embeddings=True,
        bos_token_id=tok.token_to_id("<|endoftext|>"),
        eos_token_id=tok.token_to_id("<|im_end|>"),
        attn_implementation="eager",
    )
    torch.manual_seed(9)
    model = Qwen3ForCausalLM(config).eval()
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    scaled, magnitude = ROPE_INIT_FUNCTIONS["yarn"](config, "cpu")
    plain = 1.0 / (10000.0 ** (torch.arange(0, 32, 2).float() / 32))
    divisors = (plain / scaled).tolist()
    assert divisors[0] < 1.0001 and abs(divisors[-1] - 4.0) < 1e-4, divisors
    assert any(1.01 < d < 3.99 for d in divisors), divisors
    llama_family_fixture("qwen3-yarn", model, tok, 9, QWEN_TOKENIZER_CONFIG,
                         extra={"rope_freqs": divisors, "attention_factor": magnitude})


def build_mistral():
    tok, tok_config = llama_tokenizer()
    config = MistralConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        sliding_window=8,
        tie_word_embeddings=False,
        bos_token_id=tok.token_to_id("<s>"),
        eos_token_id=tok.token_to_id("</s>"),
        attn_implementation="eager",
    )
    torch.manual_seed(7)
    llama_family_fixture("mistral", MistralForCausalLM(config).eval(), tok, 7, tok_config)


def build_phi3():
    tok, tok_config = llama_tokenizer()
    config = Phi3Config(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        original_max_position_embeddings=128,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        partial_rotary_factor=0.5,
        sliding_window=None,
        tie_word_embeddings=False,
        bos_token_id=tok.token_to_id("<s>"),
        eos_token_id=tok.token_to_id("</s>"),
        pad_token_id=tok.token_to_id("<unk>"),
        attn_implementation="eager",
    )
    torch.manual_seed(8)
    llama_family_fixture("phi3", Phi3ForCausalLM(config).eval(), tok, 8, tok_config)


BUILDERS = {
    "llama": lambda: build_llama(),
    "qwen2": lambda: build_qwen2(),
    "gpt2": lambda: build_gpt2(),
    "qwen3": lambda: build_qwen3(),
    "gemma3": lambda: build_gemma3(),
    "llama3": lambda: build_llama3(),
    "qwen3-yarn": lambda: build_qwen3_yarn(),
    "mistral": lambda: build_mistral(),
    "phi3": lambda: build_phi3(),
    "gemma3-mm": lambda: build_gemma3_multimodal(),
}


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(ROOT, exist_ok=True)
    names = sys.argv[1:] or list(BUILDERS)
    for name in names:
        if name not in BUILDERS:
            sys.exit(f"unknown fixture {name} (known: {', '.join(BUILDERS)})")
        BUILDERS[name]()
    for name in sorted(os.listdir(ROOT)):
        d = os.path.join(ROOT, name)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"{name}: {size / 1024:.0f} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
