"""Fill-in-the-middle through OpenAI's `suffix` and llama-server's POST /infill on a code model
(Qwen2.5-Coder-0.5B), against llama-server given the same request. Skipped when the model is not in
the cache (scripts/test.sh pulls it)."""
import json
import os

import pytest

from conftest import Server, raw_post, sse

MODELS = os.environ.get("JETON_MODELS", os.path.expanduser("~/.cache/jeton/models"))
FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(MODELS, FILE)), reason="Qwen2.5-Coder 0.5B not pulled")

# llama-server (llama_cpp_python 0.3.36, the same GGUF, -t 1) given "<|fim_prefix|>" + prefix +
# "<|fim_suffix|>" + suffix + "<|fim_middle|>" on POST /completion, temperature 0, n_predict 24:
# its text and prompt token count (its `tokens_evaluated`).
REFERENCE = [
    ("def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n", "a + b\n\nprint(add(5, 3))", 21),
    ("<html>\n<head>\n  <title>", "</title>\n</head>\n",
     "My Website</title>\n</head>\n<body>\n  <h1>Welcome to My Website</h1>\n  <", 17),
]


@pytest.fixture(scope="module")
def qwen():
    s = Server(model=os.path.join(MODELS, FILE), extra=["-t", "2"])
    yield s
    s.stop()


def complete(s, **body):
    return s.request("POST", "/v1/completions", dict({"max_tokens": 24, "temperature": 0}, **body))


@pytest.mark.parametrize("prefix,suffix,text,prompt_tokens", REFERENCE)
def test_suffix_fills_the_middle_as_llama_server(qwen, prefix, suffix, text, prompt_tokens):
    st, _, d = complete(qwen, prompt=prefix, suffix=suffix)
    assert st == 200, d
    assert d["choices"][0]["text"] == text
    assert d["usage"]["prompt_tokens"] == prompt_tokens
    # Streamed, the same text.
    _, _, events = sse(qwen, "/v1/completions",
                       {"prompt": prefix, "suffix": suffix, "max_tokens": 24, "temperature": 0, "stream": True})
    assert "".join(e["choices"][0]["text"] for e in events if isinstance(e, dict) and e.get("choices")) == text


def test_the_infill_ends_at_the_models_end_of_text(qwen):
    # The first reference answer ends by itself (llama-server: stop_type eos) before 24 tokens.
    st, _, d = complete(qwen, prompt=REFERENCE[0][0], suffix=REFERENCE[0][1])
    assert d["choices"][0]["finish_reason"] == "stop" and d["usage"]["completion_tokens"] < 24


def test_suffix_errors(qwen, server):
    st, _, d = complete(qwen, prompt=[1, 2, 3], suffix="x")
    assert st == 400 and d["error"]["param"] == "prompt"
    st, _, d = complete(qwen, prompt="a", suffix="b", echo=True)
    assert st == 400 and d["error"]["param"] == "echo"
    # SmolLM2 has no fill-in-the-middle tokens.
    st, _, d = complete(server, prompt="a", suffix="b")
    assert st == 400 and d["error"]["param"] == "suffix" and d["error"]["code"] == "fim_not_supported"
    # Cut from its start, an infill prompt would lose its prefix: refused.
    st, _, d = complete(qwen, prompt="def f():\n", suffix="\n", truncate_prompt_tokens=4)
    assert st == 400 and d["error"]["param"] == "truncate_prompt_tokens"


# llama-server's POST /infill (llama_cpp_python 0.3.36, the same GGUF, -c 4096 -t 2, temperature 0,
# top_k 1): its `content` and `tokens_evaluated` (the repository-level prompt: files, prefix, prompt,
# suffix; the third has its prefix and suffix cut to llama-server's batch shares).
FIB = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n        return n\n"
FIB_AFTER = "\n\nprint(fibonacci(10))\n"
FILES = [{"filename": "utils.py", "text": "def add(a, b):\n    return a + b\n"}, {"filename": "main.py", "text": "import utils\n"}]
INFILL_REFERENCE = [
    (dict(input_prefix=FIB, input_suffix=FIB_AFTER, input_extra=FILES, prompt="    ", n_predict=24),
     "else:\n        return fibonacci(n-1) + fibonacci(n-2)\n```\n\nThis code defines a function `fib", 67, "limit"),
    (dict(input_prefix=FIB, input_suffix=FIB_AFTER, input_extra=FILES, n_predict=64, n_indent=4), "```\n", 66, "limit"),
    (dict(input_prefix="x = 1\n" * 800 + "def f():\n", input_suffix="\ny = 2\n" * 300, n_predict=8),
     "    return x\n\nx = f()\n\n", 2056, "limit"),
]


def infill(s, **body):
    return s.request("POST", "/infill", dict({"temperature": 0, "top_k": 1}, **body))


@pytest.mark.parametrize("body,content,evaluated,stop_type", INFILL_REFERENCE)
def test_infill_answers_as_llama_server(qwen, body, content, evaluated, stop_type):
    st, _, d = infill(qwen, **body)
    assert st == 200, d
    assert (d["content"], d["tokens_evaluated"], d["stop_type"]) == (content, evaluated, stop_type)
    assert d["stop"] is True and d["truncated"] is False and d["has_new_line"] == ("\n" in content)
    t = d["timings"]
    assert t["predicted_n"] == d["tokens_predicted"] > 0 and t["prompt_n"] + t["cache_n"] == evaluated
    # Streamed: `data:` events without [DONE], their content adding up to the whole, the last the answer.
    status, _, text = raw_post(qwen, "/infill", dict({"temperature": 0, "top_k": 1, "stream": True}, **body))
    assert status == 200 and text.endswith("\n\n") and "[DONE]" not in text
    events = [json.loads(block[len("data: "):]) for block in text[:-2].split("\n\n")]
    assert all(e["stop"] is False for e in events[:-1]) and events[-1]["stop"] is True
    assert "".join(e["content"] for e in events) == content and events[-1]["stop_type"] == stop_type


