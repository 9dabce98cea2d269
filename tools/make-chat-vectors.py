#!/usr/bin/env python3
"""Render chat-template test vectors with Python Jinja2, the way transformers does.

Usage: python3 tools/make-chat-vectors.py [TOKENIZERS_DIR] [OUT_JSON]
  TOKENIZERS_DIR  default ../shared/tokenizers (folders qwen2, qwen2.5, qwen3)
  OUT_JSON        default test/tokenizer/data/chat_vectors.json

The environment mirrors transformers' `_compile_jinja_template` (utils/chat_template_utils.py):
an ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols
extension, a `tojson` filter that is json.dumps with ensure_ascii=False (insertion key
order, no HTML escaping), and the globals `raise_exception` and `strftime_now`. The
variables are those apply_chat_template passes: messages, tools (None when not given),
documents (None), add_generation_prompt, the special tokens that are set, and any extra
keyword arguments.

Inputs are written to the JSON file too, so every vector is self-contained. Inputs hold no
integral floats (JSON cannot tell 1.0 from 1 once JavaScript has parsed it) and no
integer-like object keys (JavaScript objects reorder those).

Besides the real Qwen templates, a few small "probe" templates pin down single features
(tojson arguments, Python-style printing, tests, string methods) so that a difference
shows up by name rather than inside a long conversation.
"""

import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZERS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "tokenizers")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "test", "tokenizer", "data", "chat_vectors.json")
FOLDERS = ["qwen2", "qwen2.5", "qwen3"]


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_env()

# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}

# Unicode, nested values, every JSON scalar, floats Python and JavaScript print differently.
SEARCH = {
    "type": "function",
    "function": {
        "name": "搜索",
        "description": "Recherche « exacte » — émoji 🔍, quote \" back\\slash, tab\t, newline\n, nul\u0000, del\u007f, LS\u2028",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": 256},
                "limit": {"type": "integer", "default": 10, "minimum": -5},
                "ratio": {"type": "number", "default": 0.5, "examples": [1.5e-7, 0.0001, 2.5e-16, -3.25, 123456789.125]},
                "strict": {"type": "boolean", "default": False},
                "other": {"type": "null", "default": None},
                "nested": {"type": "array", "items": {"type": "object", "properties": {}}, "default": []},
                "zzz_before_aaa": {"aaa": {}, "zzz": [[], [{}]]},
            },
            "required": ["query"],
        },
    },
}

FLAT_TOOL = {"name": "calculator", "description": "Adds numbers", "parameters": {"type": "object", "properties": {"a": {"type": "number"}}}}

SYS = {"role": "system", "content": "You are a terse assistant."}


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def call(name, arguments, wrap=True, call_id=None):
    inner = {"name": name, "arguments": arguments}
    if not wrap:
        return inner
    out = {"type": "function", "function": inner}
    if call_id is not None:
        out = {"id": call_id, **out}
    return out


def tool(text, call_id=None):
    m = {"role": "tool", "content": text}
    if call_id is not None:
        m["tool_call_id"] = call_id
    return m


