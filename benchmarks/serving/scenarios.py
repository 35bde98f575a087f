#!/usr/bin/env python3
"""Issue 13's serving scenarios against OpenAI-compatible servers on 127.0.0.1: one (--url), or
several interleaved (--arm LABEL URL, repeated: each scenario asks them in turn, the order
rotating by round, --interleave-rounds rounds, each with prompts of its own).

  a  16 streaming clients at once, distinct ~130-token prompts, 64 tokens each (ignore_eos,
     temperature 0): aggregate output tokens/s, TTFT p50/p99, inter-token latency p50/p99 and
     the ITL p99/p50 ratio.
  b  1 client, same prompt size, 128 tokens: tokens/s and TTFT.
  c  4 clients stream long outputs (256 tokens, ignore_eos); once each has its first tokens,
     a 5th client sends a ~4,096-token prompt (max_tokens 16): that prompt's TTFT, and the
     largest gap between two tokens of each streaming client while the long prompt was being
     prefilled (from its send to its first token).

  scenarios.py --url http://127.0.0.1:18777 --engine jeton --scenarios a,b,c --out jeton.json
  scenarios.py --compare jeton.json llama.json     # one line per engine and a ratio line
  scenarios.py --arm jeton URL1 --arm llama URL2 --c-url llama URL3 --interleave-rounds 2 --out r.json
  scenarios.py --compare r.json -                  # each round, then the ratios round by round

Times are taken on the client when each SSE chunk arrives (raw HTTP, standard library only).
Against Jeton, each scenario also reports the share of the engine thread's working time spent
in forward passes (its per-step timer, read from /metrics before and after the scenario) and,
when the server speculates, the speculative acceptance: tokens accepted over tokens proposed
(jeton_spec_*_tokens_total deltas over the scenario).
Prompts are deterministic word sequences cut to the target length with the server's
/tokenize (both Jeton and llama-server have it); in one run every server gets the same text
(with --prompts FILE one server at a time: saved on the first run and reused on the next). Every
request has a deadline (--timeout per scenario), so a run always ends.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

from bench import WORDS, percentile

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


ENGINE_TIMER = ("jeton_engine_forward_seconds_total", "jeton_engine_busy_seconds_total")
SPECULATION = ("jeton_spec_proposed_tokens_total", "jeton_spec_accepted_tokens_total")


def engine_counters(base):
    """Jeton's engine-thread timer (seconds in forward passes, seconds working) and speculation
    counters from /metrics, summed over labels; None when the server has no such metrics
    (llama-server)."""
    u = urllib.parse.urlparse(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode(errors="replace")
        if r.status != 200:
            return None
    except Exception:
        return None
    finally:
        c.close()
    found = {}
    for ln in text.splitlines():
        for name in ENGINE_TIMER + SPECULATION:
            if ln.startswith(name + "{") or ln.startswith(name + " "):
                found[name] = found.get(name, 0.0) + float(ln.rsplit(" ", 1)[1])
    return found if all(n in found for n in ENGINE_TIMER) else None


def forward_share(before, after):
    """Share of the engine thread's working time spent in forward passes between two readings."""
    fwd, busy = ENGINE_TIMER
    if not before or not after or after[busy] <= before[busy]:
        return None
    return (after[fwd] - before[fwd]) / (after[busy] - before[busy])


def speculation(before, after):
    """(proposed, accepted) speculative tokens between two readings; None when nothing was
    proposed (speculation off, or a server without these counters)."""
    if not before or not after or any(n not in before or n not in after for n in SPECULATION):
        return None
    proposed, accepted = (after[n] - before[n] for n in SPECULATION)
    return (proposed, accepted) if proposed > 0 else None


def post_json(base, path, body, timeout=30):
    u = urllib.parse.urlparse(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"{path}: HTTP {r.status} {data[:200]!r}")
        return json.loads(data)
    finally:
        c.close()


