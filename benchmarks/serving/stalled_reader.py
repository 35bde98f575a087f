#!/usr/bin/env python3
"""Issue 14's stalled reader, measured: a client stops reading its stream for STALL seconds
(30 by default) and then reads on, while other clients stream beside it.

  stalled_reader.py --url http://127.0.0.1:18778 [--stall 30] [--others 2]

Start Jeton with a response buffer small enough for the stream to pause within a few seconds
(e.g. `server.max_response_buffer_bytes: 65536`) and `server.slow_reader_timeout` above the
stall. The stalled client asks for n=8 choices (-n) with 20 logprobs each (large events), from a
socket whose receive buffer is 4 KB, and reads nothing until the stall ends. The others stream
completions of 128 tokens one after another the whole time. Prints:
  - the others' inter-token latency p50/p99 before the stalled request, while it is paused
    (from the server's first pause to the end of the stall), and after it;
  - whether the stalled client got every token of every choice, in order (logprob offsets).
Exits 1 if a token is missing or out of order, or a request failed. Speed figures are printed,
never asserted: the host is shared.
"""
import argparse
import json
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
import http.client
import sys


def metric(base, name):
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def open_stalled(host, port, body):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: fixes the window
    s.settimeout(600)
    s.connect((host, port))
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Connection: close\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


def read_all(s):
    chunks = []
    while True:
        b = s.recv(65536)
        if not b:
            break
        chunks.append(b)
    s.close()
    return b"".join(chunks)


def events_of(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"stalled request: {head[:120]!r}")
    out = bytearray()
    while True:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    events = []
    for line in out.decode().splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            events.append(json.loads(line[5:]))
    return events


def check_complete(events, n, max_tokens):
    """Every choice has max_tokens tokens, their text offsets never go back, finish 'length'."""
    problems = []
    for index in range(n):
        choices = [c for e in events for c in e.get("choices", []) if c["index"] == index]
        lp = [c["logprobs"] for c in choices if c.get("logprobs")]
        tokens = [t for x in lp for t in x["tokens"]]
        offsets = [o for x in lp for o in x["text_offset"]]
        if len(tokens) != max_tokens:
            problems.append(f"choice {index}: {len(tokens)} of {max_tokens} tokens")
        if any(a > b for a, b in zip(offsets, offsets[1:])):
            problems.append(f"choice {index}: offsets go back")
        if not choices or choices[-1].get("finish_reason") != "length":
            problems.append(f"choice {index}: no final finish_reason")
    return problems


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def steady(base, model, i, max_tokens, arrivals, stop, errors):
    """Streams completions of max_tokens one after another (so their context stays short and
    every window sees the same kind of step), appending each text chunk's arrival time, until
    `stop`."""
    u = urllib.parse.urlparse(base)
    body = {"model": model, "prompt": f"Story {i}: once upon a time", "max_tokens": max_tokens, "temperature": 0,
            "ignore_eos": True, "stream": True}
    while not stop.is_set():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        try:
            conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
            r = conn.getresponse()
            if r.status != 200:
                errors.append(f"other {i}: HTTP {r.status}")
                return
            run = []  # one request's arrivals: gaps are taken inside a request only
            arrivals.append(run)
            while not stop.is_set():
                chunk = r.read1(65536)
                if not chunk:
                    break
                now = time.perf_counter()
                run.extend([now] * chunk.count(b'"text":"'))
        except Exception as e:  # reported, not raised: the run still prints what it has
            errors.append(f"other {i}: {type(e).__name__}: {e}")
            return
        finally:
            conn.close()


def window(clients, t0, t1):
    """Gaps between consecutive text chunks of one request inside [t0, t1] (chunks read in one
    go share a time and make no gap)."""
    out = []
    for runs in clients:
        for a in runs:
            out += [y - x for x, y in zip(a, a[1:]) if x >= t0 and y <= t1 and y > x]
    return out


def line(name, gaps):
    if not gaps:
        return f"  {name:<28} no tokens"
    return (f"  {name:<28} ITL p50 {1000 * pct(gaps, 0.5):6.1f} ms  p99 {1000 * pct(gaps, 0.99):6.1f} ms"
            f"  max {1000 * max(gaps):6.1f} ms  ({len(gaps)} gaps)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", default="default")
    ap.add_argument("--stall", type=float, default=30)
    ap.add_argument("--others", type=int, default=2)
    ap.add_argument("--baseline", type=float, default=8, help="seconds of the others alone, before and after")
    ap.add_argument("--max-tokens", type=int, default=1000, help="per choice of the stalled request")
    ap.add_argument("-n", type=int, default=8, help="choices of the stalled request")
    ap.add_argument("--other-tokens", type=int, default=128, help="max_tokens of each of the others' requests")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)

    stop = threading.Event()
    arrivals = [[] for _ in range(a.others)]
    errors = []
    threads = [threading.Thread(target=steady, args=(a.url, a.model, i, a.other_tokens, arrivals[i], stop, errors), daemon=True)
               for i in range(a.others)]
    for t in threads:
        t.start()
    time.sleep(2)  # their prompts are in
    t_base = time.perf_counter()
    time.sleep(a.baseline)

    body = {"model": a.model, "prompt": "The capital of France is", "max_tokens": a.max_tokens, "n": a.n,
            "ignore_eos": True, "logprobs": 20, "stream": True, "temperature": 0}
    pauses0 = metric(a.url, "jeton_slow_reader_pauses_total")
    t_open = time.perf_counter()
    s = open_stalled(u.hostname, u.port, body)
    t_pause = None
    while time.perf_counter() - t_open < a.stall:
        if t_pause is None and metric(a.url, "jeton_slow_reader_pauses_total") > pauses0:
            t_pause = time.perf_counter()
        time.sleep(0.2)
    t_resume = time.perf_counter()
    try:
        events = events_of(read_all(s))
        problems = check_complete(events, a.n, a.max_tokens)
    except Exception as e:
        problems = [f"stalled request: {type(e).__name__}: {e}"]
    t_done = time.perf_counter()
    time.sleep(a.baseline)
    t_end = time.perf_counter()
    stop.set()
    for t in threads:
        t.join(30)
    aborts = metric(a.url, "jeton_slow_reader_aborts_total")

    print(f"stalled reader: {a.stall:.0f} s without reading; its stream paused "
          + (f"{t_pause - t_open:.1f} s after it was sent" if t_pause else "never (raise the load or lower "
             "server.max_response_buffer_bytes)")
          + f"; read back in {t_done - t_resume:.1f} s; slow-reader aborts {aborts:.0f}")
    print(f"  every token of {a.n} choices x {a.max_tokens}, in order" if not problems else "  " + "; ".join(problems))
    print(f"{a.others} other streams:")
    print(line("before", window(arrivals, t_base, t_open)))
    if t_pause:
        print(line("while it is paused", window(arrivals, t_pause + 0.5, t_resume)))
    print(line("after it is read", window(arrivals, t_done, t_end)))
    for e in errors:
        print("  error:", e)
    if problems or errors or not t_pause:
        sys.exit(1)


if __name__ == "__main__":
    main()
