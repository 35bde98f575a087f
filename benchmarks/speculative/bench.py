#!/usr/bin/env python3
"""Speculative decoding, one client, temperature 0: output tokens/s of one server on one or more
code prompts, one request at a time.

Against Jeton (--engine jeton), requests alternate `"speculative": true/false`, so both arms are
measured in the same run under the same machine load, and the acceptance is accepted over
proposed tokens from /metrics deltas. Against llama-server (--engine llama) there is one arm (the
server was started with or without a draft model), and the acceptance comes from each
response's `timings` (draft_n, draft_n_accepted) when it speculated.

  bench.py --base http://127.0.0.1:PORT --prompt edit,general,explain [--rounds 3] [--max-tokens 256]
           [--engine jeton|llama] [--label NAME --record FILE]
  bench.py --summary FILE      # the recorded arms side by side, with the issue's ratios

Rates are completion tokens over each request's wall time (prompt included: every arm answers
the same prompt again and finds it cached after the warm-up).
"""
import argparse
import json
import os
import re
import time
import urllib.request

EDIT = '''Rename the variable `items` to `records` in this function and return the whole function, nothing else.

```python
def summarize(items, key="amount"):
    """Totals and averages one field over a list of dicts."""
    total = 0
    count = 0
    for item in items:
        if key not in item:
            continue
        value = item[key]
        if value is None:
            continue
        total += value
        count += 1
    average = total / count if count else 0.0
    largest = max((item[key] for item in items if item.get(key) is not None), default=None)
    smallest = min((item[key] for item in items if item.get(key) is not None), default=None)
    return {"total": total, "count": count, "average": average, "largest": largest, "smallest": smallest}
```'''

EXPLAIN = '''Explain what this function does, line by line, then say what it returns for `merge_intervals([(1, 3), (2, 6), (8, 10)])`.

```python
def merge_intervals(intervals):
    if not intervals:
        return []
    intervals = sorted(intervals, key=lambda pair: pair[0])
    merged = [list(intervals[0])]
    for start, end in intervals[1:]:
        last = merged[-1]
        if start <= last[1]:
            last[1] = max(last[1], end)
        else:
            merged.append([start, end])
    return [tuple(pair) for pair in merged]
```'''

GENERAL = "Write a Python function that parses a CSV file of transactions (date, description, amount) and returns the monthly totals as a dict, with a docstring and comments."


PROMPTS = {"edit": EDIT, "general": GENERAL, "explain": EXPLAIN}


def post(base, body):
    req = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.time()
    with urllib.request.urlopen(req, timeout=1800) as r:
        out = json.loads(r.read())
    return out, time.time() - t0


def counters(base):
    text = urllib.request.urlopen(base + "/metrics", timeout=30).read().decode()
    got = {}
    for name in ("jeton_spec_proposed_tokens_total", "jeton_spec_accepted_tokens_total"):
        got[name] = sum(float(m) for m in re.findall(rf"^{name}\{{[^}}]*\}} ([0-9.e+]+)$", text, re.M))
    return got


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_jeton(base, name, rounds, max_tokens):
    """Speculative and plain arms of one prompt on one Jeton server, alternating."""
    body = {"model": "default", "messages": [{"role": "user", "content": PROMPTS[name]}], "max_tokens": max_tokens,
            "temperature": 0, "ignore_eos": True}
    post(base, {**body, "max_tokens": 4})  # warm up: page the weights in, cache the prompt
    rates = {True: [], False: []}
    texts = {}
    proposed = accepted = 0.0
    for i in range(rounds):
        # Alternate which goes first, so a drift in load favours neither.
        for spec in ((True, False) if i % 2 == 0 else (False, True)):
            before = counters(base)
            out, seconds = post(base, {**body, "speculative": spec})
            after = counters(base)
            n = out["usage"]["completion_tokens"]
            rates[spec].append(n / seconds)
            texts.setdefault(spec, out["choices"][0]["message"]["content"])
            if spec:
                proposed += after["jeton_spec_proposed_tokens_total"] - before["jeton_spec_proposed_tokens_total"]
                accepted += after["jeton_spec_accepted_tokens_total"] - before["jeton_spec_accepted_tokens_total"]
            print(f"  {name} round {i + 1} speculative={str(spec).lower():5} {n} tokens in {seconds:.1f} s: "
                  f"{n / seconds:.2f} tok/s  (load {os.getloadavg()[0]:.2f})", flush=True)
    on = sum(rates[True]) / len(rates[True])
    off = sum(rates[False]) / len(rates[False])
    same = texts.get(True) == texts.get(False)
    acc = f"{accepted / proposed:.2f} ({int(accepted)}/{int(proposed)})" if proposed else "- (nothing proposed)"
    print(f"{name}: speculative {on:.2f} tok/s, plain {off:.2f} tok/s, ratio {on / off:.2f}x; acceptance {acc}; "
          f"same text: {same}; load {load()}", flush=True)
    return {"speculative": on, "plain": off, "proposed": proposed, "accepted": accepted, "same_text": same}