def served_model(base):
    u = urllib.parse.urlparse(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.request("GET", "/v1/models")
        r = c.getresponse()
        data = json.loads(r.read())
        return data["data"][0]["id"]
    except Exception:
        return "default"
    finally:
        c.close()


def stream(base, model, prompt, max_tokens, deadline, progress=None):
    """One streamed /v1/completions request (temperature 0, ignore_eos). Returns a record:
    t_send, arrivals (client clock of every chunk carrying text), t_end, prompt_tokens,
    completion_tokens (from usage, else the number of text chunks), error."""
    rec = {"t_send": None, "arrivals": [], "t_end": None, "prompt_tokens": None, "completion_tokens": None,
           "error": None}
    u = urllib.parse.urlparse(base)
    remaining = deadline - time.perf_counter()
    if remaining <= 1:
        rec["error"] = "deadline before start"
        return rec
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=remaining)
    # skip_special_tokens false (vLLM's field; llama-server ignores it): past ignore_eos a model may
    # write control tokens, which otherwise carry no text, and two steps would be timed as one gap.
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
            "skip_special_tokens": False, "stream": True, "stream_options": {"include_usage": True}}
    rec["t_send"] = time.perf_counter()
    try:
        conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
        r = conn.getresponse()
        if r.status != 200:
            rec["error"] = f"HTTP {r.status} {r.read(300)!r}"
            return rec
        buf = b""
        done = False
        while not done:
            if time.perf_counter() > deadline:
                rec["error"] = "deadline"
                break
            chunk = r.read1(65536)
            now = time.perf_counter()
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.strip()
                if not line.startswith(b"data:"):
                    if line.startswith(b"error:"):
                        rec["error"] = line.decode(errors="replace")[:200]
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    break
                try:
                    obj = json.loads(data)
                except ValueError:
                    continue
                if obj.get("error"):
                    rec["error"] = json.dumps(obj["error"])[:200]
                    continue
                usage = obj.get("usage")
                if usage:
                    rec["completion_tokens"] = usage.get("completion_tokens")
                    rec["prompt_tokens"] = usage.get("prompt_tokens")
                for ch in obj.get("choices") or []:
                    if ch.get("text"):
                        rec["arrivals"].append(now)
                        if progress:
                            progress(len(rec["arrivals"]))
        rec["t_end"] = time.perf_counter()
    except Exception as e:  # an error of this request, reported
        rec["error"] = f"{type(e).__name__}: {e}"[:200]
        rec["t_end"] = time.perf_counter()
    finally:
        conn.close()
    if rec["completion_tokens"] is None:
        rec["completion_tokens"] = len(rec["arrivals"])
    return rec


def ttft(rec):
    return rec["arrivals"][0] - rec["t_send"] if rec["arrivals"] else None


def itls(rec):
    a = rec["arrivals"]
    return [y - x for x, y in zip(a, a[1:])]


# ---------------------------------------------------------------- prompts

def word_stream(seed, n):
    rng = random.Random(seed)
    return [rng.choice(WORDS) for _ in range(n)]


class Tokens:
    """Counts tokens with the server's /tokenize; falls back to 1.3 tokens a word."""

    def __init__(self, base):
        self.base = base
        self.ok = True

    def count(self, text):
        if self.ok:
            try:
                r = post_json(self.base, "/tokenize", {"content": text, "add_special": False})
                return len(r["tokens"])
            except Exception as e:
                print(f"  /tokenize failed ({e}); sizing prompts at 1.3 tokens a word", file=sys.stderr)
                self.ok = False
        return round(len(text.split()) * 1.3)


def fit(tokens, head, seed, target):
    """head + the longest prefix of a deterministic word sequence within `target` tokens."""
    words = word_stream(seed, 2 * target + 8)
    text = lambda n: head + " ".join(words[:n]) + "."
    lo, hi = 1, len(words)
    while lo < hi:  # largest n with count(text(n)) <= target
        mid = (lo + hi + 1) // 2
        if tokens.count(text(mid)) <= target:
            lo = mid
        else:
            hi = mid - 1
    return text(lo)


