"""Prompt-lookup speculation through the HTTP API: greedy answers are token-for-token those of
the same server without speculation (per-request opt-out), /metrics counts proposals, and each
request's access log line carries its own acceptance."""
import re
import time

import pytest

from conftest import Server

PROMPTS = [
    "Repeat exactly: the quick brown fox jumps over the lazy dog. the quick brown fox jumps over the lazy dog. the quick",
    "def square(x):\n    return x * x\n\ndef square(x):\n    return x * x\n\ndef square(",
    "one two three four one two three four one two",
    "The capital of France is",
    "Write a short poem about the sea.",
]


@pytest.fixture(scope="module")
def spec_server():
    s = Server(extra=["--speculative", "ngram"])
    yield s
    s.stop()


def complete(server, prompt, **extra):
    body = {"model": "default", "prompt": prompt, "max_tokens": 40, "temperature": 0, "logprobs": 0, **extra}
    status, _, r = server.request("POST", "/v1/completions", body)
    assert status == 200, r
    return r["choices"][0]


def metric(server, name):
    _, _, text = server.request("GET", "/metrics")
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf'{name}\{{[^}}]*method="ngram"[^}}]*\}} ([0-9.e+]+)', line)
        if m:
            total += float(m.group(1))
    return total


def test_greedy_answers_match_without_speculation(spec_server):
    for p in PROMPTS:
        a = complete(spec_server, p)
        b = complete(spec_server, p, speculative=False)
        assert a["text"] == b["text"], p
        # Token for token: the logprobs list one entry per token, with the same ids (as text).
        assert a["logprobs"]["tokens"] == b["logprobs"]["tokens"], p
    assert metric(spec_server, "jeton_spec_proposed_tokens_total") > 0
    assert metric(spec_server, "jeton_spec_accepted_tokens_total") > 0


def test_opted_out_requests_propose_nothing(spec_server):
    before = metric(spec_server, "jeton_spec_proposed_tokens_total")
    complete(spec_server, PROMPTS[2], speculative=False)
    assert metric(spec_server, "jeton_spec_proposed_tokens_total") == before


def access_line(server, request_id, timeout=10):
    """The key=value fields of one request's access log line (text format). The line is written
    once the request's usage is known, which may be just after the client has its response."""
    deadline = time.time() + timeout
    while True:
        with open(server.log_path, errors="replace") as f:
            for line in f:
                if f" request_id={request_id} " in line and "[Jeton]" in line:
                    return dict(re.findall(r"(\w+)=(\S+)", line.split(" [Jeton] ")[0]))
        if time.time() > deadline:
            raise AssertionError(f"no access log line for {request_id} in {server.log_path}")
        time.sleep(0.1)


def request_id(headers):
    return next(v for k, v in headers.items() if k.lower() == "x-request-id")


def test_access_log_line_reports_each_requests_acceptance(spec_server):
    repetitive = PROMPTS[2]
    for extra in ({}, {"stream": True}, {"n": 2}):
        body = {"model": "default", "prompt": repetitive, "max_tokens": 40, "temperature": 0, **extra}
        status, headers, _ = spec_server.request("POST", "/v1/completions", body)
        assert status == 200
        f = access_line(spec_server, request_id(headers))
        proposed, accepted = int(f["spec_proposed"]), int(f["spec_accepted"])
        assert 0 < accepted <= proposed, (extra, f)
        assert abs(float(f["spec_acceptance"]) - accepted / proposed) < 1e-3, f
        assert int(f["completion_tokens"]) == 40 * extra.get("n", 1)
    # A chat request speculates too; one that opted out has no speculation fields at all.
    chat = {"model": "default", "messages": [{"role": "user", "content": repetitive}], "max_tokens": 30, "temperature": 0,
            "ignore_eos": True}
    status, headers, _ = spec_server.request("POST", "/v1/chat/completions", chat)
    assert status == 200
    f = access_line(spec_server, request_id(headers))
    assert int(f.get("spec_accepted", 0)) <= int(f.get("spec_proposed", 0)), f
    status, headers, _ = spec_server.request("POST", "/v1/completions",
                                             {"model": "default", "prompt": repetitive, "max_tokens": 20, "speculative": False})
    assert status == 200
    f = access_line(spec_server, request_id(headers))
    assert "completion_tokens" in f and not any(k.startswith("spec_") for k in f), f