def bench_llama(base, name, rounds, max_tokens):
    """One arm of one prompt on llama-server (speculating or not, as it was started)."""
    body = {"model": "default", "messages": [{"role": "user", "content": PROMPTS[name]}], "max_tokens": max_tokens,
            "temperature": 0, "ignore_eos": True}
    post(base, {**body, "max_tokens": 4})  # warm up
    rates = []
    proposed = accepted = 0.0
    for i in range(rounds):
        out, seconds = post(base, body)
        n = out["usage"]["completion_tokens"]
        rates.append(n / seconds)
        t = out.get("timings") or {}
        proposed += t.get("draft_n", 0)
        accepted += t.get("draft_n_accepted", 0)
        print(f"  {name} round {i + 1}: {n} tokens in {seconds:.1f} s: {n / seconds:.2f} tok/s  "
              f"(load {os.getloadavg()[0]:.2f})", flush=True)
    rate = sum(rates) / len(rates)
    acc = f"; acceptance {accepted / proposed:.2f} ({int(accepted)}/{int(proposed)})" if proposed else ""
    print(f"{name}: {rate:.2f} tok/s{acc}; load {load()}", flush=True)
    return {"rate": rate, "proposed": proposed, "accepted": accepted}


def acceptance(r):
    return f"{r['accepted'] / r['proposed']:.2f}" if r.get("proposed") else "-"


def ratio(a, b, goal=None):
    """a / b as printed, and whether that (to the precision printed) reaches the goal."""
    if not a or not b:
        return "n/a"
    text = f"{a / b:.2f}x"
    return text if goal is None else f"{text} ({'meets' if round(a / b, 2) >= goal else 'misses'} {goal:g}x)"


def summary(path):
    """The recorded arms per prompt, and Jeton's speculative rates as ratios to llama-server
    without a draft (issue 16: >= 2x) and with the same draft (>= 1.3x), and to Jeton without
    speculation (prompt lookup on the edit prompt: >= 1.5x)."""
    if not os.path.exists(path):
        print("no arm was recorded")
        return
    rows = [json.loads(line) for line in open(path) if line.strip()]
    prompts = list(dict.fromkeys(r["prompt"] for r in rows))
    by = {(r["label"], r["prompt"]): r for r in rows}  # the last record of an arm wins
    print(f"{'prompt':8} {'arm':28} {'tok/s':>7}  {'acceptance':>10}  {'vs llama-server':>22}  {'vs llama-server -md':>22}")
    for p in prompts:
        llama = by.get(("llama-server", p), {}).get("rate")
        llama_md = by.get(("llama-server -md", p), {}).get("rate")
        arms = []
        for label in ("jeton ngram", "jeton draft"):
            r = by.get((label, p))
            if r:
                arms.append((f"{label}", r["speculative"], acceptance(r), True))
                arms.append((f"{label}: plain (opt-out)", r["plain"], "-", False))
        for label in ("llama-server", "llama-server -md"):
            r = by.get((label, p))
            if r:
                arms.append((label, r["rate"], acceptance(r), False))
        for name, rate, acc, spec in arms:
            vs = (ratio(rate, llama, 2.0), ratio(rate, llama_md, 1.3)) if spec else ("", "")
            print(f"{p:8} {name:28} {rate:7.2f}  {acc:>10}  {vs[0]:>22}  {vs[1]:>22}")
        ng = by.get(("jeton ngram", p))
        if ng:
            goal = 1.5 if p == "edit" else None
            print(f"{p:8} jeton ngram / jeton plain, same server and run: {ratio(ng['speculative'], ng['plain'], goal)}"
                  f"; same text: {'yes' if ng.get('same_text') else 'NO'}")
        dr = by.get(("jeton draft", p))
        if dr:
            print(f"{p:8} jeton draft / jeton plain, same server and run: {ratio(dr['speculative'], dr['plain'])}"
                  f"; same text: {'yes' if dr.get('same_text') else 'NO'}")
    if not any(r["label"].startswith("llama") for r in rows):
        print("(no llama-server arms recorded: ratios to llama-server are n/a)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base")
    ap.add_argument("--prompt", default="edit", help="comma-separated: " + ", ".join(PROMPTS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--engine", choices=["jeton", "llama"], default="jeton")
    ap.add_argument("--label", help="name of this arm in the record (e.g. 'jeton ngram', 'llama-server -md')")
    ap.add_argument("--record", help="JSON-lines file to append each prompt's result to")
    ap.add_argument("--summary", metavar="FILE", help="print the recorded arms and their ratios, then exit")
    a = ap.parse_args()
    if a.summary:
        summary(a.summary)
        return
    if not a.base:
        ap.error("--base is required")
    names = [p for p in a.prompt.split(",") if p]
    if not names or any(p not in PROMPTS for p in names):
        ap.error(f"--prompt takes {', '.join(PROMPTS)}")
    for name in names:
        run = bench_jeton if a.engine == "jeton" else bench_llama
        r = run(a.base, name, a.rounds, a.max_tokens)
        if a.record:
            with open(a.record, "a") as f:
                f.write(json.dumps({"label": a.label or a.engine, "prompt": name, "max_tokens": a.max_tokens,
                                    "rounds": a.rounds, "load": load(), **r}) + "\n")


if __name__ == "__main__":
    main()
