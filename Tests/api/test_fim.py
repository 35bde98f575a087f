"""Fill-in-the-middle through OpenAI's `suffix` on a code model (Qwen2.5-Coder-0.5B), against
llama-server given the same prompt. Skipped when the model is not in the cache
(scripts/test.sh pulls it)."""
import os

import pytest

from conftest import Server, sse

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
