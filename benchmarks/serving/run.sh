#!/usr/bin/env bash
# Jeton beside llama.cpp's llama-server (issue 13), on the same GGUF file, same machine, each with
# the same threads (2 by default). Both servers are up at once (ports PORT, PORT+1, and PORT+2 for
# llama-server's scenario c) and each scenario asks them in turn, one at a time, the first
# changing by round and by scenario, so a drift in the host's speed reaches both alike; each
# round's figures and the goal ratios round by round (median and range) end the run. ROUNDS (2)
# sets the rounds, each with prompts of its own; INTERLEAVE=0 runs llama-server's scenarios, then
# Jeton's, with one server up at a time (as --only does for one engine).
#
#   benchmarks/serving/run.sh [--model NAME|PATH] [--threads N] [--scenarios a,b,c]
#                             [--only jeton|llama] [--no-extras] [--port P]
#                             [--speculative ngram|draft] [--draft-model NAME] [-- SCENARIO OPTIONS]
#
#   --model      a catalog name (`jeton list`: default, qwen2.5-coder-1.5b, ...) or a GGUF path;
#                a name is resolved to its file with `jeton show` (or fetched with `jeton pull`)
#                and llama-server is given that same file. Default: `default` (SmolLM2-135M).
#   --scenarios  which of the three below (default a,b,c); --only runs one engine;
#   --no-extras  skips Jeton's prefix-cache and early-disconnect checks (prefix_and_disconnect.py).
#   --speculative METHOD, --draft-model NAME  passed to `jeton serve` (speculative decoding; llama-server
#                runs as before, without a draft). Each Jeton line then ends with the speculative
#                acceptance over the scenario (accepted / proposed tokens, from /metrics deltas).
#   --structured [SCHEMA]  instead of the scenarios: Jeton alone, 16 streaming clients
#                (bench.py) unconstrained, then the same load with every request carrying SCHEMA
#                (default benchmarks/serving/order.schema.json) as a json_schema, ROUNDS times
#                (env, default 2) in turn; prints output tok/s of each, the constrained /
#                unconstrained ratio (issue 15: >= 0.9) and the mean grammar mask time per token
#                from /metrics. Env STRUCTURED=1 does the same. Env BENCH_OPTS: bench.py options.
#   after --     options for scenarios.py (see `scenarios.py --help`), e.g. `-- --rounds 2`
#                or `-- --long-prompt-tokens 2048 --stream-tokens 512`.
#
# Scenarios (scenarios.py; streamed /v1/completions, temperature 0, ignore_eos, distinct
# deterministic prompts, times taken as each SSE chunk arrives):
#   a  16 clients at once, ~130-token prompts, 64 tokens each: aggregate output tokens/s,
#      TTFT p50/p99, inter-token latency p50/p99, ITL p99/p50 (the issue's number for Jeton).
#   b  1 client, ~130-token prompt, 128 tokens: tokens/s and TTFT (median of 2 requests).
#   c  4 clients streaming 256 tokens each; once each has its first tokens a 5th sends a
#      ~4,096-token prompt (max_tokens 16): its TTFT (goal: <= 0.5 x llama-server's) and each
#      stream's largest inter-token gap during that prefill (goal: none over 1 s).
# Each scenario prints one line per engine and a Jeton/llama.cpp ratio line at the end.
#
# llama-server runs with -np 16 -cb -c 16384 -t THREADS (16 slots, continuous batching) for a
# and b. With 16 slots a slot holds 16384/16 = 1,024 tokens, too few for c's long prompt, so c
# goes to a llama-server with the same flags plus -kvu (one KV buffer shared by all slots, as
# Jeton's paged cache is shared: --cache-tokens 16384): a third server beside the other two
# (interleaved; about 3 GB for the 1.5B with all three up), else a restart. Jeton: serve -t THREADS
# --cache-tokens 16384.
# The load average is printed before each engine run (and stored with each scenario). Every
# request has a deadline (scenarios.py --timeout, 600 s a scenario) and every step a bound,
# so a run always ends; servers listen on 127.0.0.1 only and are stopped on exit.
# Environment: JETON (binary, default .build/release/jeton), JETON_PREBUILT=1 (skip the
# release build), LLAMA_SERVER_BIN (folder holding llama-server; else benchmarks/llama-cpp.sh
# builds it once outside the repo).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH

MODEL_ARG=default THREADS=${THREADS:-2} SCENARIOS=a,b,c ONLY= EXTRAS=1 PORT=${PORT:-18777}
INTERLEAVE=${INTERLEAVE:-1}
case "$INTERLEAVE" in 0|1) ;; *) echo "INTERLEAVE takes 0 or 1" >&2; exit 2 ;; esac
ROUNDS=${ROUNDS:-2}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS takes a positive count" >&2; exit 2; }
SCHEMA=
JETON_SPEC=()  # speculative decoding options for jeton serve
[ -n "${STRUCTURED:-}" ] && SCHEMA=benchmarks/serving/order.schema.json
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL_ARG=$2; shift 2 ;;
    --threads|-t) THREADS=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --no-extras) EXTRAS=0; shift ;;
    --port) PORT=$2; shift 2 ;;
    --speculative) JETON_SPEC+=(--speculative "$2"); shift 2 ;;
    --draft-model) JETON_SPEC+=(--draft-model "$2"); shift 2 ;;
    --structured)
      if [ $# -ge 2 ] && [ -f "$2" ]; then SCHEMA=$2; shift 2; else SCHEMA=benchmarks/serving/order.schema.json; shift; fi ;;
    --) shift; PASS=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$ONLY" in ""|jeton|llama) ;; *) echo "--only takes jeton or llama" >&2; exit 2 ;; esac

