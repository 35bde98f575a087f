#!/usr/bin/env bash
# Speculative decoding on Qwen2.5-Coder-1.5B (2 threads), one client, temperature 0, code prompts
# (edit a given function, write a function, explain a given snippet), against four servers:
#   1. jeton serve --speculative ngram (prompt lookup);
#   2. jeton serve --draft-model qwen2.5-coder-0.5b;
#   3. llama-server without a draft;
#   4. llama-server with --model-draft (-md) of the same 0.5B GGUF.
# All four are up at once (ports PORT..PORT+3; about 6 GB of memory) and each round asks each in
# turn, the order rotating by round, so a drift in the host's speed reaches every arm alike
# (INTERLEAVE=0: one server at a time, as before). Each Jeton server answers every prompt with and
# without speculation (per-request opt-out), alternating. At the end, a summary prints Jeton's
# speculative rates as ratios to both llama-server arms (issue 16: >= 2x without a draft, >= 1.3x
# with one) and to Jeton without speculation (prompt lookup on the edit prompt: >= 1.5x), as ratios
# of the means and, interleaved, round by round (median and range).
#
# Environment: JETON (default .build/release/jeton), ROUNDS (3), MAX_TOKENS (256), THREADS (2),
# MODEL / DRAFT (catalog names or GGUF paths: qwen2.5-coder-1.5b / qwen2.5-coder-0.5b),
# PROMPTS (edit,general,explain), PORT (18431), ARMS (jeton-ngram,jeton-draft,llama,llama-md),
# INTERLEAVE (1), LLAMA_SERVER_BIN (the llama-server binary or its folder; default: where
# benchmarks/llama-cpp.sh builds it; when absent the llama-server arms are skipped with a message),
# LLAMA_DRAFT_OPTS (extra llama-server flags for the draft arm, e.g. "--spec-draft-n-max 8"). Needs
# a release build and both models (`jeton pull qwen2.5-coder-1.5b`, `jeton pull qwen2.5-coder-0.5b`).
# Servers listen on 127.0.0.1 only and are stopped on exit; logs and records go to a temp folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
JETON=${JETON:-.build/release/jeton}
ROUNDS=${ROUNDS:-3}
MAX_TOKENS=${MAX_TOKENS:-256}
THREADS=${THREADS:-2}
MODEL=${MODEL:-qwen2.5-coder-1.5b}
DRAFT=${DRAFT:-qwen2.5-coder-0.5b}
PROMPTS=${PROMPTS:-edit,general,explain}
PORT=${PORT:-18431}
ARMS=${ARMS:-jeton-ngram,jeton-draft,llama,llama-md}
INTERLEAVE=${INTERLEAVE:-1}
case "$INTERLEAVE" in 0|1) ;; *) echo "INTERLEAVE takes 0 or 1" >&2; exit 2 ;; esac
OUT=$(mktemp -d)
RECORD=$OUT/arms.jsonl
PIDS=()
NEXT_PORT=$PORT
BENCH_ARMS=()  # --arm LABEL ENGINE URL, for each server up

stop() {
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill "$pid" 2>/dev/null || true; done
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
    NEXT_PORT=$PORT
    BENCH_ARMS=()
}
trap stop EXIT
trap 'exit 130' INT TERM

# serve LABEL ENGINE LOG READY-PATH COMMAND...: starts COMMAND (given --port NEXT_PORT at the end),
# waits until READY-PATH answers (300 s at most) and adds it to the arms of the next bench. A server
# that exits or never gets ready is reported and left out; the other arms still run.
serve() {
    local label=$1 engine=$2 log=$3 path=$4; shift 4
    local url="http://127.0.0.1:$NEXT_PORT"
    if curl -s -o /dev/null -m 2 "$url/health"; then echo "something already listens on $url" >&2; exit 1; fi
    echo "== $label: $* --port $NEXT_PORT (load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$@" --port "$NEXT_PORT" >"$log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 600); do
        if curl -sf -o /dev/null -m 2 "$url$path"; then
            BENCH_ARMS+=(--arm "$label" "$engine" "$url")
            NEXT_PORT=$((NEXT_PORT + 1))
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "== $label exited, left out; its log ($log):" >&2
            tail -n 20 "$log" >&2
            unset 'PIDS[-1]'
            return 0
        fi
        sleep 0.5
    done
    echo "== $label not ready after 300 s, left out; log: $log" >&2
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset 'PIDS[-1]'
}

