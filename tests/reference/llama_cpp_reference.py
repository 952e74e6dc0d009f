#!/usr/bin/env python3
"""Record what llama.cpp computes on SmolLM2 or Gemma 3 270M, for
engine/tests/suite/llama_cpp_fidelity.rs.

llama.cpp comes from llama-cpp-python (`pip install llama-cpp-python`, which
compiles it from source). For each prompt below we record, with llama.cpp's
own tokenizer, feeding one token at a time (see `main` for why not a
batched prefill):

  - the prompt's token ids;
  - the greedy continuation (48 tokens, stopping early at end of turn);
  - at every generated position, the top-5 token ids and logits and the
    margin between the first two;
  - the full logits of the last prompt position.

The lists go to `llama_cpp_NAME.json`; the full logit vectors, as
little-endian float16 (plenty for a 1.0 tolerance), to `llama_cpp_NAME.bin`,
one vector per prompt in order (Gemma 3's vocabulary of 262,144 makes each
half a megabyte: only its first FULL_LOGITS_GEMMA3 prompts keep theirs). The
Rust test needs neither Python nor llama.cpp.

    python3 tests/reference/llama_cpp_smollm2.py [smollm2|gemma3] [MODEL.gguf]
"""

import json
import pathlib
import sys

import numpy as np
import llama_cpp
from llama_cpp import Llama, __version__ as llama_cpp_version

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODELS = {
    "smollm2": ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": ROOT / "models" / "gemma-3-270m-q4_k_m.gguf",
}
FULL_LOGITS_GEMMA3 = 2
GENERATED = 48
TOP = 5

SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chat(user, system=SYSTEM, history=()):
    """SmolLM2's chat template, rendered by hand: ChatML turns, the
    assistant's turn left open. (engine/tests/suite/chat_template.rs checks our
    renderer against jinja2 on the template itself.)"""
    text = f"<|im_start|>system\n{system}<|im_end|>\n"
    for role, content in history:
        text += f"<|im_start|>{role}\n{content}<|im_end|>\n"
    return text + f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


PROMPTS = [
    ("raw-short", "The capital of France is"),
    ("raw-count", "One, two, three, four,"),
    ("raw-code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"),
    ("raw-story", "Once upon a time, in a small village at the edge of a forest, there lived"),
    (
        "raw-long",
        "The water cycle describes how water moves through the environment. "
        "Water evaporates from oceans, lakes and rivers when the sun heats it. "
        "The vapour rises, cools and condenses into clouds. When the droplets in "
        "the clouds grow heavy enough, they fall back to the ground as rain, snow "
        "or hail. Some of this water flows over the land into streams and rivers, "
        "and some soaks into the soil, where it becomes groundwater. Plants take up "
        "water through their roots and release it through their leaves. In short,",
    ),
    ("raw-list", "Three tips for staying healthy:\n1."),
    ("raw-unicode", "Le café coûte 3 € à Paris, et à Tokyo il coûte"),
    ("chat-capital", chat("What is the capital of Germany?")),
    ("chat-math", chat("What is 12 plus 30? Answer with the number only.")),
    ("chat-poem", chat("Write a haiku about the sea.")),
    (
        "chat-custom-system",
        chat("How do I reverse a list in Python?", system="You are a terse programming assistant."),
    ),
    (
        "chat-multi-turn",
        chat(
            "And what is it famous for?",
            history=[
                ("user", "Name a large city in Italy."),
                ("assistant", "Rome is a large city in Italy."),
            ],
        ),
    ),
    (
        "chat-long",
        chat(
            "Summarise this in one sentence: Photosynthesis is the process by which "
            "green plants, algae and some bacteria turn light energy into chemical "
            "energy. Using sunlight, they combine carbon dioxide from the air with "
            "water to make glucose, a sugar that stores energy, and they release "
            "oxygen as a by-product. The process happens mostly in the leaves, inside "
            "chloroplasts, which contain the green pigment chlorophyll."
        ),
    ),
]


