#!/usr/bin/env bash
# Speculative decoding on Qwen2.5-Coder-1.5B (2 threads), one client, temperature 0, code prompts
# (edit a given function, write a function, explain a given snippet), four servers in turn:
#   1. jeton serve --speculative ngram (prompt lookup);
#   2. jeton serve --draft-model qwen2.5-coder-0.5b;
#   3. llama-server without a draft;
#   4. llama-server with --model-draft (-md) of the same 0.5B GGUF.
# Each Jeton server answers every prompt with and without speculation (per-request opt-out),
# alternating, so the Jeton ratios compare runs under the same load. At the end, a summary prints
# Jeton's speculative rates as ratios to both llama-server arms (issue 16: >= 2x without a draft,
# >= 1.3x with one) and to Jeton without speculation (prompt lookup on the edit prompt: >= 1.5x).
#
# Environment: JETON (default .build/release/jeton), ROUNDS (3), MAX_TOKENS (256), THREADS (2),
# MODEL / DRAFT (catalog names or GGUF paths: qwen2.5-coder-1.5b / qwen2.5-coder-0.5b),
# PROMPTS (edit,general,explain), PORT (18431), ARMS (jeton-ngram,jeton-draft,llama,llama-md),
# LLAMA_SERVER_BIN (the llama-server binary or its folder; default: where benchmarks/llama-cpp.sh
# builds it; when absent the llama-server arms are skipped with a message), LLAMA_DRAFT_OPTS
# (extra llama-server flags for the draft arm, e.g. "--spec-draft-n-max 8"). Needs a release
# build and both models (`jeton pull qwen2.5-coder-1.5b`, `jeton pull qwen2.5-coder-0.5b`).
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
URL="http://127.0.0.1:$PORT"
OUT=$(mktemp -d)
RECORD=$OUT/arms.jsonl
PID=

stop() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=
    fi
}
trap stop EXIT
trap 'exit 130' INT TERM

# serve NAME LOG READY-PATH COMMAND...: waits until READY-PATH answers (300 s at most).
serve() {
    local name=$1 log=$2 path=$3; shift 3
    if curl -s -o /dev/null -m 2 "$URL/health"; then echo "something already listens on $URL" >&2; exit 1; fi
    echo "== $name: $* (load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$@" >"$log" 2>&1 &
    PID=$!
    for _ in $(seq 600); do
        curl -sf -o /dev/null -m 2 "$URL$path" && return 0
        kill -0 "$PID" 2>/dev/null || { echo "$name exited; log:" >&2; tail -n 20 "$log" >&2; exit 1; }
        sleep 0.5
    done
    echo "$name not ready after 300 s; log: $log" >&2; exit 1
}

has() { [[ ",$ARMS," == *",$1,"* ]]; }

# bench LABEL ENGINE: every prompt on the running server, recorded under LABEL.
bench() {
    python3 benchmarks/speculative/bench.py --base "$URL" --engine "$2" --label "$1" --record "$RECORD" \
        --prompt "$PROMPTS" --rounds "$ROUNDS" --max-tokens "$MAX_TOKENS"
}

# A catalog name -> its GGUF file (llama-server is given the very files Jeton serves).
gguf() {
    if [ -f "$1" ]; then echo "$1"; return; fi
    timeout 60 "$JETON" show "$1" 2>/dev/null | sed -n 's/^file: //p' | head -n 1
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); rounds $ROUNDS, $MAX_TOKENS tokens, $THREADS threads"
if has jeton-ngram; then
    serve "jeton, prompt lookup" "$OUT/jeton-ngram.log" /ready "$JETON" serve --model "$MODEL" --threads "$THREADS" \
        --host 127.0.0.1 --port "$PORT" --cache-tokens 4096 --speculative ngram
    bench "jeton ngram" jeton
    stop
fi
if has jeton-draft; then
    serve "jeton, draft model $DRAFT" "$OUT/jeton-draft.log" /ready "$JETON" serve --model "$MODEL" --threads "$THREADS" \
        --host 127.0.0.1 --port "$PORT" --cache-tokens 4096 --draft-model "$DRAFT"
    bench "jeton draft" jeton
    stop
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
        FLAGS=(-m "$TARGET_FILE" -t "$THREADS" -c 4096 -np 1 --host 127.0.0.1 --port "$PORT")
        if has llama; then
            serve "llama-server, no draft" "$OUT/llama.log" /health "$LLAMA" "${FLAGS[@]}"
            bench "llama-server" llama
            stop
        fi
        if has llama-md; then
            # Recent llama-server loads -md but speculates only when asked with --spec-type (it infers
            # a type by itself only for special drafts: MTP, DFlash, EAGLE-3); older ones lack the flag.
            SPEC=()
            "$LLAMA" --help 2>&1 | grep -q -- '--spec-type' && SPEC=(--spec-type draft-simple)
            # shellcheck disable=SC2086  # LLAMA_DRAFT_OPTS is a list of flags
            serve "llama-server, draft $DRAFT" "$OUT/llama-md.log" /health "$LLAMA" "${FLAGS[@]}" -md "$DRAFT_FILE" \
                ${SPEC[@]+"${SPEC[@]}"} ${LLAMA_DRAFT_OPTS:-}
            bench "llama-server -md" llama
            stop
        fi
    fi
fi

echo
echo "== summary ($MODEL, draft $DRAFT, $THREADS threads, $MAX_TOKENS tokens, $ROUNDS rounds; records and logs in $OUT)"
python3 benchmarks/speculative/bench.py --summary "$RECORD"
