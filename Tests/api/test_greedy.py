"""Greedy /v1/completions equals `jeton generate` on the reference prompts
(Tests/ModelTests/Fixtures/greedy.jsonl), one request per prompt and all prompts batched in one request."""
import json
import subprocess

import pytest

from conftest import JETON, reference

PROMPTS = [r["prompt"] for r in reference("greedy.jsonl")]
N = 32


@pytest.fixture(scope="module")
def cli_texts(server):
    """The text of `jeton generate --output ids --ignore-eos -n 32`, via /detokenize of its ids."""
    out = {}
    for p in PROMPTS:
        r = subprocess.run([JETON, "generate", "--model", "default", "--prompt", p, "-n", str(N), "--output", "ids",
                            "--ignore-eos"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        ids = json.loads(r.stdout.strip().splitlines()[-1])
        assert len(ids) == N
        st, _, d = server.request("POST", "/detokenize", {"tokens": ids})
        assert st == 200
        out[p] = d["content"]
    return out


def complete(server, prompt):
    # With ignore_eos the text runs past `<|im_end|>`, which /detokenize shows: the answer keeps
    # control tokens here too, so the texts compare token for token.
    st, _, r = server.request("POST", "/v1/completions", {"model": "default", "prompt": prompt, "max_tokens": N,
                                                          "temperature": 0, "ignore_eos": True,
                                                          "skip_special_tokens": False})
    assert st == 200, r
    return r


def test_greedy_batched_matches_cli(server, cli_texts):
    r = complete(server, PROMPTS)
    assert [c["index"] for c in r["choices"]] == list(range(len(PROMPTS)))
    assert r["usage"]["completion_tokens"] == N * len(PROMPTS)
    for p, c in zip(PROMPTS, r["choices"]):
        assert c["finish_reason"] == "length"
        assert c["text"] == cli_texts[p], p


@pytest.mark.parametrize("i", [0], ids=[PROMPTS[0][:24]])
def test_greedy_single_matches_cli(server, cli_texts, i):
    r = complete(server, PROMPTS[i])
    assert r["usage"]["completion_tokens"] == N and r["choices"][0]["finish_reason"] == "length"
    assert r["choices"][0]["text"] == cli_texts[PROMPTS[i]]
