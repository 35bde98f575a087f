#!/usr/bin/env python3
"""Closed-loop streaming load against any OpenAI-compatible server.

Each of C clients sends a streamed /v1/completions request, reads it to the end,
and sends the next, until R requests are done. Reports output tokens/s over the
whole run, time to first token and inter-token latency percentiles, and errors.
Standard library only, so it measures the server and not a client library.

  bench.py --url http://127.0.0.1:8080 --concurrency 16 --requests 32 --max-tokens 128

With --json-schema FILE every request carries that schema as `response_format` (structured
output), to compare with the same load unconstrained (issue 15). When the server exposes
Jeton's /metrics, the grammar mask count and time over the run are read from it and the mean
mask time per token per sequence is printed (`jeton grammar --model` gives median and p99).
When the server speculates (`jeton serve --speculative ngram` or `--draft-model`), the tokens it
proposed and accepted over the run (/metrics deltas) and their ratio, the acceptance, are printed
too; --no-speculative sends every request with `"speculative": false` (Jeton's per-request opt-out).
"""
import argparse
import http.client
import json
import random
import statistics
import threading
import time
import urllib.parse

WORDS = ("time person year way day thing man world life hand part child eye woman place work week case point "
         "government company number group problem fact river mountain city music garden window letter story").split()