def make_prompts(base, a, salt=0):
    """The scenarios' prompts. `salt` > 0 (an interleaved run's later rounds) gives another set of
    the same sizes, so no server finds a previous round's prompt in its prefix cache; those sets
    are not saved to --prompts."""
    spec = {"prompt_tokens": a.prompt_tokens, "clients": a.clients, "single_requests": a.single_requests,
            "rounds": a.rounds, "streams": a.streams, "long_prompt_tokens": a.long_prompt_tokens}
    cache = a.prompts if salt == 0 else None
    if cache and os.path.exists(cache):
        with open(cache) as f:
            saved = json.load(f)
        if saved.get("spec") == spec:
            print(f"  prompts from {a.prompts}")
            return saved
    t0 = time.perf_counter()
    tok = Tokens(base)
    # The salt goes into each prompt's own words (a common head would be a shared prefix).
    n, seed = 100 * salt, 100_000 * salt
    p = {"spec": spec,
         # Each prompt starts with its own words, so no prompt shares a cached prefix with another.
         "a": [[fit(tok, f"Round {r + n} client {i} writes: ", seed + 1000 * (r + 1) + i, a.prompt_tokens)
                for i in range(a.clients)] for r in range(a.rounds)],
         "b": [fit(tok, f"Single client request {i + n}: ", seed + 500 + i, a.prompt_tokens)
               for i in range(a.single_requests)],
         "c_streams": [fit(tok, f"Streaming client {i + n} story: ", seed + 700 + i, a.prompt_tokens)
                       for i in range(a.streams)],
         "c_long": fit(tok, f"Long document {salt} to summarise: " if salt else "Long document to summarise: ", seed + 999, a.long_prompt_tokens)}
    print(f"  prompts built with {'/tokenize' if tok.ok else 'a word estimate'} in {time.perf_counter() - t0:.1f} s")
    if cache:
        with open(cache, "w") as f:
            json.dump(p, f)
    return p


# ---------------------------------------------------------------- scenarios

def run_threads(targets, deadline):
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, deadline - time.perf_counter() + 10))


def errors_of(recs):
    errs = {}
    for r in recs:
        if r is None:
            errs["no result"] = errs.get("no result", 0) + 1
        elif r["error"]:
            errs[r["error"]] = errs.get(r["error"], 0) + 1
    return errs


def scenario_a(base, model, prompts, a):
    out_tokens, wall, ttfts, gaps, ptoks, recs_all = 0, 0.0, [], [], [], []
    for rnd in prompts["a"]:
        deadline = time.perf_counter() + a.timeout
        recs = [None] * len(rnd)
        barrier = threading.Barrier(len(rnd))

        def client(i):
            try:
                barrier.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass
            recs[i] = stream(base, model, rnd[i], a.clients_tokens, deadline)

        run_threads([lambda i=i: client(i) for i in range(len(rnd))], deadline)
        done = [r for r in recs if r is not None and r["t_send"] is not None]
        if done:
            wall += max(r["t_end"] or r["t_send"] for r in done) - min(r["t_send"] for r in done)
        for r in done:
            if not r["error"]:
                out_tokens += r["completion_tokens"] or 0
            if ttft(r) is not None:
                ttfts.append(ttft(r))
            gaps += itls(r)
            if r["prompt_tokens"]:
                ptoks.append(r["prompt_tokens"])
        recs_all += recs
    p50, p99 = percentile(gaps, 50) * 1000, percentile(gaps, 99) * 1000
    return {"clients": a.clients, "rounds": a.rounds, "max_tokens": a.clients_tokens,
            "prompt_tokens_mean": sum(ptoks) / len(ptoks) if ptoks else None,
            "output_tokens": out_tokens, "wall_s": wall, "output_tok_s": out_tokens / wall if wall else 0.0,
            "ttft_p50_s": percentile(ttfts, 50), "ttft_p99_s": percentile(ttfts, 99),
            "itl_p50_ms": p50, "itl_p99_ms": p99, "itl_p99_over_p50": p99 / p50 if p50 else float("nan"),
            "errors": errors_of(recs_all)}