def gemma_chat(user, history=()):
    """Gemma's chat template (llama.cpp's models/templates), rendered by
    hand: `<start_of_turn>` turns, the model's turn left open. Gemma 3 270M
    is a base model and its file carries no template; people still chat
    with it this way."""
    text = ""
    for role, content in history:
        text += f"<start_of_turn>{role}\n{content}<end_of_turn>\n"
    return text + f"<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model\n"


GEMMA3_PROMPTS = [p for p in PROMPTS if p[0].startswith("raw-")] + [
    ("chat-capital", gemma_chat("What is the capital of Germany?")),
    ("chat-math", gemma_chat("What is 12 plus 30? Answer with the number only.")),
    (
        "chat-multi-turn",
        gemma_chat(
            "And what is it famous for?",
            history=[
                ("user", "Name a large city in Italy."),
                ("model", "Rome is a large city in Italy."),
            ],
        ),
    ),
    (
        # About 900 tokens: longer than the sliding window (512), so the
        # local layers no longer see the start while the global ones do.
        "raw-past-the-window",
        " ".join(
            f"Item {i}: the {['red', 'green', 'blue', 'amber'][i % 4]} box holds {i * 7 % 13} stones."
            for i in range(60)
        )
        + " Item 60: the",
    ),
]


def top_k(row, k):
    ids = np.argsort(-row, kind="stable")[:k]
    return [int(i) for i in ids], [float(row[i]) for i in ids]


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "smollm2"
    model = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else MODELS[name]
    prompts = GEMMA3_PROMPTS if name == "gemma3" else PROMPTS
    keep_full = FULL_LOGITS_GEMMA3 if name == "gemma3" else len(prompts)
    llm = Llama(
        model_path=str(model),
        n_ctx=1024,
        n_batch=512,
        n_threads=2,
        verbose=False,
    )
    vocab = llm.n_vocab()

    def last_logits():
        # The logits of the last position fed. (`logits_all=True` crashes in
        # llama_decode with llama-cpp-python 0.3.36, and we only need this row.)
        ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        return np.array(np.ctypeslib.as_array(ptr, shape=(vocab,)), dtype=np.float32)

    stops = {llm.token_eos()}
    for stop in ("<|im_end|>", "<|endoftext|>", "<end_of_turn>"):
        ids = llm.tokenize(stop.encode(), add_bos=False, special=True)
        if len(ids) == 1:
            stops.add(ids[0])
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"

    records = []
    full_logits = []
    for i, (prompt_name, text) in enumerate(prompts):
        prompt = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        llm.reset()
        # Token by token: a batched llama_decode crashes in this build on
        # CPUs with AMX (Sapphire Rapids), and token-by-token prefill is one
        # of llama.cpp's own settings (it agrees with batched prefill to
        # within the margins the test allows).
        for token in prompt:
            llm.eval([token])
        last = last_logits()
        if i < keep_full:
            full_logits.append(last.astype("<f2"))
        row = last
        generated, tops = [], []
        for _ in range(GENERATED):
            ids, values = top_k(row, TOP)
            tops.append({"ids": ids, "logits": values, "margin": values[0] - values[1]})
            token = ids[0]
            generated.append(token)
            if token in stops:
                break
            llm.eval([token])
            row = last_logits()
        records.append(
            {
                "name": prompt_name,
                "text": text,
                "prompt_tokens": [int(t) for t in prompt],
                "generated": generated,
                "top": tops,
                "continuation": llm.detokenize(generated).decode("utf-8", "replace"),
            }
        )
        print(f"{prompt_name}: {len(prompt)} prompt tokens, {len(generated)} generated", file=sys.stderr)

    out = {
        "model": model.name,
        "llama_cpp_python": llama_cpp_version,
        "settings": "every token fed alone (prompt and generated); 2 threads; default flash-attention choice",
        "vocab_size": vocab,
        "full_logits": f"llama_cpp_{name}.bin: one float16 vector of vocab_size for each of "
        f"the first {keep_full} prompts, in order",
        "full_logits_prompts": keep_full,
        "prompts": records,
    }
    (HERE / f"llama_cpp_{name}.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    np.concatenate(full_logits).tofile(HERE / f"llama_cpp_{name}.bin")


if __name__ == "__main__":
    main()
