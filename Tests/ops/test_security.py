"""API keys, per-key rate limits and concurrency, CORS."""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from jeton_process import JETON, JetonProcess

KEY_A = "team-a:sk-alpha-0123456789"
KEY_B = "team-b:sk-bravo-0123456789"


def wait_for(condition, seconds=5):
    deadline = time.time() + seconds
    while time.time() < deadline and not condition():
        time.sleep(0.1)
    return condition()


def bearer(entry):
    return {"Authorization": "Bearer " + entry.split(":", 1)[1]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = JetonProcess("--model", "default", "--api-key", KEY_A, "--api-key", KEY_B, "--cache-tokens", "4096",
                     env={"JETON_RATE_LIMITS_REQUESTS_PER_MINUTE": "60", "JETON_RATE_LIMITS_MAX_CONCURRENT": "1",
                          "JETON_CORS_ALLOWED_ORIGINS": "https://app.example"})
    yield s
    s.stop()


BODY = {"model": "default", "prompt": "Hello", "max_tokens": 2}


def test_missing_and_wrong_key_get_401(server):
    status, headers, body = server.request("POST", "/v1/completions", BODY)
    assert status == 401
    err = json.loads(body)["error"]
    assert err["type"] == "authentication_error"
    status, _, body = server.request("POST", "/v1/completions", BODY, {"Authorization": "Bearer sk-wrong-key-000"})
    assert status == 401 and json.loads(body)["error"]["type"] == "authentication_error"
    assert server.request("POST", "/tokenize", {"content": "x"})[0] == 401
    assert server.request("GET", "/v1/models")[0] == 401
    # OPTIONS that is not a CORS preflight is no way around the key: its Allow would list the routes.
    for path in ("/v1/completions", "/v1/no-such-route"):
        assert server.request("OPTIONS", path)[0] == 401, path
        # A preflight from an origin CORS does not allow is no way around it either.
        assert server.request("OPTIONS", path, headers={"Origin": "https://evil.example",
                                                        "Access-Control-Request-Method": "POST"})[0] == 401, path
    # Run-time LoRA loading is off here: the key is asked for first, then the 403 says why.
    assert server.request("POST", "/v1/load_lora_adapter", {"lora_name": "a", "lora_path": "/x"})[0] == 401
    status, _, body = server.request("POST", "/v1/unload_lora_adapter", {"lora_name": "a"}, bearer(KEY_A))
    assert status == 403 and json.loads(body)["error"]["code"] == "lora_admin_disabled", body


def raw_exchange(port, head, body=b"", wait=2.0):
    """Sends a raw request head (and body), returns what came back within `wait` seconds of quiet."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    s.sendall(head + body)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out


def test_a_large_or_100_continue_body_without_a_key_is_refused_unread(server):
    """RFC 9110 §10.1.1: the 401 comes before 100 Continue, and before a large body is sent, so an
    unauthenticated client cannot make the server hold request bodies."""
    before = server.request("GET", "/metrics")[2]
    waiting = raw_exchange(server.port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                        b"Expect: 100-continue\r\nContent-Length: 40\r\n\r\n")
    assert waiting.startswith(b"HTTP/1.1 401 "), waiting[:80]
    assert b"100 Continue" not in waiting
    assert b"authentication_error" in waiting and b"WWW-Authenticate: Bearer" in waiting
    large = raw_exchange(server.port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                      b"X-Request-Id: refused-unread-7\r\n"
                                      b"Origin: https://app.example\r\nContent-Length: 3000000\r\n\r\n")
    assert large.startswith(b"HTTP/1.1 401 "), "answered from the head, the 3 MB never sent"
    assert b"Access-Control-Allow-Origin: https://app.example" in large, "a browser can read the 401"
    assert b"X-Request-Id: refused-unread-7" in large
    # Its access-log line, as any answered request has.
    assert wait_for(lambda: any("refused-unread-7" in line and "POST /v1/completions 401" in line
                                for line in server.output().splitlines())), server.output()[-2000:]
    # With the key the go-ahead comes and the request is served.
    key = bearer(KEY_A)["Authorization"].encode()
    body = json.dumps(BODY).encode()
    served = raw_exchange(server.port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                       b"Connection: close\r\nAuthorization: " + key + b"\r\nContent-Length: "
                                       + str(len(body)).encode() + b"\r\n\r\n", body, wait=60)
    assert served.startswith(b"HTTP/1.1 200 "), served[:80]
    after = server.request("GET", "/metrics")[2]

    def refused(text):
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("jeton_http_rejected_total{") and 'status="401"' in line)
    assert refused(after) - refused(before) == 2


def test_operations_stay_public(server):
    assert server.request("GET", "/health")[0] == 200
    assert server.request("GET", "/ready")[0] == 200
    assert server.request("GET", "/metrics")[0] == 200


def test_right_key_with_openai_client(server):
    from openai import OpenAI
    client = OpenAI(base_url=server.base + "/v1", api_key=KEY_A.split(":", 1)[1], max_retries=0)
    r = client.completions.create(model="default", prompt="Hello", max_tokens=2)
    assert r.choices[0].finish_reason in ("length", "stop")
    # Key names reach the token counters; keys themselves never appear.
    text = server.request("GET", "/metrics")[2]
    assert 'key="team-a"' in text
    assert "sk-alpha" not in text and "sk-alpha" not in server.output()


def test_concurrency_limit_is_per_key(server):
    # team-a holds its one slot with a long stream; team-b is still served.
    import urllib.request
    body = json.dumps({"model": "default", "prompt": "Long", "max_tokens": 200, "ignore_eos": True, "stream": True}).encode()
    req = urllib.request.Request(server.base + "/v1/completions", data=body,
                                 headers={"Content-Type": "application/json", **bearer(KEY_A)})
    stream = urllib.request.urlopen(req, timeout=120)
    stream.readline()
    try:
        status, headers, text = server.request("POST", "/v1/completions", BODY, bearer(KEY_A))
        assert status == 429
        assert int(headers["Retry-After"]) >= 1
        assert json.loads(text)["error"]["type"] == "rate_limit_error"
        assert server.request("POST", "/v1/completions", BODY, bearer(KEY_B))[0] == 200
    finally:
        stream.close()


def test_requests_per_minute_then_served_again():
    s = JetonProcess("--model", "default", "--api-key", KEY_A, "--cache-tokens", "2048",
                     env={"JETON_RATE_LIMITS_REQUESTS_PER_MINUTE": "120"})
    try:
        codes, retry = [], None
        for _ in range(125):
            status, headers, _ = s.request("GET", "/v1/models", headers=bearer(KEY_A))
            codes.append(status)
            if status == 429:
                retry = int(headers["Retry-After"])
                break
        assert codes[-1] == 429 and all(c == 200 for c in codes[:-1])
        assert len(codes) >= 120 and retry >= 1
        time.sleep(retry + 0.1)
        assert s.request("GET", "/v1/models", headers=bearer(KEY_A))[0] == 200
    finally:
        s.stop()


def test_cors_preflight(server):
    status, headers, _ = server.request("OPTIONS", "/v1/chat/completions", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "authorization" in headers["Access-Control-Allow-Headers"].lower()
    # A foreign origin gets no CORS grant.
    status, headers, _ = server.request("OPTIONS", "/v1/chat/completions", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in headers
    status, headers, _ = server.request("GET", "/health", headers={"Origin": "https://app.example"})
    assert headers.get("Access-Control-Allow-Origin") == "https://app.example"


def test_cors_varies_by_origin_and_covers_transport_errors(server):
    # Any answer, granted or not, varies by Origin while the list names origins (shared caches).
    for origin in (None, "https://evil.example", "https://app.example"):
        status, headers, _ = server.request("GET", "/health", headers={"Origin": origin} if origin else {})
        assert headers.get("Vary") == "Origin", (origin, headers)
        assert ("Access-Control-Allow-Origin" in headers) == (origin == "https://app.example")
    # The HTTP layer's own refusals (here a 413 from the head) carry the grant, so a browser app reads the status.
    key = bearer(KEY_A)["Authorization"].encode()
    big = raw_exchange(server.port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                    b"Authorization: " + key + b"\r\nOrigin: https://app.example\r\n"
                                    b"Content-Length: 900000000\r\n\r\n")
    assert big.startswith(b"HTTP/1.1 413 "), big[:80]
    assert b"Access-Control-Allow-Origin: https://app.example" in big
    # Without a key the 401 comes first: the body limit is no business of an unknown client.
    anonymous = raw_exchange(server.port, b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                          b"Origin: https://app.example\r\nContent-Length: 900000000\r\n\r\n")
    assert anonymous.startswith(b"HTTP/1.1 401 "), anonymous[:80]
    assert b"Access-Control-Allow-Origin: https://app.example" in anonymous


def test_cors_origins_are_normalized_or_refused_at_start_up():
    s = JetonProcess("--model", "default", "--cache-tokens", "2048",
                     env={"JETON_CORS_ALLOWED_ORIGINS": "HTTPS://App.Example:443/"})
    try:
        _, headers, _ = s.request("GET", "/health", headers={"Origin": "https://app.example"})
        assert headers.get("Access-Control-Allow-Origin") == "https://app.example"
    finally:
        s.stop()
    for bad in ("app.example", "https://app.example/path", "ftp://app.example"):
        r = subprocess.run([JETON, "serve", "--port", "0", "--model", "default"], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, JETON_CORS_ALLOWED_ORIGINS=bad))
        assert r.returncode != 0, bad
        assert "is not an origin" in r.stdout + r.stderr, (bad, r.stdout[-500:], r.stderr[-500:])


def key_file_server(tmp_path, text):
    """A server reading its keys from a file holding `text`: (the file, the server)."""
    f = tmp_path / "keys"
    f.write_text(text)
    return f, JetonProcess("--model", "default", "--api-key-file", str(f), "--cache-tokens", "2048")


def test_key_file_reloads_on_sighup(tmp_path):
    f, s = key_file_server(tmp_path, "# team keys\nteam-c:sk-charlie-0123456789\n")
    try:
        assert s.request("GET", "/v1/models", headers={"Authorization": "Bearer sk-charlie-0123456789"})[0] == 200
        f.write_text("team-d:sk-delta-0123456789\n")
        s.signal(signal.SIGHUP)
        wait_for(lambda: s.request("GET", "/v1/models", headers={"Authorization": "Bearer sk-delta-0123456789"})[0] == 200)
        assert s.request("GET", "/v1/models", headers={"Authorization": "Bearer sk-delta-0123456789"})[0] == 200
        assert s.request("GET", "/v1/models", headers={"Authorization": "Bearer sk-charlie-0123456789"})[0] == 401
    finally:
        s.stop()


def test_an_emptied_key_file_keeps_the_old_keys(tmp_path):
    # A reload that finds no key (emptied, or comments only) must not open the server.
    f, s = key_file_server(tmp_path, "team-e:sk-echo-0123456789\n")
    try:
        for reloads, text in enumerate(["", "# nobody\n"], start=1):
            f.write_text(text)
            s.signal(signal.SIGHUP)
            assert wait_for(lambda: s.output().count("holds no key") == reloads)
            assert s.request("GET", "/v1/models")[0] == 401
            assert s.request("GET", "/v1/models", headers={"Authorization": "Bearer sk-echo-0123456789"})[0] == 200
    finally:
        s.stop()


def test_keys_that_would_open_the_server_are_refused_at_start(tmp_path):
    # An empty --api-key (an unset shell variable) or a key file without keys is an error, not
    # a server without authentication.
    empty = tmp_path / "keys"
    empty.write_text("# no keys yet\n")
    import os
    cases = [(["--api-key", ""], {}), (["--api-key", " "], {}), (["--api-key-file", str(empty)], {}),
             (["--api-key-file", ""], {}), ([], {"JETON_AUTH_API_KEYS": ""}), ([], {"JETON_AUTH_KEY_FILE": " "})]
    for args, env in cases:
        r = subprocess.run([JETON, "serve", "--model", "default", "--port", "0", *args],
                           capture_output=True, text=True, timeout=120, env=dict(os.environ, **env))
        assert r.returncode != 0, (args, env)
        out = r.stderr + r.stdout
        assert "empty value" in out or "holds no key" in out or "set but empty" in out, (args, env, r.stderr[-500:])


def test_a_key_holding_a_comma_is_one_key():
    s = JetonProcess("--model", "default", "--api-key", "team:abcdefgh,ijklmnop", "--cache-tokens", "2048")
    try:
        assert s.request("GET", "/v1/models", headers={"Authorization": "Bearer abcdefgh,ijklmnop"})[0] == 200
        assert s.request("GET", "/v1/models", headers={"Authorization": "Bearer abcdefgh"})[0] == 401
        assert s.request("GET", "/v1/models", headers={"Authorization": "Bearer ijklmnop"})[0] == 401
    finally:
        s.stop()
