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
  bench.py --arm LABEL ENGINE URL [--arm ...] --prompt ... [--record FILE]   # servers up at once, interleaved
  bench.py --summary FILE      # the recorded arms side by side, with the issue's ratios

With several --arm, every server is up at once and each round asks each arm in turn (the order
rotating by round), so a drift in the host's speed (on shared machines single runs spread by
+-10-30%) reaches every arm alike; the summary then also gives each ratio round by round (median
and range), not only as a ratio of means.

Rates are completion tokens over each request's wall time (prompt included: every arm answers
the same prompt again and finds it cached after the warm-up).
"""
import argparse
import json
import os
import re
import statistics
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


def chat_body(name, max_tokens):
    return {"model": "default", "messages": [{"role": "user", "content": PROMPTS[name]}], "max_tokens": max_tokens,
            "temperature": 0, "ignore_eos": True}


class Arm:
    """One server of an interleaved run and what it measured on the current prompt."""

    def __init__(self, label, engine, base):
        self.label, self.engine, self.base = label, engine, base
        self.reset()

    def reset(self):
        self.rates = {True: [], False: []}  # Jeton: speculative / plain; llama-server: under True
        self.texts = {}
        self.proposed = self.accepted = 0.0

    def ask(self, name, body, round_index):
        """This round's request(s): Jeton both arms (which first alternating by round), llama-server one."""
        if self.engine == "jeton":
            order = (True, False) if round_index % 2 == 0 else (False, True)
        else:
            order = (True,)
        for spec in order:
            before = counters(self.base) if self.engine == "jeton" else None
            out, seconds = post(self.base, {**body, "speculative": spec} if self.engine == "jeton" else body)
            n = out["usage"]["completion_tokens"]
            self.rates[spec].append(n / seconds)
            self.texts.setdefault(spec, out["choices"][0]["message"]["content"])
            if self.engine == "jeton" and spec:
                after = counters(self.base)
                self.proposed += after["jeton_spec_proposed_tokens_total"] - before["jeton_spec_proposed_tokens_total"]
                self.accepted += after["jeton_spec_accepted_tokens_total"] - before["jeton_spec_accepted_tokens_total"]
            elif self.engine == "llama":
                t = out.get("timings") or {}
                self.proposed += t.get("draft_n", 0)
                self.accepted += t.get("draft_n_accepted", 0)
            what = f" speculative={str(spec).lower():5}" if self.engine == "jeton" else ""
            print(f"  {name} round {round_index + 1} {self.label}{what}: {n} tokens in {seconds:.1f} s: "
                  f"{n / seconds:.2f} tok/s  (load {os.getloadavg()[0]:.2f})", flush=True)

    def result(self):
        mean = lambda xs: sum(xs) / len(xs)
        if self.engine == "jeton":
            return {"speculative": mean(self.rates[True]), "plain": mean(self.rates[False]),
                    "rates_speculative": self.rates[True], "rates_plain": self.rates[False],
                    "proposed": self.proposed, "accepted": self.accepted,
                    "same_text": self.texts.get(True) == self.texts.get(False)}
        return {"rate": mean(self.rates[True]), "rates": self.rates[True], "proposed": self.proposed,
                "accepted": self.accepted}


def bench_interleaved(arms, name, rounds, max_tokens):
    """Every arm on one prompt, round by round, each round visiting the arms in a rotated order."""
    body = chat_body(name, max_tokens)
    for arm in arms:
        arm.reset()
        post(arm.base, {**body, "max_tokens": 4})  # warm up: page the weights in, cache the prompt
    for i in range(rounds):
        k = i % len(arms)
        for arm in arms[k:] + arms[:k]:
            arm.ask(name, body, i)
    results = {}
    for arm in arms:
        r = arm.result()
        results[arm.label] = r
        if arm.engine == "jeton":
            acc = f"{arm.accepted / arm.proposed:.2f} ({int(arm.accepted)}/{int(arm.proposed)})" if arm.proposed else "-"
            print(f"{name} {arm.label}: speculative {r['speculative']:.2f} tok/s, plain {r['plain']:.2f} tok/s, "
                  f"acceptance {acc}, same text: {r['same_text']}", flush=True)
        else:
            acc = f", acceptance {arm.accepted / arm.proposed:.2f}" if arm.proposed else ""
            print(f"{name} {arm.label}: {r['rate']:.2f} tok/s{acc}", flush=True)
    return results


def paired(a, b):
    """Round-by-round ratios of two arms measured in the same rounds: 'median (min-max)', or ''."""
    if not a or not b or len(a) != len(b) or len(a) < 2 or not all(b):
        return ""
    rs = [x / y for x, y in zip(a, b)]
    return f"{statistics.median(rs):.2f}x ({min(rs):.2f}-{max(rs):.2f})"


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
        # Interleaved runs: each ratio round by round as well (the same rounds saw the same host).
        pairs = []
        for label in ("jeton ngram", "jeton draft"):
            r = by.get((label, p))
            if not r:
                continue
            for other in ("llama-server", "llama-server -md"):
                o = by.get((other, p), {})
                # Across servers only when they were asked in the same interleaved rounds.
                if not (r.get("interleaved") and r.get("run") and r.get("run") == o.get("run")):
                    continue
                text = paired(r.get("rates_speculative"), o.get("rates"))
                if text:
                    pairs.append(f"{label} / {other} {text}")
            text = paired(r.get("rates_speculative"), r.get("rates_plain"))
            if text:
                pairs.append(f"{label} / its plain {text}")
        if pairs:
            print(f"{p:8} round by round (median, range): " + "; ".join(pairs))
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
    ap.add_argument("--arm", nargs=3, action="append", metavar=("LABEL", "ENGINE", "URL"),
                    help="one server of an interleaved run (repeat for each; ENGINE jeton or llama)")
    ap.add_argument("--summary", metavar="FILE", help="print the recorded arms and their ratios, then exit")
    a = ap.parse_args()
    if a.summary:
        summary(a.summary)
        return
    if not a.base and not a.arm:
        ap.error("--base or --arm is required")
    names = [p for p in a.prompt.split(",") if p]
    if not names or any(p not in PROMPTS for p in names):
        ap.error(f"--prompt takes {', '.join(PROMPTS)}")
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    if a.arm:
        if a.base or a.label:
            ap.error("--arm names each server: --base and --label are for one server without --arm")
        if any(engine not in ("jeton", "llama") for _, engine, _ in a.arm):
            ap.error("--arm ENGINE is jeton or llama")
        labels = [label for label, _, _ in a.arm]
        if len(set(labels)) != len(labels):
            ap.error("each --arm needs its own LABEL")
        arms = [Arm(label, engine, url.rstrip("/")) for label, engine, url in a.arm]
    else:
        arms = [Arm(a.label or a.engine, a.engine, a.base.rstrip("/"))]  # one server, one arm
    run = time.strftime("%Y-%m-%dT%H:%M:%S")  # pairs the arms of this run in the summary
    for name in names:
        results = bench_interleaved(arms, name, a.rounds, a.max_tokens)
        if a.record:
            with open(a.record, "a") as f:
                for label, r in results.items():
                    f.write(json.dumps({"label": label, "prompt": name, "max_tokens": a.max_tokens, "rounds": a.rounds,
                                        "load": load(), "run": run, "interleaved": len(arms) > 1, **r}) + "\n")


if __name__ == "__main__":
    main()