has() { [[ ",$ARMS," == *",$1,"* ]]; }

# bench: every prompt on the servers up (interleaved when several), recorded; then they stop.
bench() {
    if [ "${#BENCH_ARMS[@]}" -eq 0 ]; then return 0; fi
    python3 benchmarks/speculative/bench.py ${BENCH_ARMS[@]+"${BENCH_ARMS[@]}"} --record "$RECORD" \
        --prompt "$PROMPTS" --rounds "$ROUNDS" --max-tokens "$MAX_TOKENS"
    stop
}
# After a server is up: one at a time (INTERLEAVE=0) measures it now.
one_at_a_time() { if [ "$INTERLEAVE" = 0 ]; then bench; fi; }

# A catalog name -> its GGUF file (llama-server is given the very files Jeton serves).
gguf() {
    if [ -f "$1" ]; then echo "$1"; return; fi
    timeout 60 "$JETON" show "$1" 2>/dev/null | sed -n 's/^file: //p' | head -n 1
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); rounds $ROUNDS, $MAX_TOKENS tokens, $THREADS threads;" \
     "logs and records in $OUT"
JETON_FLAGS=(serve --model "$MODEL" --threads "$THREADS" --host 127.0.0.1 --cache-tokens 4096)
if has jeton-ngram; then
    serve "jeton ngram" jeton "$OUT/jeton-ngram.log" /ready "$JETON" "${JETON_FLAGS[@]}" --speculative ngram
    one_at_a_time
fi
if has jeton-draft; then
    serve "jeton draft" jeton "$OUT/jeton-draft.log" /ready "$JETON" "${JETON_FLAGS[@]}" --draft-model "$DRAFT"
    one_at_a_time
fi

if has llama || has llama-md; then
    LLAMA=${LLAMA_SERVER_BIN:-$HOME/.cache/jeton/llama.cpp/llama_cpp_python-0.3.36/vendor/llama.cpp/build/bin/llama-server}
    [ -d "$LLAMA" ] && LLAMA=$LLAMA/llama-server
    TARGET_FILE=$(gguf "$MODEL") DRAFT_FILE=$(gguf "$DRAFT")
    if [ ! -x "$LLAMA" ]; then
        echo "== llama-server arms skipped: no llama-server at $LLAMA (set LLAMA_SERVER_BIN to the binary or its" \
             "folder, or build it with benchmarks/llama-cpp.sh llama-server)"
    elif [ ! -f "$TARGET_FILE" ] || [ ! -f "$DRAFT_FILE" ]; then
        echo "== llama-server arms skipped: no GGUF file for $MODEL or $DRAFT (jeton pull them)"
    else
        # One slot: one client, and the whole context for it (as Jeton's 4,096 cache tokens).
        FLAGS=(-m "$TARGET_FILE" -t "$THREADS" -c 4096 -np 1 --host 127.0.0.1)
        if has llama; then
            serve "llama-server" llama "$OUT/llama.log" /health "$LLAMA" "${FLAGS[@]}"
            one_at_a_time
        fi
        if has llama-md; then
            # Recent llama-server loads -md but speculates only when asked with --spec-type (it infers
            # a type by itself only for special drafts: MTP, DFlash, EAGLE-3); older ones lack the flag.
            SPEC=()
            "$LLAMA" --help 2>&1 | grep -q -- '--spec-type' && SPEC=(--spec-type draft-simple)
            # shellcheck disable=SC2086  # LLAMA_DRAFT_OPTS is a list of flags
            serve "llama-server -md" llama "$OUT/llama-md.log" /health "$LLAMA" "${FLAGS[@]}" -md "$DRAFT_FILE" \
                ${SPEC[@]+"${SPEC[@]}"} ${LLAMA_DRAFT_OPTS:-}
            one_at_a_time
        fi
    fi
fi
bench

echo
echo "== summary ($MODEL, draft $DRAFT, $THREADS threads, $MAX_TOKENS tokens, $ROUNDS rounds; records and logs in $OUT)"
python3 benchmarks/speculative/bench.py --summary "$RECORD"