def make_prompt(rng, words):
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def one_request(url, model, prompt, max_tokens, ignore_eos, timeout, temperature=0.0, schema=None, speculative=True):
    """Returns (ttft, [token arrival times], output tokens, error)."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature, "stream": True,
            "stream_options": {"include_usage": True}}
    if schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "bench", "schema": schema}}
    if ignore_eos:
        body["ignore_eos"] = True
    if not speculative:
        body["speculative"] = False
    t0 = time.perf_counter()
    try:
        conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
        r = conn.getresponse()
        if r.status != 200:
            return None, [], 0, f"HTTP {r.status}"
        arrivals, usage_tokens = [], None
        buf = b""
        while True:
            chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                line = event.strip()
                if not line.startswith(b"data: "):
                    continue
                data = line[6:]
                if data == b"[DONE]":
                    continue
                obj = json.loads(data)
                if obj.get("usage"):
                    usage_tokens = obj["usage"]["completion_tokens"]
                for c in obj.get("choices") or []:
                    if c.get("text"):
                        arrivals.append(time.perf_counter())
        n = usage_tokens if usage_tokens is not None else len(arrivals)
        ttft = arrivals[0] - t0 if arrivals else None
        return ttft, arrivals, n, None
    except Exception as e:  # reported as an error of this request
        return None, [], 0, type(e).__name__
    finally:
        conn.close()


GRAMMAR = ("jeton_grammar_masks_total", "jeton_grammar_mask_seconds_total", "jeton_grammar_fast_picks_total")
SPECULATION = ("jeton_spec_proposed_tokens_total", "jeton_spec_accepted_tokens_total")


def jeton_counters(url):
    """Jeton's grammar and speculation counters from /metrics, summed over labels, or None when
    the server has no such counters (llama-server)."""
    u = urllib.parse.urlparse(url)
    try:
        c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode(errors="replace")
        c.close()
        if r.status != 200:
            return None
    except OSError:
        return None
    vals = {}
    for line in text.splitlines():
        for name in GRAMMAR + SPECULATION:
            if line.startswith(name + "{") or line.startswith(name + " "):
                vals[name] = vals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return vals or None


def delta(before, after, name):
    if not before or not after or name not in before or name not in after:
        return None
    return after[name] - before[name]


def run(url, model, concurrency, requests, prompt_words, max_tokens, ignore_eos, seed, timeout=600, temperature=0.0,
        schema=None, speculative=True):
    rng = random.Random(seed)
    prompts = [make_prompt(rng, prompt_words) for _ in range(requests)]
    lock = threading.Lock()
    next_i = [0]
    results = []

    def client():
        while True:
            with lock:
                if next_i[0] >= requests:
                    return
                i = next_i[0]
                next_i[0] += 1
            # A comma-separated --model spreads the requests over several models (e.g. LoRA adapters and the base).
            models = model.split(",")
            res = one_request(url, models[i % len(models)], prompts[i], max_tokens, ignore_eos, timeout, temperature, schema,
                              speculative)
            with lock:
                results.append(res)

    before = jeton_counters(url)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    after = jeton_counters(url)
    masks, mask_s = delta(before, after, GRAMMAR[0]), delta(before, after, GRAMMAR[1])
    fast = delta(before, after, GRAMMAR[2]) or 0  # constrained tokens taken without a mask (greedy)
    proposed, accepted = delta(before, after, SPECULATION[0]), delta(before, after, SPECULATION[1])
    ttfts = [r[0] for r in results if r[0] is not None]
    itls = []
    for _, arr, _, _ in results:
        itls += [b - a for a, b in zip(arr, arr[1:])]
    tokens = sum(r[2] for r in results if r[3] is None)
    errors = {}
    for r in results:
        if r[3]:
            errors[r[3]] = errors.get(r[3], 0) + 1
    return {
        "concurrency": concurrency, "requests": requests, "wall_s": wall, "output_tokens": tokens,
        "output_tok_s": tokens / wall, "ttft_p50_s": percentile(ttfts, 50), "ttft_p99_s": percentile(ttfts, 99),
        "itl_p50_ms": percentile(itls, 50) * 1000, "itl_p99_ms": percentile(itls, 99) * 1000,
        "errors": errors, "grammar_masks": masks,
        "mask_us_mean": (mask_s / masks * 1e6) if masks else None,
        # Mask time over every constrained token, those that needed no mask included.
        "grammar_fast_picks": fast,
        "mask_us_per_token": (mask_s / (masks + fast) * 1e6) if (masks or 0) + fast else None,
        # Accepted over proposed speculative tokens in the run; None when nothing was proposed.
        "spec_proposed": proposed, "spec_accepted": accepted,
        "spec_acceptance": (accepted / proposed) if proposed else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--model", default="default", help="model name, or several separated by commas, used in turn")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--requests", type=int, default=0, help="total requests (default: 2 per client)")
    ap.add_argument("--prompt-words", type=int, default=100, help="about 1.3 tokens per word")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--no-ignore-eos", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--temperature", type=float, default=0.0, help="0: greedy (1 is the API's default)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--json-schema", help="file holding a JSON schema every request carries as response_format")
    ap.add_argument("--no-speculative", action="store_true",
                    help='send `"speculative": false` (Jeton: no speculative decoding for these requests)')
    a = ap.parse_args()
    schema = json.load(open(a.json_schema)) if a.json_schema else None
    r = run(a.url, a.model, a.concurrency, a.requests or 2 * a.concurrency, a.prompt_words, a.max_tokens,
            not a.no_ignore_eos, a.seed, temperature=a.temperature, schema=schema, speculative=not a.no_speculative)
    if a.json:
        print(json.dumps(r))
    else:
        print(f"concurrency {r['concurrency']}: {r['output_tok_s']:.1f} output tok/s, "
              f"TTFT p50 {r['ttft_p50_s']:.3f} s p99 {r['ttft_p99_s']:.3f} s, "
              f"ITL p50 {r['itl_p50_ms']:.1f} ms p99 {r['itl_p99_ms']:.1f} ms, errors {r['errors'] or 0}"
              + (f", grammar masks {int(r['grammar_masks'])} mean {r['mask_us_mean']:.1f} us/mask"
                 if r["grammar_masks"] else "")
              + (f", {int(r['grammar_fast_picks'])} constrained tokens needed no mask, "
                 f"{r['mask_us_per_token']:.1f} us of masks per constrained token" if r["grammar_fast_picks"] else "")
              + (f", speculative acceptance {r['spec_acceptance']:.2f} "
                 f"({int(r['spec_accepted'])}/{int(r['spec_proposed'])} tokens)" if r["spec_proposed"] else ""))


if __name__ == "__main__":
    main()
