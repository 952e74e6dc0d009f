#!/usr/bin/env python3
"""Expected chat-template renderings for engine/tests/suite/chat_template.rs.

    python3 tests/reference/chat_templates.py            # rewrite the fixture
    python3 tests/reference/chat_templates.py --check    # compare, write nothing

Writes tests/reference/chat_templates.json: the templates (SmolLM2's, read
from the model file with the `gguf` package, and a few written here in the
styles of other model families) and, for each case, the conversation, the
variables and what Python's `jinja2` renders, or the error it raises.

Also writes tests/reference/chat_templates_llama_cpp.json: real models'
templates from llama.cpp's corpus (models/llama.cpp/models/templates, which
scripts/fetch-llama-cpp.sh unpacks from the llama-cpp-python sdist): Gemma,
Qwen3 (thinking on and off), Llama 3.1/3.2, Phi-3.5, Mistral, DeepSeek R1,
SmolLM3. The fixture names each file and its size, never its text; the
Rust test reads the same files.

The environment is the one Hugging Face transformers builds for
`apply_chat_template` (transformers/utils/chat_template_utils.py,
`_compile_jinja_template` and `render_jinja_template`): an
ImmutableSandboxedEnvironment with trim_blocks=True, lstrip_blocks=True and
the loopcontrols extension, a `tojson` filter that is plain `json.dumps`
(no HTML escaping, ensure_ascii=False), the globals `raise_exception` and
`strftime_now`, and the variables messages, tools=None, documents=None,
add_generation_prompt and the tokenizer's special tokens (bos_token,
eos_token) plus any extra keyword arguments. When transformers is installed
its own renderer is run too and must agree.

Needs jinja2 (>= 3.1) and gguf; a missing one is an error, never a skip.
"""
import json
import os
import sys

try:
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    sys.exit("chat_templates.py: the Python package `jinja2` is missing (pip install jinja2)")
try:
    import gguf
except ImportError:
    sys.exit("chat_templates.py: the Python package `gguf` is missing (pip install gguf)")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(HERE, "chat_templates.json")


def gguf_string(reader, key):
    field = reader.fields[key]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def gguf_token(reader, key):
    field = reader.fields[key]
    token_id = int(field.parts[field.data[0]][0])
    tokens = reader.fields["tokenizer.ggml.tokens"]
    return bytes(tokens.parts[tokens.data[token_id]]).decode("utf-8")


# ----- templates written for these tests (our own text, in the style of
# each family; not copies of any model's template) -----

# ChatML with reasoning: strips earlier turns' <think> blocks, shows the last
# assistant turn's reasoning, and opens an empty think block when thinking is
# switched off.
QWEN_STYLE = """{%- if messages[0].role == 'system' %}
{{- '<|im_start|>system\\n' + messages[0].content.strip() + '<|im_end|>\\n' }}
{%- endif %}
{%- set ns = namespace(last_user=-1) %}
{%- for m in messages %}
{%- if m.role == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}
{%- endfor %}
{%- for message in messages %}
{%- if message.role == 'system' and loop.first %}
{%- continue %}
{%- elif message.role == 'user' or message.role == 'system' %}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
{%- elif message.role == 'assistant' %}
{%- set content = message.content %}
{%- set reasoning = '' %}
{%- if message.reasoning_content is string %}
{%- set reasoning = message.reasoning_content %}
{%- elif '</think>' in content %}
{%- set reasoning = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
{%- set content = content.split('</think>')[-1].lstrip('\\n') %}
{%- endif %}
{%- if loop.index0 > ns.last_user and (loop.last or reasoning) %}
{{- '<|im_start|>assistant\\n<think>\\n' + reasoning.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
{%- else %}
{{- '<|im_start|>assistant\\n' + content }}
{%- endif %}
{{- '<|im_end|>\\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\\n' }}
{%- if enable_thinking is defined and enable_thinking is false %}
{{- '<think>\\n\\n</think>\\n\\n' }}
{%- endif %}
{%- endif %}"""

