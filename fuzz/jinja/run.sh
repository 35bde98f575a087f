#!/usr/bin/env bash
# Fuzzes the Jinja template parser and interpreter with libFuzzer for SECONDS (default 60).
#   fuzz/jinja/run.sh [SECONDS]
# Builds into .build-fuzz/ (ignored by git) and runs over a scratch copy of the
# committed seed corpus fuzz/jinja/corpus/, so new inputs do not grow the repo.
# A crash leaves crash-* in .build-fuzz/jinja/ and exits non-zero.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/.build-fuzz/jinja"
mkdir -p "$out"
swiftc="${SWIFTC:-swiftc}"

# The build log is shown only when the build fails.
if ! "$swiftc" -sanitize=fuzzer,address -parse-as-library -O -g \
    -module-name Jinja -swift-version 5 -suppress-warnings \
    "$root"/Sources/Jinja/*.swift "$root/fuzz/jinja/main.swift" \
    -o "$out/fuzz-jinja" > "$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    exit 1
fi

rm -rf "$out/corpus"
cp -r "$root/fuzz/jinja/corpus" "$out/corpus"
cd "$out"
# -rss_limit_mb / -malloc_limit_mb: a render that allocated past its limits would blow these.
"$out/fuzz-jinja" "$out/corpus" -dict="$root/fuzz/jinja/jinja.dict" \
    -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=1024 -malloc_limit_mb=256 \
    -timeout=10 -print_final_stats=1