JETON=${JETON:-.build/release/jeton}
[ -n "${JETON_PREBUILT:-}" ] || swift build -c release --product jeton >&2

# A catalog name -> its GGUF file (the same file for both engines).
if [ -f "$MODEL_ARG" ]; then
  MODEL=$MODEL_ARG
else
  MODEL=$(timeout 60 "$JETON" show "$MODEL_ARG" 2>/dev/null | sed -n 's/^file: //p' | head -n 1 || true)
  [ -n "$MODEL" ] && [ -f "$MODEL" ] || MODEL=$("$JETON" pull "$MODEL_ARG")
fi
[ -f "$MODEL" ] || { echo "no GGUF file for $MODEL_ARG" >&2; exit 1; }
echo "model: $MODEL_ARG -> $MODEL; threads $THREADS; scenarios $SCENARIOS; ports from $PORT (127.0.0.1)"

if [ -n "$SCHEMA" ]; then ONLY=jeton; fi
if [ "$ONLY" != jeton ]; then
  BIN=${LLAMA_SERVER_BIN:-$(benchmarks/llama-cpp.sh llama-server)}
fi
OUT=$(mktemp -d)
URL="http://127.0.0.1:$PORT"
SERVER_PID=  # the server `start` started last
PIDS=()      # every server up

# stop_server [PID]: stops that server (default: all of them) and waits for it to exit.
stop_server() {
  local pid keep=()
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do
    if [ -n "${1:-}" ] && [ "$pid" != "$1" ]; then keep+=("$pid"); continue; fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=(${keep[@]+"${keep[@]}"})
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# start NAME LOG PATH URL COMMAND...: refuses a port already answering; waits for readiness at
# URL/PATH (180 s at most); SERVER_PID is the new server.
start() {
  local name=$1 log=$2 path=$3 url=$4; shift 4
  if curl -s -o /dev/null -m 2 "$url/health"; then echo "something already listens on $url" >&2; exit 1; fi
  echo "== $name: $* (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 900); do
    curl -sf -o /dev/null -m 2 "$url$path" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "$name exited; log:" >&2; tail -n 20 "$log" >&2; exit 1; }
    sleep 0.2
  done
  echo "$name not ready after 180 s; log: $log" >&2; exit 1
}

scen() {  # scen ENGINE SCENARIOS
  timeout --signal=INT 2400 python3 benchmarks/serving/scenarios.py --url "$URL" --engine "$1" \
    --scenarios "$2" --out "$OUT/$1.json" --prompts "$OUT/prompts.json" ${PASS[@]+"${PASS[@]}"} || true
}

if [ -n "$SCHEMA" ]; then
  start "jeton serve" "$OUT/jeton.log" /ready "$URL" "$JETON" serve --model "$MODEL" -t "$THREADS" --host 127.0.0.1 \
    --port "$PORT" --cache-tokens 16384 ${JETON_SPEC[@]+"${JETON_SPEC[@]}"}
  python3 benchmarks/serving/bench.py --url "$URL" --json --seed 999 ${BENCH_OPTS:-} >/dev/null  # warm-up (first pages)
  for r in $(seq 1 "$ROUNDS"); do
    for mode in free schema; do
      # Each run its own prompts (seed), so neither finds the other's in the prefix cache.
      extra=(--seed $((r * 10))); [ "$mode" = schema ] && extra=(--seed $((r * 10 + 1)) --json-schema "$SCHEMA")
      echo "== round $r, $mode (load average $(cut -d' ' -f1-3 /proc/loadavg))"
      timeout --signal=INT 1200 python3 benchmarks/serving/bench.py --url "$URL" ${BENCH_OPTS:-} "${extra[@]}" --json \
        | tee -a "$OUT/$mode.jsonl"
    done
  done
  stop_server
  python3 - "$OUT" "$SCHEMA" <<'PY'
import json, statistics, sys
out, schema = sys.argv[1], sys.argv[2]
rows = {m: [json.loads(l) for l in open(f"{out}/{m}.jsonl")] for m in ("free", "schema")}
tok = {m: statistics.median(r["output_tok_s"] for r in rows[m]) for m in rows}
masks = [r for r in rows["schema"] if r.get("grammar_masks")]
print(f"\n== structured outputs ({schema}); results in {out}")
for m in ("free", "schema"):
    print(f"{m:>7}: {tok[m]:.1f} output tok/s (median of {len(rows[m])}: "
          + ", ".join(f"{r['output_tok_s']:.1f}" for r in rows[m]) + ")"
          + f", ITL p50 {statistics.median(r['itl_p50_ms'] for r in rows[m]):.1f} ms")
