"""The README's curl examples, run as written (host and port swapped for the test server)."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, assert_healthy, parse_sse

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def readme_curls():
    text = open(os.path.join(ROOT, "README.md")).read()
    cmds = []
    for block in re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S):
        joined = block.replace("\\\n", " ")
        cmds += [l.strip() for l in joined.splitlines() if l.strip().startswith("curl ")]
    return cmds


def run(cmd, server):
    cmd = cmd.replace("http://127.0.0.1:8080", server.base).replace("http://localhost:8080", server.base)
    out = subprocess.run(["bash", "-c", cmd + " -w '\\n%{http_code} %{content_type}'"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    body, _, tail = out.stdout.rpartition("\n")
    code, _, ctype = tail.partition(" ")
    return int(code), ctype, body


def test_readme_has_the_two_examples():
    cmds = readme_curls()
    assert any("/v1/chat/completions" in c for c in cmds)
    assert any("/v1/completions" in c and '"stream": true' in c for c in cmds)
    assert all('"model": "default"' in c for c in cmds if "/v1/" in c)


def test_readme_messages_example(server):
    cmd = next(c for c in readme_curls() if "/v1/messages" in c)
    code, ctype, body = run(cmd, server)
    assert code == 200 and ctype.startswith("application/json")
    m = json.loads(body)
    assert m["type"] == "message" and m["role"] == "assistant" and m["id"].startswith("msg_")
    assert m["content"] and m["content"][0]["type"] == "text" and m["content"][0]["text"]
    assert m["stop_reason"] in ("end_turn", "max_tokens") and 0 < m["usage"]["output_tokens"] <= 32
    assert_healthy(server)


def test_readme_chat_example(server):
    cmd = next(c for c in readme_curls() if "/v1/chat/completions" in c)
    code, ctype, body = run(cmd, server)
    assert code == 200 and ctype.startswith("application/json")
    r = json.loads(body)
    assert r["object"] == "chat.completion" and r["id"].startswith("chatcmpl-")
    assert r["choices"][0]["message"]["role"] == "assistant" and r["choices"][0]["message"]["content"]
    assert r["choices"][0]["finish_reason"] in ("stop", "length")
    assert 0 < r["usage"]["completion_tokens"] <= 32
    assert_healthy(server)


def test_readme_streaming_completions_example(server):
    cmd = next(c for c in readme_curls() if "/v1/completions" in c and '"stream": true' in c)
    code, ctype, body = run(cmd, server)
    assert code == 200 and ctype.startswith("text/event-stream")
    events = parse_sse(body)
    chunks = events[:-1]
    assert chunks and all(e["object"] == "text_completion" for e in chunks)
    text = "".join(ch["text"] for e in chunks for ch in e["choices"])
    assert "Paris" in text
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert_healthy(server)


def test_curl_sees_error_envelope(server):
    out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", server.base + "/v1/completions",
                          "-H", "Content-Type: application/json", "-d", '{"model": "default"}'],
                         capture_output=True, text=True, timeout=60)
    body, _, code = out.stdout.rpartition("\n")
    assert code == "400"
    assert json.loads(body)["error"]["param"] == "prompt"
