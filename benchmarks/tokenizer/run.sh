#!/usr/bin/env bash
# Encode speed on 1 MiB of English-like text: Jeton's Tokenizer (release build) against
# Hugging Face `tokenizers` on the same vocabulary, and the ids of both compared.
# Run from anywhere on a quiet machine (never beside another benchmark or build):
#   benchmarks/tokenizer/run.sh
# Needs the default model in $JETON_MODELS (default ~/.cache/jeton/models) and, for the
# comparison, `pip install tokenizers gguf` (skipped with a note when missing).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
models="${JETON_MODELS:-$HOME/.cache/jeton/models}"
model="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 "$here/make_text.py" "$work/text.txt"
echo "text: $(wc -c < "$work/text.txt") bytes"

hf_line=""
if python3 -c "import tokenizers, gguf" 2>/dev/null; then
    hf_line="$(TOKENIZERS_PARALLELISM=false python3 "$here/hf_bench.py" "$model" "$work/text.txt" \
        "$work/hf_ids.json" "$root/Tests/TokenizerTests/Fixtures/tokenize.jsonl" | grep '^JETON_BENCH')"
    echo "$hf_line"
    export JETON_BENCH_IDS="$work/hf_ids.json"
else
    echo "note: python packages tokenizers and gguf not installed; no comparison"
fi

cd "$root"
swift_out="$(JETON_BENCH=1 JETON_BENCH_TEXT="$work/text.txt" \
    swift test -c release --scratch-path .build-tok --filter 'TokenizerTests.EncodeBenchmarkTests' 2>&1)" || {
    echo "$swift_out" | tail -40
    exit 1
}
swift_line="$(echo "$swift_out" | grep '^JETON_BENCH swift' || true)"
echo "$swift_line"
echo "$swift_out" | grep -E "Executed|error" | tail -3

if [ -n "$hf_line" ] && [ -n "$swift_line" ]; then
    python3 - "$hf_line" "$swift_line" <<'PY'
import sys
def kv(line):
    return dict(p.split("=") for p in line.split() if "=" in p)
hf, sw = kv(sys.argv[1]), kv(sys.argv[2])
print("ratio swift/hf: cold %.2fx, warm %.2fx, paragraphs %.2fx" % tuple(
    float(sw[k]) / float(hf[k]) for k in ("cold_mbps", "warm_mbps", "paragraphs_mbps")))
PY
fi