def test_a_cancelled_streams_line_still_reports_its_tokens_and_speculation(spec_server):
    import http.client
    import json
    rid = "cancelled-stream-0123456789"
    body = {"model": "default", "prompt": PROMPTS[2], "max_tokens": 3000, "temperature": 0, "stream": True,
            "ignore_eos": True}
    c = http.client.HTTPConnection("127.0.0.1", spec_server.port, timeout=60)
    c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json", "X-Request-Id": rid})
    r = c.getresponse()
    events = 0
    while events < 12:
        line = r.fp.readline()
        events += line.startswith(b"data: {")
    import socket
    c.sock.shutdown(socket.SHUT_RDWR)  # the client leaves mid-answer
    r.close()
    c.close()
    f = access_line(spec_server, rid, timeout=20)
    assert f["status"] == "499", f
    assert 12 <= int(f["completion_tokens"]) < 3000, f
    assert 0 < int(f["spec_accepted"]) <= int(f["spec_proposed"]), f


def test_seeded_sampling_is_the_same_with_and_without_speculation(spec_server):
    # Prompt lookup draws once per emitted token from the request's stream, as a plain step does.
    for seed in (1, 2, 3):
        extra = {"temperature": 0.8, "top_p": 0.95, "seed": seed}
        assert complete(spec_server, PROMPTS[0], **extra)["text"] == complete(spec_server, PROMPTS[0], speculative=False, **extra)["text"]


def test_speculative_must_be_a_boolean(spec_server):
    status, _, r = spec_server.request("POST", "/v1/completions", {"model": "default", "prompt": "hi", "max_tokens": 2, "speculative": "yes"})
    assert status == 400, r


def test_a_draft_with_another_tokenizer_is_refused_at_start_up():
    import os
    import subprocess
    from conftest import JETON
    qwen = os.path.expanduser("~/.cache/jeton/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    if not os.path.exists(qwen):
        pytest.skip("Qwen2.5-Coder-1.5B not downloaded (jeton pull qwen2.5-coder-1.5b)")
    p = subprocess.run([JETON, "serve", "--model", qwen, "--draft-model", "default", "--port", "0"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode != 0
    assert "its tokenizer differs: pre-tokenizer smollm (the target's is qwen2)" in p.stdout + p.stderr


def test_a_draft_servers_metrics_keep_lookup_proposals_apart():
    # The model drafting for itself (its own matrices: not the Q4_0 copies a draft gets by
    # default): at temperature 0 each of the draft's proposals stands, so its counters
    # (method="draft") must show every one accepted. Prompt lookup, which proposes first where it
    # pays, has counters of its own (method="ngram").
    s = Server(extra=["--draft-model", "default"], env={"JETON_SPECULATIVE_DRAFT_QUANTIZATION": "file"})
    try:
        for p in PROMPTS:
            complete(s, p, max_tokens=48)
        _, _, text = s.request("GET", "/metrics")

        def value(name, method):
            m = re.search(rf'^{name}\{{[^}}]*method="{method}"[^}}]*\}} ([0-9.e+]+)$', text, re.M)
            assert m, (name, method)
            return float(m.group(1))

        proposed, accepted = value("jeton_spec_proposed_tokens_total", "draft"), value("jeton_spec_accepted_tokens_total", "draft")
        assert proposed > 0 and accepted == proposed, (proposed, accepted)
        assert value("jeton_spec_proposed_tokens_total", "ngram") >= value("jeton_spec_accepted_tokens_total", "ngram")
        assert value("jeton_spec_acceptance_ratio", "draft") == 1.0
    finally:
        s.stop()
