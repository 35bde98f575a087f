#!/usr/bin/env python3
"""Mixed load on one `jeton serve` holding a chat model and an embedding model: CHAT streaming
chat clients and EMBED embedding clients (each sending batches of 32 sentences of about 40
tokens) for SECONDS, then the chat tokens/s, time to first token and inter-token gaps, and the
embedded sentences/s; with --rss PID, the server's resident memory before and after.

  python3 benchmarks/multi/mixed.py --base http://127.0.0.1:8080 --chat 8 --embed 8 --seconds 60
(--chat 0 or --embed 0 measures one side alone.)"""
import argparse
import json
import statistics
import threading
import time
import urllib.request

WORDS = ("the server batches prompts from many clients so that each pass over the weights "
         "serves them all while a paged cache keeps the keys and values of every sequence").split()


def sentence(i):
    # About 40 WordPiece tokens, different per index so no two inputs are equal.
    return " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(34)) + f" {i}."


def post(base, path, body, stream=False):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=600)


def rss_mib(pid):
    """Resident MiB: in all, its peak (VmHWM), anonymous (KV cache, scratch, packed weights) and file-backed (mapped weights)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) / 1024
    return " ".join(f"{k} {v:.1f}" for k, v in out.items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8080")
    ap.add_argument("--chat", type=int, default=8)
    ap.add_argument("--embed", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--chat-model", default="default")
    ap.add_argument("--embed-model", default="nomic-embed-text-v1.5")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rss", type=int, help="server pid: print its RSS before and after")
    a = ap.parse_args()
    if a.rss:
        print(f"rss_before_mib {rss_mib(a.rss)}")
    stop = time.time() + a.seconds
    lock = threading.Lock()
    stats = {"tokens": 0, "ttft": [], "gaps": [], "sentences": 0, "errors": 0, "chats": 0, "batches": 0}

    def chat(c):
        n = 0
        while time.time() < stop:
            body = {"model": a.chat_model, "messages": [{"role": "user", "content": f"Tell me a story about the number {c * 1000 + n}."}],
                    "max_tokens": a.max_tokens, "temperature": 0, "stream": True, "ignore_eos": True}
            n += 1
            t0 = time.time()
            last, tokens, ttft, gaps = None, 0, None, []
            try:
                with post(a.base, "/v1/chat/completions", body) as r:
                    for line in r:
                        if not line.startswith(b"data: {"):
                            continue
                        d = json.loads(line[6:])
                        if d["choices"] and d["choices"][0]["delta"].get("content"):
                            now = time.time()
                            if ttft is None:
                                ttft = now - t0
                            else:
                                gaps.append(now - last)
                            last = now
                            tokens += 1
            except Exception:
                with lock:
                    stats["errors"] += 1
                continue
            with lock:
                stats["tokens"] += tokens
                stats["chats"] += 1
                stats["gaps"] += gaps
                if ttft is not None:
                    stats["ttft"].append(ttft)

    def embed(c):
        n = 0
        while time.time() < stop:
            batch = [sentence(c * 100000 + n * 32 + k) for k in range(32)]
            n += 1
            try:
                with post(a.base, "/v1/embeddings", {"model": a.embed_model, "input": batch}) as r:
                    got = len(json.loads(r.read())["data"])
            except Exception:
                with lock:
                    stats["errors"] += 1
                continue
            with lock:
                stats["sentences"] += got
                stats["batches"] += 1

    threads = [threading.Thread(target=chat, args=(i,)) for i in range(a.chat)]
    threads += [threading.Thread(target=embed, args=(i,)) for i in range(a.embed)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0  # requests in flight at the deadline finish: count over the whole wall time
    q = lambda xs, p: statistics.quantiles(xs, n=100)[p - 1] if len(xs) >= 2 else float("nan")
    print(f"wall_s {wall:.1f} errors {stats['errors']}")
    print(f"chat: requests {stats['chats']} tokens {stats['tokens']} tok/s {stats['tokens'] / wall:.1f} "
          f"ttft_p50 {q(stats['ttft'], 50):.2f} ttft_p90 {q(stats['ttft'], 90):.2f} "
          f"itl_p50_ms {1000 * q(stats['gaps'], 50):.0f} itl_p90_ms {1000 * q(stats['gaps'], 90):.0f}")
    print(f"embed: batches {stats['batches']} sentences {stats['sentences']} sentences/s {stats['sentences'] / wall:.1f}")
    if a.rss:
        print(f"rss_after_mib {rss_mib(a.rss)}")


if __name__ == "__main__":
    main()