def scenario_b(base, model, prompts, a):
    deadline = time.perf_counter() + a.timeout
    recs = [stream(base, model, p, a.single_tokens, deadline) for p in prompts["b"]]
    ok = [r for r in recs if not r["error"] and r["arrivals"]]
    e2e = [r["completion_tokens"] / (r["t_end"] - r["t_send"]) for r in ok]
    dec = [(len(r["arrivals"]) - 1) / (r["arrivals"][-1] - r["arrivals"][0]) for r in ok if len(r["arrivals"]) > 1]
    ptoks = [r["prompt_tokens"] for r in ok if r["prompt_tokens"]]
    return {"requests": len(recs), "max_tokens": a.single_tokens,
            "prompt_tokens_mean": sum(ptoks) / len(ptoks) if ptoks else None,
            "output_tok_s": percentile(e2e, 50), "decode_tok_s": percentile(dec, 50),
            "ttft_p50_s": percentile([ttft(r) for r in ok], 50), "errors": errors_of(recs)}


def scenario_c(base, model, prompts, a):
    deadline = time.perf_counter() + a.timeout
    n = len(prompts["c_streams"])
    recs = [None] * n
    started = [threading.Event() for _ in range(n)]

    def client(i):
        def progress(k):
            if k >= a.warm_tokens:
                started[i].set()
        try:
            recs[i] = stream(base, model, prompts["c_streams"][i], a.stream_tokens, deadline, progress)
        finally:
            started[i].set()  # finished or failed: do not wait for it

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for e in started:
        e.wait(max(0.0, min(120.0, deadline - time.perf_counter())))
    long_rec = stream(base, model, prompts["c_long"], a.long_tokens, deadline)
    for t in threads:
        t.join(max(0.1, deadline - time.perf_counter() + 10))

    w0 = long_rec["t_send"]
    w1 = long_rec["arrivals"][0] if long_rec["arrivals"] else long_rec["t_end"]
    clients = []
    for r in recs:
        if r is None:
            clients.append({"max_gap_s": None, "covered": False, "tokens_in_window": 0, "error": "no result"})
            continue
        arr = r["arrivals"]
        # Every gap between two consecutive tokens that overlaps [w0, w1], including one that
        # spans the whole window (a stall through the entire prefill).
        g = [y - x for x, y in zip(arr, arr[1:]) if y > w0 and x < w1]
        in_window = sum(1 for t in arr if w0 <= t <= w1)
        covered = bool(arr) and arr[-1] >= w1  # still streaming when the long prompt's first token came
        if arr and not covered and arr[-1] < w1:
            g.append(w1 - arr[-1] if r["error"] else 0.0)  # a dead stream counts as a stall
        clients.append({"max_gap_s": max(g) if g else None, "covered": covered, "tokens_in_window": in_window,
                        "started_before_long": bool(arr) and arr[0] < w0, "error": r["error"]})
    gaps = [c["max_gap_s"] for c in clients if c["max_gap_s"] is not None]
    t = ttft(long_rec)
    return {"streams": n, "stream_tokens": a.stream_tokens, "long_max_tokens": a.long_tokens,
            "long_prompt_tokens": long_rec["prompt_tokens"], "long_ttft_s": t,
            "long_prefill_tok_s": (long_rec["prompt_tokens"] / t) if (t and long_rec["prompt_tokens"]) else None,
            "long_error": long_rec["error"], "clients": clients,
            "worst_gap_s": max(gaps) if gaps else None,
            "all_covered": all(c["covered"] for c in clients),
            "errors": errors_of(recs + [long_rec])}


# ---------------------------------------------------------------- printing

def f(x, fmt):
    return "n/a" if x is None or x != x else format(x, fmt)


def ratio(j, l):
    return "n/a" if j is None or l is None or not l or j != j or l != l else f"{j / l:.2f}"