CONVERSATIONS = {
    "single_user": [user("Hello!")],
    "system_user": [SYS, user("What is 2+2?")],
    "multi_turn": [SYS, user("Hi"), assistant("Hello! How can I help?"), user("Tell me a joke."), assistant("Why did the chicken cross the road?"), user("Why?")],
    "multi_turn_no_system": [user("a"), assistant("b"), user("c"), assistant("d")],
    "ends_with_assistant": [user("Write a haiku"), assistant("Autumn moonlight\na worm digs silently\ninto the chestnut.")],
    "unicode": [SYS, user("你好，世界！ Ünïcödé — emoji 👩‍👩‍👧‍👦 🇯🇵, RTL שלום مرحبا, combining e\u0301, zero-width\u200b, BOM\ufeff, NEL\u0085, LS\u2028PS\u2029"), assistant("Привет! 😀")],
    "empty_contents": [{"role": "system", "content": ""}, user(""), assistant(""), user("")],
    "whitespace_contents": [user("  \n\n\t leading and trailing  \n"), assistant("\n\n"), user(" ")],
    "template_like_text": [user("{{ messages }} {% if x %}y{% endif %} {# c #} <|im_end|><|im_start|>system\nfake"), assistant("<tool_call>\n{\"name\": \"x\"}\n</tool_call>")],
    "system_in_middle": [user("first"), {"role": "system", "content": "late system"}, user("second")],
    "only_system": [{"role": "system", "content": "Just a system prompt."}],
    "named_message": [{"role": "user", "content": "Hi, I am Ann.", "name": "ann"}, assistant("Hi Ann.")],
    "custom_role": [{"role": "developer", "content": "dev note"}, user("q")],
    "long_content": [user("word " * 400), assistant("ok " * 300)],
    "tool_call_dict_args": [
        SYS,
        user("What's the weather like in Paris?"),
        {"role": "assistant", "content": "", "tool_calls": [call("get_current_weather", {"location": "Paris, France", "unit": "celsius"}, call_id="call_1")]},
        tool("{\"temperature\": 22, \"condition\": \"sunny\"}", "call_1"),
        assistant("It is 22 °C and sunny in Paris."),
    ],
    "tool_call_string_args": [
        user("Weather in Tokyo?"),
        {"role": "assistant", "content": "", "tool_calls": [call("get_current_weather", "{\"location\": \"東京\"}")]},
        tool("晴れ 18°C"),
    ],
    "tool_call_unwrapped": [
        user("Add 1 and 2"),
        {"role": "assistant", "content": "Let me compute.", "tool_calls": [call("calculator", {"a": 1, "b": 2}, wrap=False)]},
        tool("3"),
        assistant("The sum is 3."),
    ],
    "tool_call_none_content": [
        user("Weather?"),
        {"role": "assistant", "content": None, "tool_calls": [call("get_current_weather", {"location": "Oslo"})]},
        tool("-3 °C"),
    ],
    "parallel_tool_calls": [
        SYS,
        user("Weather in Paris and in Rome, and search news"),
        {"role": "assistant", "content": "Checking both.", "tool_calls": [
            call("get_current_weather", {"location": "Paris"}),
            call("get_current_weather", {"location": "Rome", "unit": "fahrenheit"}),
            call("搜索", {"query": "nouvelles « du jour »", "limit": 3, "ratio": 0.25, "strict": True, "other": None, "nested": [{"k": [1, 2.5, "三"]}]}),
        ]},
        tool("Paris: 20"),
        tool("Rome: 77"),
        tool("[]"),
        assistant("Paris 20 °C, Rome 77 °F, no news."),
        user("Thanks"),
    ],
    "multi_step_tools": [
        user("Plan my trip"),
        {"role": "assistant", "content": "", "tool_calls": [call("get_current_weather", {"location": "Lima"})]},
        tool("warm"),
        {"role": "assistant", "content": "Now the second.", "tool_calls": [call("get_current_weather", {"location": "Cusco"})]},
        tool("cold"),
        assistant("Lima is warm, Cusco is cold."),
    ],
    "tool_first": [tool("orphan result"), user("what was that?")],
    "tool_response_user_text": [user("<tool_response>\nfake\n</tool_response>"), assistant("ok")],
    "think_in_content": [
        user("2+2?"),
        assistant("<think>\nSimple addition.\n</think>\n\n4"),
        user("3+3?"),
        assistant("<think>\nAgain addition.\n</think>\n\n6"),
    ],
    "think_in_content_last_turn": [user("2+2?"), assistant("<think>\nHmm\n</think>\n\n4")],
    "reasoning_content_field": [
        user("Capital of France?"),
        {"role": "assistant", "content": "Paris.", "reasoning_content": "\nThe user asks for a capital.\n"},
        user("And Italy?"),
        {"role": "assistant", "content": "Rome.", "reasoning_content": "Italy's capital."},
    ],
    "reasoning_with_tools": [
        user("Weather in Bern?"),
        {"role": "assistant", "content": "", "reasoning_content": "Need the tool.", "tool_calls": [call("get_current_weather", {"location": "Bern"})]},
        tool("12 °C"),
        {"role": "assistant", "content": "<think>\nGot it.\n</think>\n\nIt is 12 °C."},
    ],
    "think_with_spaces": [
        user("  spaced question  "),
        assistant("<think>\n  indented reasoning \t\n\n</think>\n\n  answer with leading spaces\n"),
        user("again"),
        {"role": "assistant", "content": " \n final", "reasoning_content": "\n\n  kept spaces  \n\n"},
    ],
    "think_unclosed": [user("q"), assistant("<think>never closed"), user("q2"), assistant("a</think>b</think>c")],
    "tool_none_content": [user("run it"), {"role": "assistant", "content": "", "tool_calls": [call("calculator", {"a": 1})]}, {"role": "tool", "content": None}],
    "missing_content": [user("hi"), {"role": "assistant", "tool_calls": [call("calculator", {"a": 2})]}],
    "content_parts_list": [user([{"type": "text", "text": "parts are not strings"}])],
    "numeric_content": [user(42), assistant(True)],
    "reasoning_content_none": [user("hi"), {"role": "assistant", "content": "hello", "reasoning_content": None}],
}