# Header-style turns, BOS first, a default date when none is passed, tools as
# indented JSON, contents trimmed.
LLAMA3_STYLE = """{{- bos_token }}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Today Date: " + date_string + "\\n" }}
{%- if tools is not none %}
    {{- "You may call these functions:\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

# Refuses conversations whose roles do not alternate (as Mistral-family
# templates do), with the block-level whitespace of a template written
# without `-` modifiers, so trim_blocks / lstrip_blocks matter.
ALTERNATING = """{{ bos_token }}
{% for message in messages %}
    {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
    {% endif %}
    {% if message['role'] == 'user' %}
        {{ '[INST] ' + message['content'] + ' [/INST]' }}
    {% elif message['role'] == 'assistant' %}
        {{ message['content'] + eos_token }}
    {% else %}
        {{ raise_exception('Only user and assistant roles are supported!') }}
    {% endif %}
{% endfor %}
"""

# Python-isms that Hugging Face templates use: string methods, dict methods,
# loop variables, filters, namespace, break, tojson of nested values.
PYTHONISMS = """{% set ns = namespace(count=0, names=[]) %}
{% for message in messages %}
{% set ns.count = ns.count + 1 %}
{% if message.content.startswith('/') %}
command {{ loop.index }}: {{ message.content[1:].split(' ')[0].upper() }}
{% elif message.content.endswith('?') %}
question {{ loop.index }}/{{ loop.length }}: {{ message.content.strip().replace('?', '') | trim }}
{% else %}
{{ message.role | capitalize }}: {{ message.content | trim }}{% if not loop.last %},{% endif %}

{% endif %}
{% if message.get('name', none) is not none %}
{% set ns.names = ns.names + [message.name] %}
{% endif %}
{% if ns.count >= 4 %}{% break %}{% endif %}
{% endfor %}
total={{ ns.count }} names={{ ns.names | join(',') }} first={{ messages | map(attribute='role') | first }}
{% for key, value in meta.items() %}
{{ key }}={{ value | tojson }}
{% endfor %}
json={{ messages[0] | tojson }}
{{ 'a,b,,c'.split(',') | length }} {{ '  x  '.lstrip() }}| {{ 'Title case words' | title }} {{ [3, 1, 2] | sort | list | tojson }}
{% if add_generation_prompt %}>>> {% endif %}"""

# Tests, filters and expressions common in Hugging Face templates: type
# tests, selectattr/rejectattr, reverse, macros, conditional expressions,
# default, dict(), `in` on strings and dicts, loop.previtem, format.
FILTERS_AND_TESTS = """{%- macro turn(role, text) -%}
[{{ role | upper }}] {{ text }}
{%- endmacro -%}
{%- set systems = messages | selectattr('role', 'equalto', 'system') | list -%}
{%- set others = messages | rejectattr('role', 'equalto', 'system') | list -%}
{%- if systems | length > 0 %}{{ turn('sys', systems[0].content) }}
{% endif -%}
{%- for message in others | reverse -%}
{%- set text = message.content if message.content is string else '(none)' -%}
{%- if loop.previtem is defined %} after {{ loop.previtem.role }}:{% endif %}
{{ turn(message.role, text) }}{{ ' <q>' if '?' in text else '' }}
{%- endfor %}

{{ messages is sequence }} {{ none }} {{ 0.5 }} {{ 1e20 }} {{ 2.0 * 3 }} {{ 10 / 4 }} {{ 7 // 2 }} {{ messages[0] is mapping }} {{ 'role' in messages[0] }} {{ extra_flag | default('unset') }}
{%- set d = dict(a=1, b='two') %} {{ d.b }} {{ d | length }} {{ "%s=%d" | format('n', 5) }} {{ (messages | last).role }}
{%- if add_generation_prompt %}
{{ turn('assistant', '') }}
{%- endif %}"""

TEMPLATES = {
    "filters_and_tests": FILTERS_AND_TESTS,
    "qwen_style": QWEN_STYLE,
    "llama3_style": LLAMA3_STYLE,
    "alternating": ALTERNATING,
    "pythonisms": PYTHONISMS,
}

# ----- conversations -----

SYSTEM = {"role": "system", "content": "You are terse. Answer in one line."}
TURNS = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Italy? Say it with <b>tags</b> & \"quotes\"."},
]
UNICODE_TURNS = [
    {"role": "user", "content": "  Grüße, 世界! \u00e9\u0301 — emoji 🦀  "},
    {"role": "assistant", "content": "\n\nHallo 👋\n"},
    {"role": "user", "content": "\ttabs\tand\nnewlines\n"},
]
THINKING_TURNS = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "<think>\nSimple arithmetic.\n</think>\n\n4"},
    {"role": "user", "content": "And 3+3?"},
]
THINKING_LAST = THINKING_TURNS + [
    {"role": "assistant", "content": "<think>\nAdd them.\n</think>\n\n6"},
]
REASONING_FIELD = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!", "reasoning_content": "Greet back."},
]
PYTHONISM_TURNS = [
    {"role": "user", "content": "/search cats and dogs", "name": "ann"},
    {"role": "assistant", "content": "  found 3  "},
    {"role": "user", "content": "  why?  ", "name": "bob"},
    {"role": "assistant", "content": "because"},
    {"role": "user", "content": "never reached"},
]
TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather at a place <now> & \"soon\"",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
            "required": ["city"],
            "unicode": "ünï",
            "empty": {},
            "list": [],
            "nested": [1, 2.5, True, None],
        },
    }
]


def cases(smol_bos, smol_eos):
    out = []

    def add(name, template, messages, add_generation_prompt, bos="<s>", eos="</s>", extra=None):
        out.append(
            {
                "name": name,
                "template": template,
                "messages": messages,
                "add_generation_prompt": add_generation_prompt,
                "bos_token": bos,
                "eos_token": eos,
                "extra": extra or {},
            }
        )

    for gen in (False, True):
        suffix = "_gen" if gen else ""
        add("smollm2_single" + suffix, "smollm2", TURNS[:1], gen, smol_bos, smol_eos)
        add("smollm2_multi" + suffix, "smollm2", TURNS, gen, smol_bos, smol_eos)
        add("smollm2_system" + suffix, "smollm2", [SYSTEM] + TURNS, gen, smol_bos, smol_eos)
        add("smollm2_unicode" + suffix, "smollm2", UNICODE_TURNS, gen, smol_bos, smol_eos)
    add("smollm2_empty_gen", "smollm2", [], True, smol_bos, smol_eos)

    for gen in (False, True):
        suffix = "_gen" if gen else ""
        add("qwen_multi" + suffix, "qwen_style", [SYSTEM] + TURNS, gen)
        add("qwen_thinking" + suffix, "qwen_style", THINKING_TURNS, gen)
        add("qwen_no_thinking" + suffix, "qwen_style", THINKING_TURNS, gen, extra={"enable_thinking": False})
        add("qwen_thinking_on" + suffix, "qwen_style", THINKING_TURNS, gen, extra={"enable_thinking": True})
    add("qwen_thinking_last", "qwen_style", THINKING_LAST, False)
    add("qwen_reasoning_field", "qwen_style", REASONING_FIELD, False)
    add("qwen_unicode_gen", "qwen_style", [SYSTEM] + UNICODE_TURNS, True)

    bos, eos = "<|begin_of_text|>", "<|eot_id|>"
    add("llama3_system_gen", "llama3_style", [SYSTEM] + TURNS, True, bos, eos)
    add("llama3_nosystem", "llama3_style", TURNS, False, bos, eos)
    add("llama3_date_gen", "llama3_style", TURNS[:1], True, bos, eos, extra={"date_string": "01 Jan 2025"})
    add("llama3_tools_gen", "llama3_style", UNICODE_TURNS, True, bos, eos, extra={"tools": TOOLS})

    add("alternating_ok", "alternating", TURNS, False)
    add("alternating_ok_gen", "alternating", TURNS[:2], True)
    add("alternating_two_users", "alternating", [TURNS[0], TURNS[2]], False)
    add("alternating_system", "alternating", [SYSTEM] + TURNS, True)

    meta = {"temperature": 0.5, "tags": ["a", "<b>"], "nested": {"k": [1, None, False]}, "text": "é\"\n"}
    add("pythonisms", "pythonisms", PYTHONISM_TURNS, False, extra={"meta": meta})
    add("pythonisms_gen", "pythonisms", PYTHONISM_TURNS[2:], True, extra={"meta": {}})
    add("filters_and_tests", "filters_and_tests", [SYSTEM] + TURNS, False)
    add("filters_and_tests_gen", "filters_and_tests", TURNS[:2], True, extra={"extra_flag": "on"})
    return out


# ----- the renderer: transformers' environment, rebuilt from jinja2 -----


def build_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def render(env, source, case):
    template = env.from_string(source)
    variables = {"bos_token": case["bos_token"], "eos_token": case["eos_token"], **case["extra"]}
    return template.render(
        messages=case["messages"],
        tools=variables.pop("tools", None),
        documents=None,
        add_generation_prompt=case["add_generation_prompt"],
        **variables,
    )


def transformers_render(source, case):
    """transformers' own renderer, when it is installed (else None)."""
    try:
        from transformers.utils.chat_template_utils import render_jinja_template
    except Exception:
        return None
    variables = {"bos_token": case["bos_token"], "eos_token": case["eos_token"], **case["extra"]}
    tools = variables.pop("tools", None)
    try:
        rendered, _ = render_jinja_template(
            conversations=[case["messages"]],
            tools=tools,
            chat_template=source,
            add_generation_prompt=case["add_generation_prompt"],
            **variables,
        )
        return {"expected": rendered[0]}
    except jinja2.exceptions.TemplateError as e:
        return {"error": str(e)}


LLAMA_CPP_TEMPLATES = os.path.join(ROOT, "models", "llama.cpp", "models", "templates")
OUT_LLAMA_CPP = os.path.join(HERE, "chat_templates_llama_cpp.json")

# (file, bos, eos, extra variables): the special tokens each model's
# tokenizer gives its template.
REAL_TEMPLATES = [
    ("google-gemma-2-2b-it.jinja", "<bos>", "<eos>", {}),
    ("Qwen-Qwen3-0.6B.jinja", "", "<|im_end|>", {}),
    ("Qwen-Qwen2.5-7B-Instruct.jinja", "", "<|im_end|>", {}),
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", {"date_string": "01 Jan 2025"}),
    ("meta-llama-Llama-3.2-3B-Instruct.jinja", "<|begin_of_text|>", "<|eot_id|>", {"date_string": "01 Jan 2025"}),
    ("microsoft-Phi-3.5-mini-instruct.jinja", "<s>", "<|endoftext|>", {}),
    ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>", {}),
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", {}),
    ("HuggingFaceTB-SmolLM3-3B.jinja", "", "<|im_end|>", {}),
]


def real_template_cases():
    """Conversations for each real template; Qwen3's with thinking on and
    off."""
    out = []
    for file, bos, eos, extra in REAL_TEMPLATES:
        conversations = [
            ("system_gen", [SYSTEM] + TURNS, True, {}),
            ("multi", TURNS, False, {}),
            ("unicode_gen", UNICODE_TURNS, True, {}),
            ("thinking_gen", THINKING_TURNS, True, {}),
        ]
        if "Qwen3" in file or "SmolLM3" in file:
            conversations += [
                ("no_thinking_gen", THINKING_TURNS, True, {"enable_thinking": False}),
                ("thinking_on_gen", THINKING_TURNS, True, {"enable_thinking": True}),
            ]
        for name, messages, gen, more in conversations:
            out.append(
                {
                    "name": f"{file.removesuffix('.jinja')}/{name}",
                    "template": file,
                    "messages": messages,
                    "add_generation_prompt": gen,
                    "bos_token": bos,
                    "eos_token": eos,
                    "extra": {**extra, **more},
                }
            )
    return out


def write_real_templates(env, check):
    if not os.path.isdir(LLAMA_CPP_TEMPLATES):
        sys.exit(f"chat_templates.py: {LLAMA_CPP_TEMPLATES} is missing: run scripts/fetch-llama-cpp.sh")
    sizes = {}
    results = []
    for case in real_template_cases():
        path = os.path.join(LLAMA_CPP_TEMPLATES, case["template"])
        with open(path, encoding="utf-8") as f:
            source = f.read()
        sizes[case["template"]] = len(source.encode("utf-8"))
        try:
            case["expected"] = render(env, source, case)
        except jinja2.exceptions.TemplateError as e:
            case["error"] = str(e)
        theirs = transformers_render(source, case)
        if theirs is not None:
            ours = {k: case[k] for k in ("expected", "error") if k in case}
            if ours != theirs:
                sys.exit(f"chat_templates.py: case {case['name']}: jinja2 gives {ours!r}, transformers {theirs!r}")
        results.append(case)
    doc = {
        "generated_by": "tests/reference/chat_templates.py",
        "templates_from": "llama-cpp-python 0.3.36 sdist, vendor/llama.cpp/models/templates",
        "template_bytes": sizes,
        "cases": results,
    }
    if check:
        with open(OUT_LLAMA_CPP, encoding="utf-8") as f:
            if json.load(f) != doc:
                sys.exit("chat_templates.py: the llama.cpp fixture is out of date: rerun without --check")
        return
    with open(OUT_LLAMA_CPP, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"chat_templates.py: wrote {len(results)} cases to {OUT_LLAMA_CPP}")


def main():
    check = "--check" in sys.argv[1:]
    if not os.path.isfile(MODEL):
        sys.exit(f"chat_templates.py: {MODEL} is missing: run scripts/fetch-model.sh")
    reader = gguf.GGUFReader(MODEL)
    templates = {"smollm2": gguf_string(reader, "tokenizer.chat_template"), **TEMPLATES}
    smol_bos = gguf_token(reader, "tokenizer.ggml.bos_token_id")
    smol_eos = gguf_token(reader, "tokenizer.ggml.eos_token_id")

    env = build_environment()
    write_real_templates(env, check)
    results = []
    cross_checked = 0
    for case in cases(smol_bos, smol_eos):
        source = templates[case["template"]]
        try:
            case["expected"] = render(env, source, case)
        except jinja2.exceptions.TemplateError as e:
            case["error"] = str(e)
        theirs = transformers_render(source, case)
        if theirs is not None:
            cross_checked += 1
            ours = {k: case[k] for k in ("expected", "error") if k in case}
            if ours != theirs:
                sys.exit(f"chat_templates.py: case {case['name']}: jinja2 gives {ours!r}, transformers {theirs!r}")
        results.append(case)

    doc = {
        "generated_by": "tests/reference/chat_templates.py",
        "jinja2_version": jinja2.__version__,
        "templates": templates,
        "cases": results,
    }
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    if check:
        with open(OUT, encoding="utf-8") as f:
            old = json.load(f)
        old.pop("jinja2_version", None)
        doc.pop("jinja2_version", None)
        if old != doc:
            sys.exit("chat_templates.py: the fixture is out of date: rerun without --check")
        print(f"chat_templates.py: {OUT} is up to date ({len(results)} cases)")
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    note = f", {cross_checked} cross-checked with transformers" if cross_checked else ""
    print(f"chat_templates.py: wrote {len(results)} cases to {OUT}{note}")


if __name__ == "__main__":
    main()