print(f"  ratio: {tok['schema'] / tok['free']:.3f} (goal >= 0.9)")
for m in ("free", "schema"):
    p = sum(r.get("spec_proposed") or 0 for r in rows[m])
    if p:
        a = sum(r.get("spec_accepted") or 0 for r in rows[m])
        print(f"  {m}: speculative acceptance {a / p:.2f} ({int(a)}/{int(p)} tokens)")
fast = sum(r.get("grammar_fast_picks") or 0 for r in rows["schema"])
if masks or fast:
    n = sum(r["grammar_masks"] for r in masks)
    seconds = sum(r["grammar_masks"] * r["mask_us_mean"] for r in masks) / 1e6
    print(f"  grammar masks: {int(n)}" + (f", mean {seconds / n * 1e6:.1f} us per mask" if n else "")
          + f"; {int(fast)} greedy tokens the grammar allowed needed none; "
          f"{seconds / (n + fast) * 1e6:.1f} us of masks per constrained token per sequence (engine thread)")
PY
  exit 0
fi

has() { [[ ",$SCENARIOS," == *",$1,"* ]]; }
AB=$(echo "$SCENARIOS" | tr ',' '\n' | grep -E '^(a|b)$' | paste -sd, - || true)
LLAMA_FLAGS=(-m "$MODEL" -t "$THREADS" -np 16 -cb -c 16384 --host 127.0.0.1)

JETON_SERVE=("$JETON" serve --model "$MODEL" -t "$THREADS" --host 127.0.0.1 --port "$PORT" --cache-tokens 16384
             ${JETON_SPEC[@]+"${JETON_SPEC[@]}"})
extras() {  # Jeton's prefix-cache and early-disconnect checks, against the Jeton server up alone
  if [ "$EXTRAS" = 1 ]; then
    echo "== Jeton alone: prefix cache and early disconnects (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    timeout --signal=INT 600 python3 benchmarks/serving/prefix_and_disconnect.py --url "$URL" || true
  fi
}

if [ "$INTERLEAVE" = 1 ] && [ -z "$ONLY" ]; then
  # Both engines up at once; scenarios.py asks them in turn (the rotation in its --arm mode).
  start "jeton serve" "$OUT/jeton.log" /ready "$URL" "${JETON_SERVE[@]}"
  JETON_PID=$SERVER_PID
  ARMS=(--arm jeton "$URL")
  LLAMA_URL="http://127.0.0.1:$((PORT + 1))" KVU_URL="http://127.0.0.1:$((PORT + 2))"
  if [ -n "$AB" ]; then
    start "llama-server -np 16 -cb" "$OUT/llama.log" /health "$LLAMA_URL" "$BIN/llama-server" "${LLAMA_FLAGS[@]}" \
      --port $((PORT + 1))
    ARMS+=(--arm llama "$LLAMA_URL")
  else
    ARMS+=(--arm llama "$KVU_URL")
  fi
  if has c; then
    start "llama-server -np 16 -cb -kvu" "$OUT/llama-kvu.log" /health "$KVU_URL" "$BIN/llama-server" \
      "${LLAMA_FLAGS[@]}" -kvu --port $((PORT + 2))
    ARMS+=(--c-url llama "$KVU_URL")
  fi
  # Past every request's own deadline (600 s a scenario, per arm and round) with room to spare.
  timeout --signal=INT $((1500 * ROUNDS * 3)) python3 benchmarks/serving/scenarios.py "${ARMS[@]}" \
    --interleave-rounds "$ROUNDS" --scenarios "$SCENARIOS" --out "$OUT/rounds.json" \
    ${PASS[@]+"${PASS[@]}"} || true
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do [ "$pid" = "$JETON_PID" ] || stop_server "$pid"; done
  extras
  stop_server
  echo
  echo "== summary ($MODEL_ARG, $THREADS threads, interleaved, $ROUNDS round(s); results and logs in $OUT)"
  python3 benchmarks/serving/scenarios.py --compare "$OUT/rounds.json" - || true
  exit 0
fi

if [ "$ONLY" != jeton ]; then
  if [ -n "$AB" ]; then
    start "llama-server -np 16 -cb" "$OUT/llama.log" /health "$URL" "$BIN/llama-server" "${LLAMA_FLAGS[@]}" --port "$PORT"
    scen llama "$AB"
    stop_server
  fi
  if has c; then
    start "llama-server -np 16 -cb -kvu" "$OUT/llama-kvu.log" /health "$URL" "$BIN/llama-server" "${LLAMA_FLAGS[@]}" -kvu --port "$PORT"
    scen llama c
    stop_server
  fi
fi

if [ "$ONLY" != llama ]; then
  start "jeton serve" "$OUT/jeton.log" /ready "$URL" "${JETON_SERVE[@]}"
  scen jeton "$SCENARIOS"
  extras
  stop_server
fi

echo
echo "== summary ($MODEL_ARG, $THREADS threads; results and logs in $OUT)"
python3 benchmarks/serving/scenarios.py --compare "$OUT/jeton.json" "$OUT/llama.json"