def line(s, r):
    share = r.get("engine_forward_share")
    share = f", engine thread in forward passes {share * 100:.1f}% of its working time" if share is not None else ""
    spec = ""
    if r.get("spec_proposed"):
        spec = (f", speculative acceptance {r['spec_accepted'] / r['spec_proposed']:.2f} "
                f"({int(r['spec_accepted'])}/{int(r['spec_proposed'])} tokens)")
    return line_body(s, r) + share + spec


def line_body(s, r):
    if s == "a":
        return (f"{f(r['output_tok_s'], '.1f')} output tok/s ({r['clients']} clients x {r['max_tokens']} tokens"
                f" x {r['rounds']} round(s), prompts ~{f(r['prompt_tokens_mean'], '.0f')} tokens), "
                f"TTFT p50 {f(r['ttft_p50_s'], '.3f')} s p99 {f(r['ttft_p99_s'], '.3f')} s, "
                f"ITL p50 {f(r['itl_p50_ms'], '.1f')} ms p99 {f(r['itl_p99_ms'], '.1f')} ms "
                f"(p99/p50 {f(r['itl_p99_over_p50'], '.2f')}), errors {r['errors'] or 0}")
    if s == "b":
        return (f"{f(r['output_tok_s'], '.1f')} tok/s end to end ({f(r['decode_tok_s'], '.1f')} between first and "
                f"last token), TTFT {f(r['ttft_p50_s'], '.3f')} s (1 client, {r['max_tokens']} tokens, prompt "
                f"~{f(r['prompt_tokens_mean'], '.0f')} tokens, median of {r['requests']}), errors {r['errors'] or 0}")
    gaps = " ".join(f(c["max_gap_s"], ".2f") + ("" if c["covered"] else "*") for c in r["clients"])
    note = "" if r["all_covered"] else " (* stream ended before the long prompt's first token: raise --stream-tokens)"
    return (f"long prompt {f(r['long_prompt_tokens'], 'd') if r['long_prompt_tokens'] else 'n/a'} tokens: TTFT "
            f"{f(r['long_ttft_s'], '.3f')} s ({f(r['long_prefill_tok_s'], '.0f')} prompt tok/s) beside "
            f"{r['streams']} streams; their largest gap during its prefill {gaps} s, worst "
            f"{f(r['worst_gap_s'], '.2f')} s{note}; errors {r['errors'] or 0}")


TITLES = {"a": "(a) 16 clients at once", "b": "(b) 1 client", "c": "(c) long prompt beside streaming clients"}


def compare(jeton_file, llama_file):
    load = lambda p: json.load(open(p)) if p and os.path.exists(p) else {}
    j, l = load(jeton_file), load(llama_file)
    if j.get("interleaved"):
        compare_rounds(j)
    else:
        compare_engines(j, l)


def compare_engines(j, l):
    """Both engines' lines and the ratio line of each scenario either has (one result each)."""
    for s in ("a", "b", "c"):
        if s not in j and s not in l:
            continue
        print(TITLES[s])
        for name, d in (("jeton       ", j), ("llama-server", l)):
            if s in d:
                print(f"  {name} {line(s, d[s])}  [load before: {d.get('load_' + s, '?')}]")
        if s not in j or s not in l:
            continue
        js, ls = j[s], l[s]
        if s == "a":
            print(f"  jeton/llama.cpp: output tok/s {ratio(js['output_tok_s'], ls['output_tok_s'])}x, "
                  f"TTFT p50 {ratio(js['ttft_p50_s'], ls['ttft_p50_s'])} p99 {ratio(js['ttft_p99_s'], ls['ttft_p99_s'])}, "
                  f"ITL p50 {ratio(js['itl_p50_ms'], ls['itl_p50_ms'])} p99 {ratio(js['itl_p99_ms'], ls['itl_p99_ms'])}; "
                  f"Jeton ITL p99/p50 {f(js['itl_p99_over_p50'], '.2f')} "
                  f"(llama-server {f(ls['itl_p99_over_p50'], '.2f')})")
        elif s == "b":
            print(f"  jeton/llama.cpp: tok/s {ratio(js['output_tok_s'], ls['output_tok_s'])}x, "
                  f"TTFT {ratio(js['ttft_p50_s'], ls['ttft_p50_s'])}")
        else:
            rt = ratio(js["long_ttft_s"], ls["long_ttft_s"])
            met = "n/a" if rt == "n/a" else ("met" if float(rt) <= 0.5 else "NOT met")
            wg = js["worst_gap_s"]
            # Rounded as printed (and as the interleaved summary judges it).
            gmet = "n/a" if wg is None else ("met" if round(wg, 2) <= 1.0 and js["all_covered"] else
                                            ("NOT met" if round(wg, 2) > 1.0 else "unproven: a stream ended early"))
            print(f"  jeton/llama.cpp: long-prompt TTFT {rt} (goal <= 0.5: {met}); Jeton's worst stream gap "
                  f"{f(wg, '.2f')} s (goal: none over 1 s: {gmet}); llama-server's {f(ls['worst_gap_s'], '.2f')} s")


