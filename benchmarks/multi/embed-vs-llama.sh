#!/usr/bin/env bash
# Embedding throughput of `jeton serve` against `llama-server --embedding` on the same file
# and threads: ROUNDS alternating rounds, each server alone, 16 clients each sending batches
# of 32 sentences of ~40 tokens (mixed.py --chat 0) for SECONDS; prints sentences/s per round
# and the CPU seconds each server used.
#   JETON=.build-rel/release/jeton benchmarks/multi/embed-vs-llama.sh [ROUNDS] [SECONDS]
# BASE=/path/to/an/older/jeton adds a third server to each round (before/after comparisons).
# Never run in CI: benchmarks only.
set -euo pipefail
ROUNDS=${1:-3}; SECONDS_PER=${2:-40}
JETON=${JETON:-.build-rel/release/jeton}
MODEL=${MODEL:-$HOME/.cache/jeton/models/nomic-embed-text-v1.5.f16.gguf}
THREADS=${THREADS:-$(nproc)}; CLIENTS=${CLIENTS:-16}
LLAMA=${LLAMA:-$(benchmarks/llama-cpp.sh llama-server)/llama-server}
PY=${PY:-python3}
PORT=${PORT:-18391}
here=$(cd "$(dirname "$0")" && pwd)

wait_ready() { for _ in $(seq 600); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0; sleep 0.2; done; return 1; }
run_one() {  # $1: label; the server's command follows
  local label=$1; shift
  "$@" >/tmp/embed-bench-$label.log 2>&1 & local pid=$!
  wait_ready || { echo "$label did not start"; kill "$pid"; return 1; }
  # one warm-up request, then the measured window
  $PY "$here/mixed.py" --base "http://127.0.0.1:$PORT" --chat 0 --embed 1 --seconds 0.1 --embed-model embed >/dev/null
  local out; out=$($PY "$here/mixed.py" --base "http://127.0.0.1:$PORT" --chat 0 --embed "$CLIENTS" --seconds "$SECONDS_PER" --embed-model embed)
  # CPU seconds the server used (user + system, all threads): less sensitive than wall time to
  # other jobs on a shared machine; includes the warm-up request and the load.
  local cpu; cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$label $(echo "$out" | grep -E '^embed:') $(echo "$out" | grep -E '^wall_s') cpu_s $cpu"
}
for r in $(seq "$ROUNDS"); do
  echo "round $r  load: $(cut -d' ' -f1-3 /proc/loadavg)"
  run_one llama "$LLAMA" -m "$MODEL" --embedding --pooling mean -t "$THREADS" -tb "$THREADS" -c 8192 -np "$CLIENTS" \
    -b 2048 -ub 2048 --port "$PORT" --host 127.0.0.1
  run_one jeton "$JETON" serve --model "$MODEL" --threads "$THREADS" --served-model-name embed --port "$PORT" --host 127.0.0.1
  if [ -n "${BASE:-}" ]; then
    run_one base "$BASE" serve --model "$MODEL" --threads "$THREADS" --served-model-name embed --port "$PORT" --host 127.0.0.1
  fi
done
