"""Log lines as operators' tools read them: JSON lines that all parse, text lines that a logged
prompt cannot split or forge."""
import json
import os
import subprocess

from jeton_process import JETON, JetonProcess


def test_json_format_start_up_notes_are_json():
    # A misspelt variable (a warning) and a host that does not resolve (an error before listening).
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
    e.update({"JETON_SERVER_PROT": "1"})
    p = subprocess.run([JETON, "serve", "--port", "0", "--log-format", "json", "--host", "nonexistent.invalid"],
                       capture_output=True, text=True, timeout=120, env=e)
    assert p.returncode != 0
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    records = [json.loads(l) for l in lines]  # every line parses
    assert any(r["level"] == "warning" and "JETON_SERVER_PROT" in r["message"] for r in records), records
    assert any(r["level"] == "error" and "nonexistent.invalid" in r["message"] for r in records), records
    # A configuration error before the configuration is whole, too.
    p = subprocess.run([JETON, "serve", "--log-format", "json", "--threads=-1"], capture_output=True, text=True, timeout=60, env=e)
    assert p.returncode == 2 and json.loads(p.stderr.strip().splitlines()[-1])["message"].startswith("--threads"), p.stderr


def test_text_lines_escape_what_a_prompt_holds():
    s = JetonProcess("--model", "default", "--cache-tokens", "2048", env={"JETON_LOGGING_LOG_PROMPTS": "true"})
    try:
        forged = "Hi\n2026-12-01T00:00:00+0000 critical jeton: [Jeton] FAKE\x1b[31m"
        status, _, _ = s.request("POST", "/v1/completions", {"model": "default", "prompt": forged, "max_tokens": 2})
        assert status == 200
        out = s.output()
        assert not any(l.startswith("2026-12-01T00:00:00+0000 critical") for l in out.splitlines()), out[-1500:]
        assert "\x1b" not in out
        assert "FAKE\\u{1b}[31m" in out and "Hi\\n2026" in out, out[-1500:]
    finally:
        s.stop()


def test_json_access_lines_carry_numbers():
    """Timings and counts of a JSON access line are JSON numbers (log pipelines sum them)."""
    s = JetonProcess("--model", "default", "--log-format", "json", "--speculative", "ngram")
    try:
        status, _, _ = s.request("POST", "/v1/completions", {"model": "default", "prompt": "a b a b a b a b", "max_tokens": 12,
                                                             "temperature": 0, "stream": True})
        assert status == 200
        assert s.request("GET", "/version", headers={"X-Forwarded-For": "203.0.113.7"})[0] == 200
    finally:
        s.stop()  # every line written and flushed
    lines = [json.loads(l) for l in open(s.log_path) if l.startswith("{")]
    access = [l for l in lines if l.get("path") == "/v1/completions"]
    assert access, lines[-5:]
    a = access[-1]
    for k in ["duration_s", "ttft_s", "status", "prompt_tokens", "completion_tokens"]:
        assert isinstance(a[k], (int, float)) and not isinstance(a[k], bool), (k, a)
    assert a["duration_s"] >= a["ttft_s"] > 0, a
    # The peer's address; behind a proxy, what it forwarded.
    assert a["client"].startswith("127.0.0.1:") and "forwarded_for" not in a, a
    version = [l for l in lines if l.get("path") == "/version"][-1]
    assert version["forwarded_for"] == "203.0.113.7" and version["client"].startswith("127.0.0.1:"), version
    if "spec_acceptance" in a:
        assert isinstance(a["spec_acceptance"], (int, float)) and 0 <= a["spec_acceptance"] <= 1, a


def test_the_http_layer_s_own_refusals_have_access_lines():
    """A 413, a 431, a 505 or a framing 400 the HTTP layer answers itself has its line, with the request ID
    the client saw (only the metric counted them)."""
    import socket
    s = JetonProcess("--model", "default", "--log-format", "json")
    sent = [(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n",
             413, "/v1/completions"),
            (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n", 431, "/health"),
            (b"GET /health HTTP/2.0\r\nHost: a\r\n\r\n", 505, None),
            (b"GET /health HTTP/1.1\r\n\r\n", 400, "/health")]
    ids = []
    try:
        for raw, status, _ in sent:
            with socket.create_connection(("127.0.0.1", s.port), timeout=30) as c:
                c.sendall(raw)
                answer = b""
                while b"\r\n\r\n" not in answer:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
            head = answer.split(b"\r\n\r\n")[0].decode()
            assert head.startswith(f"HTTP/1.1 {status}"), head
            ids.append(next(l.split(":", 1)[1].strip() for l in head.split("\r\n") if l.lower().startswith("x-request-id:")))
    finally:
        s.stop()
    lines = {l.get("request_id"): l for l in (json.loads(x) for x in open(s.log_path) if x.startswith("{"))}
    for (raw, status, path), rid in zip(sent, ids):
        line = lines.get(rid)
        assert line and line["status"] == status and line["refused"] == "http" and line["code"], (rid, line)
        if path:
            assert line["path"] == path, line


def test_debug_level_logs_each_engine_step_with_its_pace():
    """logging.level debug: one JSON line per forward pass, numbers an operator can compare with
    engine.step_target_ms; at the default level none."""
    s = JetonProcess("--model", "default", "--cache-tokens", "2048", "--log-format", "json", "--log-level", "debug")
    try:
        # A prompt over 8 tokens: the pace predicts once it has seen a step of more than a few tokens.
        prompt = "Once upon a time there was a little robot who lived in a big city by the sea"
        status, _, body = s.request("POST", "/v1/completions", {"model": "default", "prompt": prompt, "max_tokens": 6,
                                                                "temperature": 0, "ignore_eos": True})
        assert status == 200
        usage = json.loads(body)["usage"]
    finally:
        s.stop()
    lines = [json.loads(l) for l in open(s.log_path) if l.startswith("{")]
    steps = [l for l in lines if l["level"] == "debug" and l["message"].startswith("step ")]
    # The prompt in one step, then one step per further token, and no other step.
    mine = steps
    assert len(mine) == usage["completion_tokens"], steps
    assert mine[0]["prompt_tokens"] == usage["prompt_tokens"] and mine[0]["tokens"] == usage["prompt_tokens"]
    for l in mine[1:]:
        assert (l["tokens"], l["sequences"], l["prompt_tokens"]) == (1, 1, 0), l
    for l in mine:
        assert isinstance(l["seconds"], (int, float)) and l["seconds"] > 0
        assert l["model"] and (l["message"].endswith(" ms") or " ms (predicted " in l["message"]), l
    assert all(isinstance(l.get("predicted_seconds"), (int, float)) and l["predicted_seconds"] > 0 for l in mine[1:]), mine

    quiet = JetonProcess("--model", "default", "--cache-tokens", "2048", "--log-format", "json")
    try:
        assert quiet.request("POST", "/v1/completions", {"model": "default", "prompt": "Hi", "max_tokens": 2})[0] == 200
    finally:
        quiet.stop()
    assert not [l for l in open(quiet.log_path) if '"debug"' in l and "step " in l]
