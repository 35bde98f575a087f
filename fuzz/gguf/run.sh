#!/usr/bin/env bash
# Fuzzes the GGUF reader with libFuzzer for SECONDS (default 60).
#   fuzz/gguf/run.sh [SECONDS]
# Builds into .build-fuzz/ (ignored by git) and runs over a scratch copy of the
# committed seed corpus fuzz/gguf/corpus/, so new inputs do not grow the repo.
# A crash leaves crash-* in .build-fuzz/gguf/ and exits non-zero; reproduce it with
#   .build-fuzz/gguf/fuzz-gguf .build-fuzz/gguf/crash-...
# To keep new small inputs that add coverage (the committed corpus stays < 200 KB):
#   .build-fuzz/gguf/fuzz-gguf -merge=1 fuzz/gguf/corpus DIR_OF_SMALL_INPUTS
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/.build-fuzz/gguf"
mkdir -p "$out"
swiftc="${SWIFTC:-swiftc}"

# One module named GGUF: Dequantize.swift's `import GGUF` then refers to itself
# (a warning). The build log is shown only when the build fails.
if ! "$swiftc" -sanitize=fuzzer,address -parse-as-library -O -g \
    -module-name GGUF -swift-version 5 -suppress-warnings \
    "$root"/Sources/GGUF/*.swift "$root/Sources/Kernels/Dequantize.swift" "$root/fuzz/gguf/main.swift" \
    -o "$out/fuzz-gguf" > "$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    exit 1
fi

rm -rf "$out/corpus"
cp -r "$root/fuzz/gguf/corpus" "$out/corpus"
cd "$out"
# The Swift runtime's own crash backtracer reads memory ASan then reports as a second bug.
export SWIFT_BACKTRACE=enable=no
# -rss_limit_mb: a parse that allocated by a hostile count would blow past this.
"$out/fuzz-gguf" "$out/corpus" -dict="$root/fuzz/gguf/gguf.dict" \
    -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=1024 -malloc_limit_mb=256 \
    -timeout=10 -print_final_stats=1