# ---------------------------------------------------------------- interleaved runs

# Per scenario, the figures whose Jeton/llama-server ratio the issue sets a goal for:
# (key, label, goal, True when the ratio must reach the goal from above, False from below).
GOALS = {"a": [("output_tok_s", "output tok/s", 3.0, True), ("ttft_p50_s", "TTFT p50", 0.5, False)],
         "b": [("output_tok_s", "tok/s", 1.10, True)],
         "c": [("long_ttft_s", "long-prompt TTFT", 0.5, False)]}


def measure(base, model, prompts, a, s):
    """One scenario against one server, with Jeton's engine counters around it."""
    before = engine_counters(base)
    r = {"a": scenario_a, "b": scenario_b, "c": scenario_c}[s](base, model, prompts, a)
    after = engine_counters(base)
    r["engine_forward_share"] = forward_share(before, after)
    spec = speculation(before, after)
    r["spec_proposed"], r["spec_accepted"] = spec if spec else (None, None)
    return r


def run_interleaved(a, arms, c_urls, scen):
    """Every scenario on every arm, round by round: each round has prompts of its own (the same
    for every arm), and each scenario visits the arms in an order that rotates by round, so a
    drift in the host's speed reaches both engines alike. An arm's scenario c goes to its
    --c-url server when one is given (llama-server needs -kvu for the long prompt)."""
    base = dict(arms)
    url = lambda label, s: c_urls.get(label, base[label]) if s == "c" else base[label]
    servers = sorted({url(lb, s) for lb, _ in arms for s in scen})
    models = {u: served_model(u) for u in servers}
    for u in servers:
        warm = stream(u, models[u], "Warm-up: say something.", 8, time.perf_counter() + 120)
        if warm["error"]:
            print(f"  warm-up request to {u} failed: {warm['error']}")
    rec = {"interleaved": True, "rounds": a.interleave_rounds, "arms": [lb for lb, _ in arms],
           "scenarios": scen, "results": {s: {lb: [] for lb, _ in arms} for s in scen},
           "load": {s: {lb: [] for lb, _ in arms} for s in scen}}
    for i in range(a.interleave_rounds):
        prompts = make_prompts(arms[0][1], a, salt=i)
        for si, s in enumerate(scen):
            k = (i + si) % len(arms)  # a different first arm per scenario and per round
            for label, _ in arms[k:] + arms[:k]:
                la, u = loadavg(), url(label, s)
                print(f"round {i + 1}: {label} {TITLES[s]} (load average {la})", flush=True)
                r = measure(u, models[u], prompts, a, s)
                rec["results"][s][label].append(r)
                rec["load"][s][label].append(la)
                print(f"  {line(s, r)}", flush=True)
                if a.out:  # whole or not at all: a timeout's SIGINT may land here
                    with open(a.out + ".tmp", "w") as fh:
                        json.dump(rec, fh, indent=1)
                    os.replace(a.out + ".tmp", a.out)
    return rec


