#!/usr/bin/env python3
"""Two measurements against a running Jeton:

1. Prefix cache: time to first token of a request whose 1,000-token prefix was
   just computed for another request, against the first one's.
2. 64 clients that disconnect after their first token: time until the server's
   running set and KV cache are empty again (from /metrics), then one request.
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse
import urllib.request


def ttft(url, prompt):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", json.dumps({"model": "default", "prompt": prompt, "max_tokens": 4,
                                                      "temperature": 0, "stream": True}),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    first = None
    for line in r:
        if line.startswith(b"data: {") and json.loads(line[6:])["choices"][0]["text"]:
            first = time.perf_counter() - t0
            break
    c.close()
    return first


def metric(url, name):
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + "{"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    a = ap.parse_args()
    words = " ".join(f"w{i}" for i in range(500))  # about 1,000 tokens
    first = ttft(a.url, "Shared context: " + words + " Question one?")
    second = ttft(a.url, "Shared context: " + words + " Question two?")
    print(f"prefix cache: TTFT first {first:.3f} s, second (1,000-token prefix cached) {second:.3f} s, "
          f"ratio {second / first:.2f} (goal < 0.30)")

    u = urllib.parse.urlparse(a.url)

    def hang_up(i):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        c.request("POST", "/v1/completions", json.dumps({"model": "default", "prompt": f"Client {i} says",
                                                          "max_tokens": 500, "ignore_eos": True, "stream": True}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        for line in r:
            if line.startswith(b"data: {"):
                break
        c.sock.close()
        c.close()

    threads = [threading.Thread(target=hang_up, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 30:
        if metric(a.url, "jeton_requests_running") == 0 and metric(a.url, "jeton_kv_cache_usage_ratio") == 0:
            break
        time.sleep(0.02)
    empty = time.perf_counter() - t0
    ok = urllib.request.urlopen(urllib.request.Request(
        a.url + "/v1/completions", data=json.dumps({"model": "default", "prompt": "Hi", "max_tokens": 4}).encode(),
        headers={"Content-Type": "application/json"}), timeout=60).status
    print(f"64 clients gone after their first token: running set and cache empty {empty:.2f} s after the last "
          f"disconnect (goal < 2 s); next request status {ok}")


if __name__ == "__main__":
    main()
