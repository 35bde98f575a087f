#!/usr/bin/env bash
# Fuzzes structured-output grammar compilation (JSON schema, regex, GBNF, choices) and the
# matcher with libFuzzer for SECONDS (default 60).
#   fuzz/grammar/run.sh [SECONDS]
# Builds into .build-fuzz/ (ignored by git) and runs over a scratch copy of the committed seed
# corpus fuzz/grammar/corpus/, so new inputs do not grow the repo. A crash leaves crash-* in
# .build-fuzz/grammar/ and exits non-zero.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/.build-fuzz/grammar"
mkdir -p "$out"
swiftc="${SWIFTC:-swiftc}"

# One module named Grammar, without the Tokenizer glue (TokenTrie+Tokenizer.swift).
sources=()
for f in "$root"/Sources/Grammar/*.swift; do
    case "$f" in *+Tokenizer.swift) ;; *) sources+=("$f") ;; esac
done
if ! "$swiftc" -sanitize=fuzzer,address -parse-as-library -O -g \
    -module-name Grammar -swift-version 5 -suppress-warnings \
    "${sources[@]}" "$root/fuzz/grammar/main.swift" \
    -o "$out/fuzz-grammar" > "$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    exit 1
fi

rm -rf "$out/corpus"
cp -r "$root/fuzz/grammar/corpus" "$out/corpus"
cd "$out"
# -timeout: a compile is bounded by its 1 s limit; anything slower is a hang.
"$out/fuzz-grammar" "$out/corpus" -dict="$root/fuzz/grammar/grammar.dict" \
    -max_total_time="$seconds" -max_len=2048 -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -timeout=10 -print_final_stats=1