def number(v):
    """A finite number (a failed measure is None or NaN)."""
    return isinstance(v, (int, float)) and v == v and v not in (float("inf"), float("-inf"))


def median_range(xs):
    return percentile(xs, 50), min(xs), max(xs)


def compare_rounds(rec):
    """An interleaved run: each round as `compare_engines` prints it, then the goal figures'
    ratios round by round (median and range; the rounds saw the same host phases)."""
    labels = rec["arms"]
    if len(labels) != 2:
        print("interleaved record with arms " + ", ".join(labels) + ": ratios need two")
    for i in range(rec["rounds"]):
        pick = lambda lb: {s: rec["results"][s][lb][i] for s in rec["scenarios"]
                           if len(rec["results"][s].get(lb, [])) > i}
        if len(labels) == 2:
            print(f"-- round {i + 1} of {rec['rounds']}")
            j, l = pick(labels[0]), pick(labels[1])
            for s in list(j):
                j["load_" + s] = rec["load"][s][labels[0]][i]
            for s in list(l):
                l["load_" + s] = rec["load"][s][labels[1]][i]
            compare_engines(j, l)
    if len(labels) != 2:
        return
    print(f"-- {labels[0]}/{labels[1]}, round by round (median, range over {rec['rounds']} rounds)")
    meets = lambda v, goal, above: (round(v, 2) >= goal) if above else (round(v, 2) <= goal)
    for s in rec["scenarios"]:
        js, ls = rec["results"][s][labels[0]], rec["results"][s][labels[1]]
        failed = sum(1 for x in js + ls if x.get("errors"))
        note = f"; {failed} result(s) with errors" if failed else ""
        for key, name, goal, above in GOALS[s]:
            # A zero numerator is a figure (nothing came); a missing or zero denominator is not.
            rs = [x[key] / y[key] for x, y in zip(js, ls) if number(x.get(key)) and number(y.get(key)) and y[key]]
            missing = len(js) - len(rs)
            if not rs:
                print(f"  ({s}) {name}: n/a (no round measured both){note}")
                continue
            med, lo, hi = median_range(rs)
            gone = f", {missing} round(s) without a figure" if missing else ""
            print(f"  ({s}) {name}: {med:.2f}x ({lo:.2f}-{hi:.2f}; {len(rs)} rounds{gone}{note}), goal "
                  f"{'>=' if above else '<='} {goal:g}: {'met' if meets(med, goal, above) and not missing else 'NOT met'}")
        if s == "a":
            q = [x.get("itl_p99_over_p50") for x in js]
            if all(number(v) for v in q) and q:
                med, lo, hi = median_range(q)
                print(f"  (a) {labels[0]}'s ITL p99/p50: {med:.2f} ({lo:.2f}-{hi:.2f}), goal <= 3: "
                      f"{'met' if meets(med, 3, False) else 'NOT met'}")
            else:
                print(f"  (a) {labels[0]}'s ITL p99/p50: n/a (a round without one)")
        if s == "c":
            g = [x.get("worst_gap_s") for x in js]
            if all(number(v) for v in g) and g:
                covered = all(x.get("all_covered") for x in js)
                worst = max(g)
                print(f"  (c) {labels[0]}'s worst stream gap: {worst:.2f} s over the rounds, goal none over 1 s: "
                      + ("met" if meets(worst, 1.0, False) and covered else "NOT met" if not meets(worst, 1.0, False)
                         else "unproven: a stream ended early"))
            else:
                print(f"  (c) {labels[0]}'s worst stream gap: n/a (a round without one)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:18777")
    ap.add_argument("--engine", default="server", help="label stored in the output")
    ap.add_argument("--scenarios", default="a,b,c")
    ap.add_argument("--out", help="JSON file to add this run's results to")
    ap.add_argument("--prompts", help="JSON file of prompts: written on the first run, reused after")
    ap.add_argument("--timeout", type=float, default=600, help="seconds each scenario may take at most")
    ap.add_argument("--prompt-tokens", type=int, default=130, help="(a), (b) and (c)'s streams: prompt size")
    ap.add_argument("--clients", type=int, default=16, help="(a) clients at once")
    ap.add_argument("--clients-tokens", type=int, default=64, help="(a) tokens per client")
    ap.add_argument("--rounds", type=int, default=1, help="(a) rounds of --clients requests, new prompts each")
    ap.add_argument("--single-tokens", type=int, default=128, help="(b) tokens")
    ap.add_argument("--single-requests", type=int, default=2, help="(b) requests one after the other (median)")
    ap.add_argument("--streams", type=int, default=4, help="(c) streaming clients")
    ap.add_argument("--stream-tokens", type=int, default=256, help="(c) tokens per streaming client")
    ap.add_argument("--warm-tokens", type=int, default=4,
                    help="(c) tokens each stream has received before the long prompt is sent")
    ap.add_argument("--long-prompt-tokens", type=int, default=4096, help="(c) long prompt size")
    ap.add_argument("--long-tokens", type=int, default=16, help="(c) long prompt's max_tokens")
    ap.add_argument("--compare", nargs=2, metavar=("JETON_JSON", "LLAMA_JSON"),
                    help="print both engines' results and their ratios, then exit (an interleaved "
                         "record as JETON_JSON: its rounds and ratios; LLAMA_JSON is then ignored)")
    ap.add_argument("--arm", nargs=2, action="append", metavar=("LABEL", "URL"),
                    help="interleaved run: a server to measure (repeat; the first is the ratios' numerator, "
                         "--url is then unused)")
    ap.add_argument("--c-url", nargs=2, action="append", default=[], metavar=("LABEL", "URL"),
                    help="interleaved run: the server that takes arm LABEL's scenario c")
    ap.add_argument("--interleave-rounds", type=int, default=1,
                    help="interleaved run: rounds, each with prompts of its own")
    a = ap.parse_args()
    if a.compare:
        compare(*a.compare)
        return
    scen = [s for s in a.scenarios.split(",") if s]
    if not scen or any(s not in TITLES for s in scen) or len(set(scen)) != len(scen):
        sys.exit("--scenarios takes a, b, c (each once)")
    if a.arm:
        labels = [lb for lb, _ in a.arm]
        if len(set(labels)) != len(labels):
            sys.exit("--arm labels must differ")
        if any(lb not in labels for lb, _ in a.c_url):
            sys.exit("--c-url names a label no --arm has")
        if a.interleave_rounds < 1:
            sys.exit("--interleave-rounds takes a positive count")
        if any(urllib.parse.urlparse(u).hostname not in LOOPBACK for _, u in a.arm + a.c_url):
            sys.exit("only 127.0.0.1 targets")
        rec = run_interleaved(a, a.arm, dict(a.c_url), scen)
        print()
        compare_rounds(rec)
        return
    if a.c_url or a.interleave_rounds != 1:
        sys.exit("--c-url and --interleave-rounds go with --arm")
    if urllib.parse.urlparse(a.url).hostname not in LOOPBACK:
        sys.exit("only 127.0.0.1 targets")

    model = served_model(a.url)
    prompts = make_prompts(a.url, a)
    warm = stream(a.url, model, "Warm-up: say something.", 8, time.perf_counter() + 120)
    if warm["error"]:
        print(f"  warm-up request failed: {warm['error']}")
    results = {}
    if a.out and os.path.exists(a.out):
        with open(a.out) as fh:
            results = json.load(fh)
    results["engine"] = a.engine
    for s in scen:
        la = loadavg()
        print(f"{a.engine} {TITLES[s]} (load average {la})", flush=True)
        r = measure(a.url, model, prompts, a, s)
        results[s], results["load_" + s] = r, la
        print(f"  {line(s, r)}", flush=True)
        if a.out:
            with open(a.out, "w") as fh:
                json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
