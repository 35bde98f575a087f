"""Starts one `jeton serve` on the default model for the API tests."""
import json
import os
import subprocess
import time
import urllib.request

import sys

import pytest

# Paths and ports come from the operations tests' helper, so both suites start servers alike:
# `jeton serve --port 0`, and the port the kernel gave it is read back from its log.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ops"))
from jeton_process import JETON, ROOT, log_file, start_serve  # noqa: E402,F401  (JETON: used by test modules)


class Server:
    def __init__(self, extra=(), model="default", env=None):
        self.log_path = log_file("api-server-")
        env = dict(os.environ, **env) if env else None
        self.proc, self.port = start_serve(["--model", model, "--cache-tokens", "8192", *extra], self.log_path, env=env)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jeton serve exited with {self.proc.returncode}; see {self.log_path}")
            try:
                # /ready, not /health: the model loads after the port opens (503 until then).
                with urllib.request.urlopen(self.base + "/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError("jeton serve did not become ready in 120 s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def request(self, method, path, body=None, headers=None, raw=None):
        """Returns (status, headers, parsed JSON or text)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                status, hdrs, text = r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            status, hdrs, text = e.code, dict(e.headers), e.read().decode()
        try:
            return status, hdrs, json.loads(text)
        except ValueError:
            return status, hdrs, text


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _server_alive(request):
    """Fails a test at once, with the end of the server log, if the shared server has exited
    (a crash, or a signal from outside)."""
    if "server" not in request.fixturenames and "client" not in request.fixturenames:
        yield
        return
    s = request.getfixturevalue("server")
    if s.proc.poll() is not None:
        pytest.fail(f"jeton serve exited with {s.proc.returncode}; log tail:\n" + open(s.log_path).read()[-2000:])
    yield


@pytest.fixture(scope="session")
def short_server():
    """SmolLM2 with a 512-token context: answers that fill the context, kept short to run."""
    s = Server(extra=["--context-length", "512"])
    yield s
    s.stop()


@pytest.fixture(scope="session")
def qwen_server():
    """Qwen2.5-Coder-1.5B, whose chat template renders tools (CI pulls it: scripts/test.sh)."""
    s = Server(model="qwen2.5-coder-1.5b")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def qwen_client(qwen_server):
    from openai import OpenAI
    return OpenAI(base_url=qwen_server.base + "/v1", api_key="unused", max_retries=0, timeout=300)


@pytest.fixture(scope="session")
def client(server):
    from openai import OpenAI
    return OpenAI(base_url=server.base + "/v1", api_key="unused", max_retries=0, timeout=120)


def reference(name):
    with open(os.path.join(ROOT, "Tests", "ModelTests", "Fixtures", name)) as f:
        if name.endswith(".jsonl"):
            return [json.loads(l) for l in f if l.strip()]
        return json.load(f)


# ---------------------------------------------------------------------------
# Helpers shared by the API tests.

import http.client  # noqa: E402

PROMPT = "The capital of France is"
CHAT = [{"role": "user", "content": "What is the capital of France?"}]


def raw_post(server, path, body, headers=None, timeout=120):
    """POST with http.client; returns (status, lower-case headers, body text). Chunked bodies are de-chunked."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request("POST", path, body=json.dumps(body).encode(), headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        conn.close()


def parse_sse(text):
    """Checks the SSE framing (`data: ...` events, each ended by a blank line) and returns the
    decoded events; the final `[DONE]` is returned as the string "[DONE]"."""
    assert text.endswith("\n\n"), f"stream does not end with a blank line: {text[-80:]!r}"
    events = []
    for block in text[:-2].split("\n\n"):
        assert block.startswith("data: "), f"not an SSE data event: {block[:80]!r}"
        assert "\n" not in block, f"an event spans several lines: {block[:120]!r}"
        payload = block[len("data: "):]
        events.append(payload if payload == "[DONE]" else json.loads(payload))
    assert events and events[-1] == "[DONE]", "the stream does not end with data: [DONE]"
    assert events.count("[DONE]") == 1
    return events


def sse(server, path, body):
    """A streamed request over raw HTTP: (status, headers, events)."""
    status, headers, text = raw_post(server, path, body)
    assert status == 200, (status, text[:300])
    return status, headers, parse_sse(text)


def tokenize(server, **body):
    status, _, data = server.request("POST", "/tokenize", body)
    assert status == 200, data
    return data


def assert_healthy(server):
    assert server.proc.poll() is None, f"jeton serve died; see {server.log_path}"
    status, _, data = server.request("GET", "/health")
    assert status == 200 and data["status"] == "ok", data


def assert_error(data, headers, status, want_status, want_type, want_param, want_code=None):
    assert status == want_status, (status, data)
    assert isinstance(data, dict) and set(data) == {"error"}, data
    err = data["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"], err
    assert err["type"] == want_type, err
    assert err["param"] == want_param, err
    if want_code is not None:
        assert err["code"] == want_code, err
    ct = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    assert ct.startswith("application/json"), ct
    return err