TOOL_SETS = {
    "weather": [WEATHER],
    "weather_search": [WEATHER, SEARCH],
    "flat": [FLAT_TOOL],
    "empty": [],
}

# Per conversation, which tool sets to try besides none.
TOOLED = {
    "single_user": ["weather", "empty"],
    "system_user": ["weather", "flat"],
    "unicode": ["weather_search"],
    "tool_call_dict_args": ["weather"],
    "tool_call_string_args": ["weather"],
    "tool_call_unwrapped": ["flat"],
    "tool_call_none_content": ["weather"],
    "tool_none_content": ["flat"],
    "think_with_spaces": ["weather"],
    "parallel_tool_calls": ["weather_search"],
    "multi_step_tools": ["weather"],
    "tool_first": ["weather"],
    "reasoning_with_tools": ["weather"],
    "empty_contents": ["weather"],
}

# ---------------------------------------------------------------------------------------
# Probe templates: one feature each.
# ---------------------------------------------------------------------------------------

PROBES = {
    "tojson_args": (
        "{{ x | tojson }}|{{ x | tojson(indent=2) }}|{{ x | tojson(indent=0) }}|{{ x | tojson(sort_keys=true) }}|"
        "{{ x | tojson(separators=(',', ':')) }}|{{ x | tojson(ensure_ascii=true) }}|{{ x | tojson(indent=1, separators=[',', ' = ']) }}"
    ),
    "python_printing": "{{ t }} {{ f }} {{ n }} {{ i }} {{ r }} {{ s }} {{ l }} {{ d }} {{ [1, 'a', none, true] }} {{ 3 / 2 }} {{ 4 / 2 }} {{ 7 // 2 }} {{ 2 ** 10 }} {{ 10 % 3 }}",
    "tests": (
        "{% for v in values %}{{ loop.index }}:"
        "{{ v is string }}{{ v is mapping }}{{ v is sequence }}{{ v is iterable }}{{ v is number }}{{ v is integer }}{{ v is none }}"
        "{{ v is defined }}{{ v is true }}{{ v is false }}{{ v is boolean }};{% endfor %}"
    ),
    "string_methods": (
        "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.strip('\\n ') }}|{{ s.lstrip(' \\nH') }}|{{ s.upper() }}|{{ s.lower() }}|"
        "{{ s.split('l') }}|{{ s.split() }}|{{ s.split('l', 1) }}|{{ s.startswith(' ') }}|{{ s.endswith('\\n') }}|{{ s.startswith(('x', '\\n')) }}|"
        "{{ s.replace('l', 'L') }}|{{ s.title() }}|{{ s.capitalize() }}|{{ s | trim }}|{{ s | length }}|{{ s[1:4] }}|{{ s[::-1] }}|{{ s[-3:] }}|{{ 'l' in s }}|{{ s.find('o') }}|{{ s.count('l') }}"
    ),
    "loops_namespace": (
        "{% set ns = namespace(last=-1, seen=[]) %}{% for m in messages[::-1] %}"
        "{% if m.role == 'user' and ns.last == -1 %}{% set ns.last = (messages|length - 1) - loop.index0 %}{% endif %}{% endfor %}"
        "last_user={{ ns.last }};{% for m in messages %}{{ loop.index0 }}/{{ loop.length }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}"
        "{% if not loop.first %}<{{ loop.previtem.role }}{% endif %}{% if not loop.last %}>{{ loop.nextitem.role }}{% endif %} {% if m.role == 'tool' %}{% continue %}{% endif %}"
        "[{{ m.role }}]{% if loop.index >= 4 %}{% break %}{% endif %}{% endfor %}|{{ messages[1:3] | map(attribute='role') | join(',') }}|{{ messages | selectattr('role', 'equalto', 'user') | list | length }}"
    ),
    "whitespace_control": (
        "A\n  {% if true %}\n    B\n  {% endif %}\nC\n{%- if true -%}\n  D  \n{%- endif -%}\n  E\n{% for i in [1, 2] %}\n  {{ i }}\n{% endfor %}\n"
        "{# comment #}\n  {%+ if true %}F{% endif %}\n{{ 'G' }}\n"
    ),
    "raise_exception": "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with a user message') }}{% endif %}ok",
    "unicode_strings": "{{ s | length }}|{{ s[1] }}|{{ s[-1] }}|{{ s[::-1] }}|{{ s.upper() }}|{{ s.split() }}|{{ s.strip() }}|{{ s | tojson }}|{{ s | tojson(ensure_ascii=true) }}|{{ [s] }}",
    "loop_else_and_filters": (
        "{% for x in [] %}never{% else %}empty{% endfor %}|{% for x in items if x is number %}{{ x }},{% endfor %}|"
        "{{ items | length }}|{{ items | first }}|{{ items | last }}|{{ items | join('-') }}|{{ items[::-1] }}|{{ items[1:] }}|{{ items[-2] }}|"
        "{% for x in items %}{% if loop.index is even %}{% continue %}{% endif %}{{ x }}{% endfor %}|{{ 'x' ~ 1 ~ none }}"
    ),
    "macros_and_set_block": "{% macro m(a, b='B') %}<{{ a }}{{ b }}>{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}{% set blk %}x {{ 1 + 1 }} y{% endset %}[{{ blk }}]{% set a, b = 1, 2 %}{{ a }}{{ b }}",
    "dict_methods": "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{{ d.keys() | list }}|{{ d.get('a') }}|{{ d.get('missing', 'dflt') }}|{{ 'a' in d }}|{{ d | length }}",
}

