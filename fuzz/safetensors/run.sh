#!/usr/bin/env bash
# Fuzzes the safetensors reader (PEFT adapters) with libFuzzer for SECONDS (default 60).
#   fuzz/safetensors/run.sh [SECONDS]
# Builds into .build-fuzz/ (ignored by git) and runs over a scratch copy of the committed seed
# corpus fuzz/safetensors/corpus/. A crash leaves crash-* in .build-fuzz/safetensors/ and exits
# non-zero; reproduce it with .build-fuzz/safetensors/fuzz-safetensors .build-fuzz/safetensors/crash-...
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/.build-fuzz/safetensors"
mkdir -p "$out"
swiftc="${SWIFTC:-swiftc}"

if ! "$swiftc" -sanitize=fuzzer,address -parse-as-library -O -g \
    -module-name GGUF -swift-version 5 -suppress-warnings \
    "$root"/Sources/GGUF/*.swift "$root/fuzz/safetensors/main.swift" \
    -o "$out/fuzz-safetensors" > "$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    exit 1
fi

rm -rf "$out/corpus"
cp -r "$root/fuzz/safetensors/corpus" "$out/corpus"
cd "$out"
export SWIFT_BACKTRACE=enable=no
# -rss_limit_mb / -malloc_limit_mb: a parse that allocated by a hostile length would blow past these.
"$out/fuzz-safetensors" "$out/corpus" -dict="$root/fuzz/safetensors/safetensors.dict" \
    -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=1024 -malloc_limit_mb=256 \
    -timeout=10 -print_final_stats=1
