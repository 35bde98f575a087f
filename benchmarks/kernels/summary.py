#!/usr/bin/env python3
"""Summary of an interleaved kernel benchmark (benchmarks/kernels/run.sh): each round's figures of
both engines, measured back to back figure by figure, then the ratios round by round (median and
range: a ratio's two figures saw the same host phase, where the best of each engine over the run
may come from different ones), Jeton's shares of the machine's limits, and the goals of issue 13.

The record is JSON lines written by run.sh:
  {"round": R, "rounds": N, "load": "1.0 0.9 0.8", "first": "llama"|"jeton"}
  {"round": R, "engine": "llama"|"jeton", "figure": "pp512", "value": 44.8 | null,
   "limit": 241.0, "share": 40.0, "limit_kind": "int8"}   (limit and share: Jeton's, when it
   printed them; limit_kind, pp only: int8, f32 or amx, the peak the share is of)
A figure an engine failed to give is null, and a round of the N that left no line (an interrupted
run) counts as missing: such rounds are n/a, never "met"."""
import argparse
import json
import math
import statistics
import sys

# (figure, goal of Jeton/llama.cpp or None, goal of Jeton's share in % or None); issue 13's goals.
GOALS = {"pp512": (2.0, None), "tg128": (1.10, 90.0)}
PARALLEL_GOALS = {"tg": 2.0}  # the generation of the 16-sequence run (issue 13's count)
LIMITS = {"pp": "GMAC/s peak", "tg": "GB/s read bandwidth"}


PEAKS = {"int8": "int8", "f32": "f32 FMA", "amx": "AMX int8"}  # run.sh's limit_kind of a pp figure


def limit_label(figure, kind):
    """The limit's name: for pp the peak the record names (int8, f32 FMA for a model of float
    weights, AMX int8), as `jeton bench` printed it."""
    if figure.startswith("pp") and kind in PEAKS:
        return f"GMAC/s {PEAKS[kind]} peak"
    return LIMITS.get(figure[:2], "")


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def goal_of(figure):
    if figure in GOALS:
        return GOALS[figure]
    if figure.endswith("x16"):  # the many-sequence figures: pp128x16, tg64x16
        return (PARALLEL_GOALS.get(figure[:2]), None)
    return (None, None)


def load(path):
    rounds, values = {}, {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                x = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: not JSON ({e})")
            if not isinstance(x, dict):
                raise SystemExit(f"{path}:{n}: not a JSON object")
            r = x.get("round")
            if not isinstance(r, int) or isinstance(r, bool) or r < 1:
                raise SystemExit(f"{path}:{n}: no round number")
            if "engine" in x:
                if x["engine"] not in ("jeton", "llama") or not isinstance(x.get("figure"), str):
                    raise SystemExit(f"{path}:{n}: needs engine jeton|llama and a figure")
                key = (r, x["figure"], x["engine"])
                if key in values:
                    raise SystemExit(f"{path}:{n}: round {r}'s {x['figure']} of {x['engine']} twice")
                values[key] = x
            else:
                rounds[r] = x
    return rounds, values


def figures_in(values):
    order = ["pp512", "tg128"]
    seen = []
    for (_, fig, _) in values:
        if fig not in seen:
            seen.append(fig)
    return [f for f in order if f in seen] + sorted(f for f in seen if f not in order)


def fmt(v, spec=".2f"):
    return format(v, spec) if number(v) else "n/a"


def summarize(path, out=sys.stdout):
    rounds, values = load(path)
    # Every round the run was asked for, whether or not it left figures.
    planned = max([x["rounds"] for x in rounds.values() if isinstance(x.get("rounds"), int)] or [0])
    nums = sorted(set(rounds) | {r for (r, _, _) in values} | set(range(1, planned + 1)))
    figs = figures_in(values)
    p = lambda s="": print(s, file=out)
    ratios = {f: [] for f in figs}
    shares = {f: [] for f in figs}
    limits = {f: [] for f in figs}
    kinds = {f: set() for f in figs}
    for r in nums:
        head = rounds.get(r, {})
        p(f"== round {r}: {head.get('first', '?')} first, load {head.get('load', '?')}")
        for f in figs:
            j = values.get((r, f, "jeton"), {})
            l = values.get((r, f, "llama"), {})
            jv, lv = j.get("value"), l.get("value")
            ratio = jv / lv if number(jv) and number(lv) and lv > 0 else None
            ratios[f].append(ratio)
            share, limit = j.get("share"), j.get("limit")
            shares[f].append(share if number(share) else None)
            limits[f].append(limit if number(limit) else None)
            if isinstance(j.get("limit_kind"), str):
                kinds[f].add(j["limit_kind"])
            tail = (f", {fmt(share, '.0f')}% of {fmt(limit, '.1f')} {limit_label(f, j.get('limit_kind'))}".rstrip()
                    if number(share) else "")
            p(f"  {f:<10} jeton {fmt(jv, '.1f'):>8}  llama.cpp {fmt(lv, '.1f'):>8}  ratio {fmt(ratio)}x{tail}")
    p(f"== jeton/llama.cpp round by round (median, range over {len(nums)} rounds)")
    for f in figs:
        goal, share_goal = goal_of(f)
        rs = [x for x in ratios[f] if x is not None]
        missing = len(ratios[f]) - len(rs)
        if not rs:
            p(f"  {f}: n/a (no round measured both)")
        else:
            gone = f", {missing} round(s) without a figure" if missing else ""
            med = statistics.median(rs)
            line = f"  {f}: {med:.2f}x ({min(rs):.2f}-{max(rs):.2f}; {len(rs)} rounds{gone})"
            if goal is not None:
                # Rounded as printed, so the verdict agrees with the figure shown.
                met = round(med, 2) >= goal and not missing
                line += f", goal >= {goal:g}x: {'met' if met else 'NOT met'}"
            p(line)
        ss = [x for x in shares[f] if x is not None]
        if not ss:
            if share_goal is not None:
                p(f"  {f} share of the limit: n/a (no round printed one), goal >= {share_goal:g}%: NOT met")
        else:
            ls = [x for x in limits[f] if x is not None]
            med = statistics.median(ss)
            sl = f"  {f} share of the limit: {med:.0f}% ({min(ss):.0f}-{max(ss):.0f}%"
            kind = next(iter(kinds[f])) if len(kinds[f]) == 1 else None
            sl += f"; limit {min(ls):.1f}-{max(ls):.1f} {limit_label(f, kind)})" if ls else ")"
            if share_goal is not None:
                met = round(med) >= share_goal and len(ss) == len(shares[f])
                sl += f", goal >= {share_goal:g}%: {'met' if met else 'NOT met'}"
            p(sl)
    # The older summary, kept for comparison with earlier sessions' figures.
    best = []
    for f in figs:
        jb = [v["value"] for (r, g, e), v in values.items() if g == f and e == "jeton" and number(v.get("value"))]
        lb = [v["value"] for (r, g, e), v in values.items() if g == f and e == "llama" and number(v.get("value"))]
        if jb and lb and max(lb) > 0:
            best.append(f"{f} {max(jb):.1f} against {max(lb):.1f} ({max(jb) / max(lb):.2f}x)")
    if best:
        p("== best of each engine: " + "; ".join(best))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("record", help="JSON lines written by benchmarks/kernels/run.sh")
    summarize(ap.parse_args().record)


if __name__ == "__main__":
    main()