def test_infill_as_an_editor_plugin_asks_it(qwen):
    """llama.vscode's body: its sampler list, slot and cache fields, time limits and response_fields."""
    files = [dict(f, time=[1733590000, 123456]) for f in FILES]  # the plugins' own key in each file
    body = {"input_prefix": FIB, "input_suffix": FIB_AFTER, "input_extra": files, "prompt": "", "n_predict": 64, "n_cmpl": 1,
            "model": "my-coder", "t_max_predict_ms": -1,
            "top_k": 40, "top_p": 0.99, "stream": False, "samplers": ["top_k", "top_p", "infill"], "cache_prompt": True,
            "n_indent": 4, "t_max_prompt_ms": 500, "id_slot": -1,
            "response_fields": ["content", "timings/prompt_n", "timings/predicted_ms", "truncated", "nope/x"]}
    st, _, d = qwen.request("POST", "/infill", body)
    assert st == 200 and set(d) == {"content", "timings/prompt_n", "timings/predicted_ms", "truncated"}, d
    # Its cache warm-up: the prompt only.
    st, _, d = qwen.request("POST", "/infill", dict(body, n_predict=0, samplers=[], response_fields=[""]))
    assert st == 200, d
    st, _, d = infill(qwen, input_prefix=FIB, input_suffix=FIB_AFTER, input_extra=FILES, n_predict=0)
    assert (d["content"], d["tokens_predicted"]) == ("", 0) and d["timings"]["cache_n"] > 0


def test_infill_n_cmpl_answers_and_the_context_s_end(qwen):
    args = dict(input_prefix=FIB, input_suffix=FIB_AFTER, n_predict=12, seed=5, temperature=1.0)
    st, _, d = qwen.request("POST", "/infill", dict(args, n_cmpl=2))
    assert st == 200 and isinstance(d, list) and [a["index"] for a in d] == [0, 1], d
    # Choice i draws with seed + i: the second is the first of a request seeded one more.
    st, _, one = qwen.request("POST", "/infill", dict(args, seed=6))
    assert d[1]["content"] == one["content"]
    for a in d:
        assert a["tokens_cached"] == a["tokens_evaluated"] + a["tokens_predicted"] - 1


def test_infill_past_the_context_runs_to_its_end():
    s = Server(model=os.path.join(MODELS, FILE), extra=["-t", "2", "--context-length", "256"])
    try:
        st, _, d = s.request("POST", "/infill", {"input_prefix": FIB, "input_suffix": FIB_AFTER, "n_predict": 100000,
                                                 "ignore_eos": True, "temperature": 0})
        assert st == 200 and d["truncated"] is True and d["stop_type"] == "limit", d
        assert d["tokens_evaluated"] + d["tokens_predicted"] == 256 and d["tokens_cached"] == 255
        st, _, d = s.request("POST", "/infill", {"input_prefix": FIB, "input_suffix": FIB_AFTER, "n_predict": 4})
        assert st == 200 and d["truncated"] is False
    finally:
        s.stop()


def test_infill_time_limit_ends_at_a_new_line(qwen):
    args = dict(input_prefix=FIB, input_suffix=FIB_AFTER, input_extra=FILES, prompt="    ", n_predict=24)
    whole = infill(qwen, **args)[2]["content"]
    st, _, d = infill(qwen, t_max_predict_ms=1, **args)
    # After 1 ms, the first later token that writes a new line ends it.
    assert st == 200 and d["stop_type"] == "limit" and d["content"].endswith("\n")
    assert whole.startswith(d["content"]) and len(d["content"]) < len(whole)


def test_infill_errors(qwen, server):
    for body, param in [({"input_suffix": "x"}, "input_prefix"), ({"input_prefix": "x"}, "input_suffix"),
                        ({"input_prefix": "x", "input_suffix": "y", "input_extra": {"text": "z"}}, "input_extra"),
                        ({"input_prefix": "x", "input_suffix": "y", "input_extra": [{"filename": "a"}]}, "input_extra[0].text"),
                        ({"input_prefix": "x", "input_suffix": "y", "typical_p": 0.5}, "typical_p"),
                        ({"input_prefix": "x", "input_suffix": "y", "repeat_penalty": 20}, "repeat_penalty"),
                        ({"input_prefix": "x", "input_suffix": "y", "n_indent": -1}, "n_indent")]:
        st, _, d = qwen.request("POST", "/infill", body)
        assert st == 400 and d["error"]["param"] == param, (body, d)
    st, _, d = server.request("POST", "/infill", {"input_prefix": "a", "input_suffix": "b"})
    assert st == 400 and d["error"]["code"] == "fim_not_supported", d
    # Passed over, as llama-server passes them: fields it does not read, an adapter that is not loaded.
    st, _, d = qwen.request("POST", "/infill", {"input_prefix": "x = ", "input_suffix": "\n", "n_predict": 2, "bogus": 1,
                                                "lora": [{"id": 0, "scale": 0.5}]})
    assert st == 200, d
