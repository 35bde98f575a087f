"""nginx (deploy/nginx/jeton.conf) in front of two `jeton serve` replicas, all on
loopback: streamed tokens pass through as they are generated, X-Request-Id goes
through both ways, and a replica drained with SIGTERM under load costs no client
a failed request while it exits 0.

The committed nginx file is used as is, with only what differs here replaced:
the upstream servers (jeton-1:8080, jeton-2:8080 in compose), the listen port
and the log folder. nginx runs unprivileged-style: `nginx -p TMP -c TMP/nginx.conf
-g 'daemon off;'` with pid, logs and temp files in TMP.

Ports come from the kernel: each replica is started with `--port 0` and its port is
read back from its log; nginx is handed a socket already listening on an ephemeral
port (its `NGINX` environment variable, the way it passes sockets to a new binary
on upgrade), so no port is picked, released and hoped to be still free.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import read
from jeton_process import start_serve

PROMPTS = ["The capital of France is", "Once upon a time", "The best way to learn Swift is",
           "Water boils at", "A haiku about the sea:", "def fibonacci(n):"]


def get(port, path, timeout=5):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def tail(f, n=30):
    try:
        with open(f, errors="replace") as fh:
            return "".join(fh.readlines()[-n:])
    except OSError:
        return ""


class Replica:
    def __init__(self, name, tmp):
        self.name = name
        self.log = os.path.join(tmp, f"{name}.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
        # One forward-pass thread each: two replicas share this machine's cores.
        self.proc, self.port = start_serve(
            ["--model", "default", "--host", "127.0.0.1", "--threads", "1", "--cache-tokens", "4096",
             "--drain-timeout", "30"], self.log, env=env)

    def wait_ready(self, deadline):
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{tail(self.log)}")
            try:
                if get(self.port, "/ready", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready in time:\n{tail(self.log)}")

    def metric(self, name, **labels):
        """Sum of the samples of `name` (Prometheus text from /metrics) matching labels."""
        status, text = get(self.port, "/metrics")
        assert status == 200, text
        total = 0
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    total += s.value
        return total

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def render_nginx(tmp, nginx_port, replicas):
    conf = read("deploy", "nginx", "jeton.conf")
    subs = [("server jeton-1:8080", f"server 127.0.0.1:{replicas[0].port}"),
            ("server jeton-2:8080", f"server 127.0.0.1:{replicas[1].port}"),
            ("listen 80;", f"listen 127.0.0.1:{nginx_port};"),
            ("/var/log/nginx/", f"{tmp}/logs/")]
    for old, new in subs:
        assert old in conf, f"deploy/nginx/jeton.conf no longer has {old!r}; update this test"
        conf = conf.replace(old, new)
    for d in ("logs", "temp"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    # Workers run as `nobody` when the master is root: let them write temp files.
    os.chmod(tmp, 0o755)
    os.chmod(os.path.join(tmp, "temp"), 0o777)
    with open(os.path.join(tmp, "jeton.conf"), "w") as f:
        f.write(conf)
    main = f"""
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/logs/error.log info;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {tmp}/temp/client_body;
    proxy_temp_path {tmp}/temp/proxy;
    fastcgi_temp_path {tmp}/temp/fastcgi;
    uwsgi_temp_path {tmp}/temp/uwsgi;
    scgi_temp_path {tmp}/temp/scgi;
    include {tmp}/jeton.conf;
}}
"""
    path = os.path.join(tmp, "nginx.conf")
    with open(path, "w") as f:
        f.write(main)
    return path


class Stack:
    def __init__(self, nginx):
        self.tmp = tempfile.mkdtemp(prefix="jeton-deploy-test-")
        self.nginx_bin = nginx
        self.replicas = []
        try:
            for name in ("jeton-1", "jeton-2"):
                self.replicas.append(Replica(name, self.tmp))
        except Exception:
            for r in self.replicas:  # the ones that did start
                r.stop()
            raise
        # nginx's listening socket, bound by the kernel's choice of port and handed to nginx.
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1024)
        self.port = self.listener.getsockname()[1]
        self.conf = render_nginx(self.tmp, self.port, self.replicas)
        self.nginx = None

    def nginx_cmd(self, *extra):
        return [self.nginx_bin, "-p", self.tmp, "-c", self.conf, "-e", f"{self.tmp}/logs/error.log", *extra]

    def start(self):
        deadline = time.time() + 120
        for r in self.replicas:
            r.wait_ready(deadline)
        t = subprocess.run(self.nginx_cmd("-t"), capture_output=True, text=True)
        assert t.returncode == 0, f"nginx -t failed:\n{t.stderr}"
        fd = self.listener.fileno()
        self.nginx = subprocess.Popen(self.nginx_cmd("-g", "daemon off;"), pass_fds=(fd,),
                                      env=dict(os.environ, NGINX=f"{fd};"),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.listener.close()  # nginx has its own copy now
        while time.time() < deadline:
            assert self.nginx.poll() is None, f"nginx exited: {self.nginx.stderr.read().decode()}"
            try:
                if get(self.port, "/nginx-health", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("nginx did not start")

    def stop(self):
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
        for r in self.replicas:
            r.stop()

    def logs(self):
        out = []
        for r in self.replicas:
            out.append(f"--- {r.name} ({r.log})\n{tail(r.log, 15)}")
        out.append(f"--- nginx error log\n{tail(os.path.join(self.tmp, 'logs', 'error.log'), 15)}")
        return "\n".join(out)


@pytest.fixture(scope="module")
def stack(request, jeton_bin, nginx_bin):
    failed_before = request.session.testsfailed
    s = Stack(nginx_bin)
    try:
        s.start()
        yield s
    finally:
        s.stop()
        if request.session.testsfailed == failed_before:
            shutil.rmtree(s.tmp, ignore_errors=True)
        else:
            print(f"deploy test logs kept in {s.tmp}")


def post(port, path, body, headers=None, timeout=180):
    """Returns (status, headers dict (lowercase), body text or SSE event list with times)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        t0 = time.monotonic()
        c.request("POST", path, body=json.dumps(body), headers=h)
        r = c.getresponse()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if not body.get("stream") or r.status != 200:
            return r.status, hdrs, r.read().decode()
        events = []
        while True:
            line = r.readline()
            if not line:
                break
            line = line.decode().strip()
            if line.startswith("data: "):
                events.append((time.monotonic() - t0, line[6:]))
        return r.status, hdrs, events
    finally:
        c.close()


