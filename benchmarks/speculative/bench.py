#!/usr/bin/env python3
"""Speculative decoding, one client, temperature 0: output tokens/s with and without speculation,
measured in the same run on the same server (requests alternate `"speculative": true/false`, so
both see the same machine load), and the acceptance rate from /metrics.

Usage: bench.py --base http://127.0.0.1:PORT --prompt edit|general [--rounds 3] [--max-tokens 256]
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

GENERAL = "Write a Python function that parses a CSV file of transactions (date, description, amount) and returns the monthly totals as a dict, with a docstring and comments."


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--prompt", choices=["edit", "general"], default="edit")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=256)
    a = ap.parse_args()
    prompt = EDIT if a.prompt == "edit" else GENERAL
    body = {"model": "default", "messages": [{"role": "user", "content": prompt}], "max_tokens": a.max_tokens, "temperature": 0,
            "ignore_eos": True}
    post(a.base, {**body, "max_tokens": 4})  # warm up: page the weights in
    rates = {True: [], False: []}
    texts = {}
    proposed = accepted = 0.0
    for i in range(a.rounds):
        # Alternate which goes first, so a drift in load favours neither.
        for spec in ((True, False) if i % 2 == 0 else (False, True)):
            before = counters(a.base)
            out, seconds = post(a.base, {**body, "speculative": spec})
            after = counters(a.base)
            n = out["usage"]["completion_tokens"]
            rates[spec].append(n / seconds)
            texts.setdefault(spec, out["choices"][0]["message"]["content"])
            if spec:
                proposed += after["jeton_spec_proposed_tokens_total"] - before["jeton_spec_proposed_tokens_total"]
                accepted += after["jeton_spec_accepted_tokens_total"] - before["jeton_spec_accepted_tokens_total"]
            print(f"  round {i + 1} speculative={str(spec).lower():5} {n} tokens in {seconds:.1f} s: {n / seconds:.2f} tok/s"
                  f"  (load {os.getloadavg()[0]:.2f})", flush=True)
    on = sum(rates[True]) / len(rates[True])
    off = sum(rates[False]) / len(rates[False])
    same = texts.get(True) == texts.get(False)
    print(f"{a.prompt}: speculative {on:.2f} tok/s, plain {off:.2f} tok/s, ratio {on / off:.2f}x; "
          f"acceptance {accepted / proposed if proposed else 0:.2f} ({int(accepted)}/{int(proposed)}); "
          f"same text: {same}; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
