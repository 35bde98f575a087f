#!/usr/bin/env bash
# Speculative decoding on Qwen2.5-Coder-1.5B (2 threads), one client, temperature 0:
#   1. prompt lookup (--speculative ngram) on a code-edit prompt;
#   2. the 0.5B as draft model (--draft-model qwen2.5-coder-0.5b) on a general prompt.
# Each server answers both with and without speculation (per-request opt-out), alternating, so
# the ratios printed compare runs under the same load. Needs a release build and both models
# (`jeton pull qwen2.5-coder-1.5b`, `jeton pull qwen2.5-coder-0.5b`).
set -euo pipefail
cd "$(dirname "$0")/../.."
JETON=${JETON:-.build/release/jeton}
ROUNDS=${ROUNDS:-3}
MAX_TOKENS=${MAX_TOKENS:-256}
MODEL=${MODEL:-qwen2.5-coder-1.5b}
PORT=${PORT:-18431}

serve() {
    "$JETON" serve --model "$MODEL" --threads 2 --port "$PORT" --cache-tokens 4096 "$@" >/tmp/jeton-spec-bench.log 2>&1 &
    PID=$!
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && return 0
        kill -0 $PID 2>/dev/null || { cat /tmp/jeton-spec-bench.log; exit 1; }
        sleep 0.5
    done
    echo "server not ready"; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== prompt lookup (ngram), code edit"
serve --speculative ngram
python3 benchmarks/speculative/bench.py --base "http://127.0.0.1:$PORT" --prompt edit --rounds "$ROUNDS" --max-tokens "$MAX_TOKENS"
stop
echo "== draft model qwen2.5-coder-0.5b, general prompt"
serve --draft-model qwen2.5-coder-0.5b
python3 benchmarks/speculative/bench.py --base "http://127.0.0.1:$PORT" --prompt general --rounds "$ROUNDS" --max-tokens "$MAX_TOKENS"
stop