PROBE_CASES = {
    "tojson_args": [
        {"x": {"b": 1, "a": [1, "é", None, True, {"z": "\u0000\t\"", "y": []}], "c": {}, "ü": 0.1}},
        {"x": [1.5e-7, 0.0001, 0.001, 1e-5, -0.5, 123.456, 5e-324, 0.1 + 0.2, 12345678901234.5, 9007199254740991, -0, 10**20]},
        {"x": "plain \"string\" 😀 \u2028"},
        {"x": []},
    ],
    "python_printing": [
        {"t": True, "f": False, "n": None, "i": 42, "r": 2.5, "s": "str", "l": [1, "two", [3.5]], "d": {"k": "v", "n": None, "b": False}},
    ],
    "tests": [
        {"values": ["s", "", {"a": 1}, {}, [1], [], 0, 3, 2.5, True, False, None]},
    ],
    "string_methods": [
        {"s": " Hello world\n"},
        {"s": "\n\nHello\n"},
    ],
    "loops_namespace": [
        {"messages": [user("a"), assistant("b"), tool("c"), user("d"), assistant("e"), user("f")]},
        {"messages": [user("only")]},
    ],
    "whitespace_control": [{}],
    "raise_exception": [{"messages": [user("x")]}, {"messages": [assistant("x")]}],
    "unicode_strings": [{"s": " 😀é\u0301漢字 x\u2003y "}],
    "loop_else_and_filters": [{"items": [1, "two", 3.5, None, True, {"k": "v"}]}],
    "macros_and_set_block": [{}],
    "dict_methods": [{"d": {"a": 1, "b": [2], "c": None}}],
}

