#!/usr/bin/env bash
# Jeton beside llama.cpp's llama-server on the default model, same machine,
# one after the other (never at once): 1 and 16 concurrent streaming clients,
# prompts of about 130 tokens, 128 tokens generated each (ignore_eos).
# Then Jeton alone: the prefix-cache time to first token, and 64 clients that
# disconnect after their first token.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
JETON=${JETON:-.build/release/jeton}
[ -n "${JETON_PREBUILT:-}" ] || swift build -c release --product jeton >&2
MODEL=${MODEL:-$("$JETON" pull default)}
THREADS=${THREADS:-2}
BIN=$(benchmarks/llama-cpp.sh llama-server)
PORT=18777
OUT=$(mktemp -d)

wait_up() { for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0; sleep 0.2; done; return 1; }
bench() { python3 benchmarks/serving/bench.py --url "http://127.0.0.1:$PORT" --concurrency "$1" --requests "$2" \
            --prompt-words 100 --max-tokens 128 --json; }

echo "== llama-server -np 16 -cb (threads $THREADS)"
"$BIN/llama-server" -m "$MODEL" -t "$THREADS" -np 16 -cb -c 16384 --port $PORT --host 127.0.0.1 >"$OUT/llama.log" 2>&1 &
LP=$!
wait_up
bench 1 4 | tee "$OUT/llama-1.json"
bench 16 32 | tee "$OUT/llama-16.json"
kill $LP; wait $LP 2>/dev/null || true

echo "== jeton serve (threads $THREADS)"
"$JETON" serve --model "$MODEL" -t "$THREADS" --port $PORT --cache-tokens 16384 >"$OUT/jeton.log" 2>&1 &
JP=$!
wait_up
bench 1 4 | tee "$OUT/jeton-1.json"
bench 16 32 | tee "$OUT/jeton-16.json"
python3 benchmarks/serving/prefix_and_disconnect.py --url "http://127.0.0.1:$PORT"
kill $JP; wait $JP 2>/dev/null || true

python3 - "$OUT" <<'PY'
import json, sys
d = sys.argv[1]
r = {k: json.load(open(f"{d}/{k}.json")) for k in ("llama-1", "llama-16", "jeton-1", "jeton-16")}
for c in ("1", "16"):
    j, l = r[f"jeton-{c}"], r[f"llama-{c}"]
    print(f"{c:>2} clients: output tok/s jeton {j['output_tok_s']:.1f} llama-server {l['output_tok_s']:.1f} "
          f"ratio {j['output_tok_s'] / l['output_tok_s']:.2f}x; TTFT p50 jeton {j['ttft_p50_s']:.3f} s "
          f"llama-server {l['ttft_p50_s']:.3f} s ratio {j['ttft_p50_s'] / l['ttft_p50_s']:.2f}; "
          f"ITL p50 jeton {j['itl_p50_ms']:.1f} ms llama-server {l['itl_p50_ms']:.1f} ms; "
          f"errors jeton {j['errors'] or 0} llama-server {l['errors'] or 0}")
PY
