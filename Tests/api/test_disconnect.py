"""A client that goes away aborts its generation."""
import json
import re
import socket
import time

from conftest import PROMPT, assert_healthy


def metric(server, name):
    st, _, text = server.request("GET", "/metrics")
    if st != 200 or not isinstance(text, str):
        return None
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def timed(server, n):
    t = time.time()
    st, _, r = server.request("POST", "/v1/completions", {"model": "default", "prompt": PROMPT, "max_tokens": n,
                                                          "temperature": 0, "ignore_eos": True})
    assert st == 200 and r["usage"]["completion_tokens"] == n
    return time.time() - t


def test_disconnect_aborts_generation(server):
    baseline = timed(server, 8)
    body = json.dumps({"model": "default", "prompt": PROMPT, "max_tokens": 4000, "ignore_eos": True,
                       "stream": True}).encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    buf = b""
    while buf.count(b"data: ") < 3:  # two chunks, and the start of a third
        part = s.recv(4096)
        assert part, "server closed the stream early"
        buf += part
    assert b"200 OK" in buf.split(b"\r\n")[0]
    s.close()

    if metric(server, "jeton_requests_running") is not None:
        deadline = time.time() + 5
        while metric(server, "jeton_requests_running") != 0:
            assert time.time() < deadline, "the disconnected request is still running"
            time.sleep(0.1)
        before = metric(server, "jeton_generation_tokens_total")
        time.sleep(1.0)
        assert metric(server, "jeton_generation_tokens_total") == before, "tokens are still being generated"
    after = timed(server, 8)
    assert after < 3 * baseline + 1.0, (baseline, after)
    assert_healthy(server)
    log = open(server.log_path).read()
    assert "Fatal error" not in log and "Segmentation" not in log