def test_streamed_tokens_arrive_while_generating(stack):
    body = {"model": "default", "prompt": "Once upon a time", "max_tokens": 64,
            "ignore_eos": True, "temperature": 0, "stream": True}
    status, hdrs, events = post(stack.port, "/v1/completions", body, {"X-Request-Id": "deploy-stream-1"})
    assert status == 200, (events, stack.logs())
    assert hdrs.get("content-type", "").startswith("text/event-stream")
    assert hdrs.get("x-request-id") == "deploy-stream-1"
    assert events and events[-1][1] == "[DONE]"
    tokens = [(t, json.loads(d)) for t, d in events[:-1]]
    texts = [d["choices"][0]["text"] for _, d in tokens]
    assert len([x for x in texts if x]) >= 32, texts
    first = next(t for (t, d), x in zip(tokens, texts) if x)
    total = events[-1][0]
    # Buffered by the proxy, everything would arrive at the end.
    assert first < 0.5 * total, f"first token at {first:.2f}s of {total:.2f}s: proxy buffering?"
    assert total - tokens[-1][0] < 0.5 * total
    print(f"64 tokens through nginx: first at {first:.2f}s, last at {total:.2f}s")


def test_request_id_passes_through(stack):
    body = {"model": "default", "prompt": "Hello", "max_tokens": 2, "temperature": 0}
    status, hdrs, text = post(stack.port, "/v1/completions", body, {"X-Request-Id": "deploy-client-id-42"})
    assert status == 200, text
    assert hdrs["x-request-id"] == "deploy-client-id-42"
    # Without one, nginx makes one, sends it to the replica and returns it.
    status, hdrs, text = post(stack.port, "/v1/completions", body)
    assert status == 200, text
    rid = hdrs["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
    time.sleep(0.3)
    logs = "".join(read_file(r.log) for r in stack.replicas)
    assert "deploy-client-id-42" in logs and rid in logs, "the replicas did not see nginx's X-Request-Id"


def read_file(f):
    with open(f, errors="replace") as fh:
        return fh.read()


def test_nginx_health_ready_and_metrics(stack):
    assert get(stack.port, "/nginx-health")[0] == 200
    assert get(stack.port, "/health")[0] == 200
    assert get(stack.port, "/ready")[0] == 200
    assert get(stack.port, "/metrics")[0] == 404


def test_drain_one_replica_under_load_without_failed_requests(stack):
    # 4 clients (two streaming, two not) send requests back to back for ~15 s; at
    # ~5 s one replica gets SIGTERM. Each client goes on until it has also
    # finished a request it started after the SIGTERM (slow, loaded machines).
    duration, drain_at, clients = 15.0, 5.0, 4
    results, lock = [], threading.Lock()
    stop_at = time.monotonic() + duration
    sigterm = {"at": float("inf")}

    def client(i):
        n = 0
        stream = i % 2 == 0
        while time.monotonic() < stop_at or not any(
                r[0] > sigterm["at"] and r[5] == i for r in list(results)):
            body = {"model": "default", "prompt": PROMPTS[(n + i) % len(PROMPTS)], "max_tokens": 8,
                    "ignore_eos": True, "temperature": 0.7, "stream": stream}
            t0 = time.monotonic()
            try:
                status, _, out = post(stack.port, "/v1/completions", body)
                if status != 200:
                    ok, why = False, f"HTTP {status}: {str(out)[:200]}"
                elif stream:
                    ok = bool(out) and out[-1][1] == "[DONE]" and len(out) >= 3
                    why = "" if ok else f"incomplete stream: {out[-3:]}"
                else:
                    ok = len(json.loads(out)["choices"][0]["text"]) > 0
                    why = "" if ok else f"empty completion: {out[:200]}"
            except Exception as e:  # noqa: BLE001 - every client failure counts
                ok, why = False, f"{type(e).__name__}: {e}"
            with lock:
                results.append((t0, time.monotonic(), stream, ok, why, i))
            n += 1

    victim, survivor = stack.replicas
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(drain_at)
    # One request straight to the victim, certainly in flight when SIGTERM comes:
    # it must still finish completely.
    inflight, first_token = {}, threading.Event()

    def direct():
        c = http.client.HTTPConnection("127.0.0.1", victim.port, timeout=180)
        c.request("POST", "/v1/completions", headers={"Content-Type": "application/json",
                                                      "X-Request-Id": "deploy-direct-inflight"}, body=json.dumps(
            {"model": "default", "prompt": "Once upon a time", "max_tokens": 24, "ignore_eos": True,
             "stream": True}))
        r = c.getresponse()
        events = []
        while True:
            line = r.readline()
            if not line:
                break
            if line.startswith(b"data: "):
                events.append(line[6:].strip())
                first_token.set()
        inflight.update(status=r.status, events=events)

    d = threading.Thread(target=direct, daemon=True)
    d.start()
    assert first_token.wait(60), "the direct request to the replica got no token"
    # ...and at least one request nginx sent it, so the drain is tested through nginx.
    deadline = time.monotonic() + 60
    in_flight_at_sigterm = victim.metric("jeton_requests_running")
    while in_flight_at_sigterm < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        in_flight_at_sigterm = victim.metric("jeton_requests_running")
    sigterm_at = sigterm["at"] = time.monotonic()
    victim.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=duration + 120)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    d.join(timeout=120)
    rc = victim.proc.wait(timeout=40)
    ev = inflight.get("events") or [b""]
    assert inflight.get("status") == 200 and ev[-1] == b"[DONE]" and len(ev) >= 3 \
        and json.loads(ev[-2])["choices"][0]["finish_reason"] == "length", \
        f"in-flight request cut by the drain: {inflight}\n{stack.logs()}"

    failures = [r for r in results if not r[3]]
    after = [r for r in results if r[0] > sigterm_at]
    with open(os.path.join(stack.tmp, "logs", "access.log")) as f:
        retried = [l for l in f if re.search(r"upstream_status=\S*(502|503|429)\S*, 200", l)]
    print(f"{len(results)} requests in {time.monotonic() - start:.1f}s ({len(after)} after SIGTERM), "
          f"{int(in_flight_at_sigterm)} in flight on the drained replica at SIGTERM, "
          f"{len(retried)} retried by nginx (refused: 503, or connection closed: 502), replica exit code {rc}")
    assert not failures, f"{len(failures)} failed requests: {[f[4] for f in failures[:5]]}\n{stack.logs()}"
    assert rc == 0, f"drained replica exited {rc}\n{stack.logs()}"
    assert in_flight_at_sigterm >= 2, "no request from nginx in flight on the replica at SIGTERM"
    assert {r[5] for r in after} == set(range(clients)), "a client sent nothing after SIGTERM"
    assert "drained; exiting" in read_file(victim.log)
    # The survivor still serves.
    status, _, _ = post(stack.port, "/v1/completions", {"model": "default", "prompt": "Hi", "max_tokens": 2})
    assert status == 200
    assert survivor.proc.poll() is None


def test_nginx_s_own_refusals_are_json_and_jeton_s_header_limit_passes(stack):
    """A body over client_max_body_size, a header block over nginx's buffers: OpenAI-style JSON like
    Jeton's own 413/431 (nginx's HTML page before); a 20 KiB header, which Jeton takes, passes nginx."""
    import socket
    big = "x" * (5 * 1024 * 1024)
    status, hdrs, text = post(stack.port, "/v1/completions", {"model": "default", "prompt": big, "max_tokens": 1})
    assert status == 413 and hdrs.get("content-type", "").startswith("application/json"), (status, text[:200])
    assert json.loads(text)["error"]["code"] == "body_too_large" and hdrs.get("x-request-id")
    body = {"model": "default", "prompt": "Hello", "max_tokens": 1, "temperature": 0}
    status, _, text = post(stack.port, "/v1/completions", body, {"X-Big": "y" * 20000})
    assert status == 200, text
    with socket.create_connection(("127.0.0.1", stack.port), timeout=30) as c:
        c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"z" * 40000 + b"\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = c.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431") and json.loads(payload)["error"]["code"] == "headers_too_large", answer[:300]
