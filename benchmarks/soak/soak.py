#!/usr/bin/env python3
"""Soak test (run by hand, not in CI): many clients for a long time against a
server with a small KV cache, so that preemption happens.

Mixed streaming and non-streaming requests, random early disconnects, random
malformed requests. Reports requests completed, errors by kind, and the
server's resident memory at start and end (from /proc, when the server runs
here and --pid is given or it is started by this script).

  soak.py --minutes 10 --clients 32            # starts its own jeton serve
  soak.py --url http://127.0.0.1:8080 --pid N  # against a running one
"""
import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MALFORMED = [
    b"{", b"[]", b'{"model": "default"}', b'{"model": "default", "prompt": 5}',
    b'{"model": "default", "prompt": "x", "max_tokens": -1}', b'{"model": "nope", "prompt": "x"}',
    b'{"model": "default", "messages": []}', b'{"model": "default", "prompt": "x", "n": 1000}',
    b'\xff\xfe garbage', b'{"model": "default", "prompt": "x", "logit_bias": {"a": 1}}',
]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def add(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1


def client(url, deadline, stats, seed):
    rng = random.Random(seed)
    u = urllib.parse.urlparse(url)
    while time.time() < deadline:
        roll = rng.random()
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        try:
            if roll < 0.1:
                body = rng.choice(MALFORMED)
                path = rng.choice(["/v1/completions", "/v1/chat/completions"])
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                stats.add(f"malformed->{r.status}")
                continue
            stream = roll < 0.6
            chat = rng.random() < 0.5
            max_tokens = rng.randint(8, 160)
            words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "river", "stone", "cloud"])
                             for _ in range(rng.randint(5, 200)))
            if chat:
                path = "/v1/chat/completions"
                body = {"model": "default", "messages": [{"role": "user", "content": words}]}
            else:
                path = "/v1/completions"
                body = {"model": "default", "prompt": words}
            body.update({"max_tokens": max_tokens, "stream": stream, "temperature": rng.choice([0, 0.7, 1.0])})
            conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            r = conn.getresponse()
            if r.status != 200:
                r.read()
                stats.add(f"http-{r.status}")
                continue
            if stream and rng.random() < 0.25:
                # Disconnect early, after a few events.
                for _ in range(rng.randint(1, 5)):
                    r.readline()
                conn.sock.shutdown(socket.SHUT_RDWR)
                stats.add("disconnected-early")
                continue
            data = r.read()
            if stream:
                ok = data.rstrip().endswith(b"data: [DONE]")
            else:
                ok = "choices" in json.loads(data)
            stats.add("completed" if ok else "bad-response")
        except Exception as e:  # counted by kind
            stats.add(f"client-error-{type(e).__name__}")
        finally:
            conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--cache-tokens", type=int, default=2048, help="KV cache of the server this script starts")
    a = ap.parse_args()
    proc = None
    url, pid = a.url, a.pid
    if not url:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        binary = os.environ.get("JETON_BIN", os.path.join(ROOT, ".build", "release", "jeton"))
        proc = subprocess.Popen([binary, "serve", "--model", "default", "--port", str(port), "--cache-tokens",
                                 str(a.cache_tokens), "--log-level", "warning"])
        url, pid = f"http://127.0.0.1:{port}", proc.pid
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/ready")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
    start_rss = rss_kib(pid) if pid else None
    stats = Stats()
    deadline = time.time() + a.minutes * 60
    threads = [threading.Thread(target=client, args=(url, deadline, stats, i)) for i in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    end_rss = rss_kib(pid) if pid else None
    c = http.client.HTTPConnection(urllib.parse.urlparse(url).hostname, urllib.parse.urlparse(url).port, timeout=10)
    c.request("GET", "/metrics")
    metrics = c.getresponse().read().decode()
    pre = sum(float(l.split()[-1]) for l in metrics.splitlines() if l.startswith("jeton_preemptions_total{"))
    healthy = False
    try:
        c = http.client.HTTPConnection(urllib.parse.urlparse(url).hostname, urllib.parse.urlparse(url).port, timeout=10)
        c.request("GET", "/health")
        healthy = c.getresponse().status == 200
    except OSError:
        pass
    print(json.dumps({"minutes": a.minutes, "clients": a.clients, "outcomes": dict(sorted(stats.counts.items())),
                      "preemptions": pre, "rss_start_mib": start_rss and round(start_rss / 1024, 1),
                      "rss_end_mib": end_rss and round(end_rss / 1024, 1), "healthy_at_end": healthy}, indent=2))
    if proc:
        proc.terminate()
        proc.wait(timeout=60)
    bad = [k for k in stats.counts if k.startswith("client-error") or k == "bad-response" or k.startswith("http-5")]
    sys.exit(1 if bad or not healthy else 0)


if __name__ == "__main__":
    main()
