"""Speculation on a real-size pair: Qwen2.5-Coder-1.5B verifying drafts of Qwen2.5-Coder-0.5B (same
tokenizer), and prompt lookup on the 1.5B. Greedy answers to 20 prompts are token for token those
of the same server with speculation turned off per request, and proposals were accepted.
Skipped when either model is not in the cache (scripts/test.sh pulls both)."""
import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Server

MODELS = os.environ.get("JETON_MODELS", os.path.expanduser("~/.cache/jeton/models"))
FILES = ["qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"]
pytestmark = pytest.mark.skipif(not all(os.path.exists(os.path.join(MODELS, f)) for f in FILES),
                                reason="Qwen2.5-Coder 1.5B and 0.5B not pulled")

PROMPTS = [
    "def fibonacci(n):\n",
    "def is_prime(n):\n    \"\"\"Return True if n is prime.\"\"\"\n",
    "# Rename x to count:\ndef f(x):\n    x = x + 1\n    return x\n# Renamed:\ndef f(count):\n",
    "SELECT name, email FROM users WHERE",
    "The capital of France is",
    "import numpy as np\n\ndef normalize(v):\n",
    "Here is a haiku about autumn:\n",
    "class Stack:\n    def __init__(self):\n",
    "1, 2, 3, 4, 5, 6, 7, 8,",
    "The quick brown fox jumps over the lazy dog. The quick brown fox",
    "<html>\n<head>\n<title>",
    "fn main() {\n    println!(",
    "Q: What is 12 times 12?\nA:",
    "def reverse_string(s):\n    return",
    "const add = (a, b) =>",
    "Translate to French: Good morning, how are you?\n",
    "#include <stdio.h>\n\nint main(void) {\n",
    "A list of three primary colours:\n1.",
    "for i in range(10):\n    for j in range(10):\n",
    "git commit -m \"",
]


def complete(server, prompt, **extra):
    body = {"model": "default", "prompt": prompt, "max_tokens": 16, "temperature": 0, "logprobs": 0, **extra}
    status, _, r = server.request("POST", "/v1/completions", body)
    assert status == 200, r
    return r["choices"][0]


def counter(server, name):
    _, _, text = server.request("GET", "/metrics")
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}\{{[^}}]*\}} ([0-9.e+]+)$", text, re.M))


@pytest.mark.parametrize("extra", [["--draft-model", "qwen2.5-coder-0.5b"], ["--speculative", "ngram"]],
                         ids=["draft-0.5b", "ngram"])
def test_greedy_answers_match_without_speculation(extra):
    s = Server(model="qwen2.5-coder-1.5b", extra=extra)
    try:
        # Four at a time: few enough that every sequence still speculates (the scheduler stops
        # proposals only from 12 generating sequences), and results do not depend on the batch.
        with ThreadPoolExecutor(4) as pool:
            spec = list(pool.map(lambda p: complete(s, p), PROMPTS))
            plain = list(pool.map(lambda p: complete(s, p, speculative=False), PROMPTS))
        for p, a, b in zip(PROMPTS, spec, plain):
            assert a["logprobs"]["tokens"] == b["logprobs"]["tokens"], p
            assert a["text"] == b["text"], p
        assert counter(s, "jeton_spec_accepted_tokens_total") > 0
        assert counter(s, "jeton_spec_accepted_tokens_total") <= counter(s, "jeton_spec_proposed_tokens_total")
    finally:
        s.stop()