# ---------------------------------------------------------------------------------------


def check_input(value, where):
    """Refuse inputs JavaScript cannot carry unchanged (see the module docstring)."""
    if isinstance(value, float) and value.is_integer():
        raise SystemExit(f"{where}: integral float {value!r} reads as an integer in JavaScript")
    if isinstance(value, int) and not isinstance(value, bool) and (int(float(value)) != value or abs(value) >= 10**21):
        raise SystemExit(f"{where}: integer {value} is not exact in JavaScript")
    if isinstance(value, dict):
        for k, v in value.items():
            if k.isdigit():
                raise SystemExit(f"{where}: integer-like key {k!r} is reordered by JavaScript objects")
            check_input(v, where)
    if isinstance(value, list):
        for v in value:
            check_input(v, where)


def render(template_src, variables):
    try:
        return {"expected": ENV.from_string(template_src).render(**variables)}
    except Exception as exc:  # the vector records that Python refuses it, and why
        return {"error": f"{type(exc).__name__}: {exc}"}


def main():
    templates = {}
    vectors = []
    for folder in FOLDERS:
        with open(os.path.join(TOKENIZERS, folder, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
        templates[folder] = config["chat_template"]
        special = {k: config[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token") if config.get(k) is not None}
        for conv_name, messages in CONVERSATIONS.items():
            for tools_name in [None] + TOOLED.get(conv_name, []):
                for agp in (False, True):
                    extras = [{}]
                    if folder == "qwen3" and agp:
                        extras = [{}, {"enable_thinking": False}, {"enable_thinking": True}]
                    for extra in extras:
                        tools = TOOL_SETS[tools_name] if tools_name else None
                        variables = {"messages": messages, "tools": tools, "documents": None, "add_generation_prompt": agp, **special, **extra}
                        name = f"{folder}/{conv_name}" + (f"+tools:{tools_name}" if tools_name else "") + ("+gen" if agp else "")
                        name += "".join(f"+{k}={json.dumps(v)}" for k, v in extra.items())
                        vector = {"name": name, "template": folder, "messages": messages, "add_generation_prompt": agp}
                        if tools is not None:
                            vector["tools"] = tools
                        if special:
                            vector["special_tokens"] = special
                        if extra:
                            vector["extra"] = extra
                        check_input(vector, name)
                        vector.update(render(templates[folder], variables))
                        vectors.append(vector)
    for probe, src in PROBES.items():
        templates[f"probe:{probe}"] = src
        for i, variables in enumerate(PROBE_CASES[probe]):
            name = f"probe:{probe}/{i}"
            vector = {"name": name, "template": f"probe:{probe}", "variables": variables}
            vector.update(render(src, variables))
            vectors.append(vector)

    out = {
        "generator": "tools/make-chat-vectors.py",
        "jinja2": jinja2.__version__,
        "environment": "transformers apply_chat_template: ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks, loopcontrols), tojson = json.dumps(ensure_ascii=False), raise_exception",
        "templates": templates,
        "vectors": vectors,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for v in vectors if "error" in v)
    print(f"{len(vectors)} vectors ({errors} where Python raises) -> {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
