#!/usr/bin/env bash
# Builds the libFuzzer target for the HTTP request parser and runs it for SECONDS (default 60).
# The parser sources are compiled with the target as one module, so no SwiftPM build is needed.
# New interesting inputs are added to fuzz/http/corpus/; crashes land in fuzz/http/crash-*.
set -euo pipefail
seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${FUZZ_BUILD_DIR:-$root/.build-fuzz}"
mkdir -p "$out" "$here/corpus"
parser_files=(HTTPRequestParser HTTPParserError HTTPRequestHead HTTPHeaders HTTPStatus HTTPVersion)
sources=()
for f in "${parser_files[@]}"; do sources+=("$root/Sources/HTTP/$f.swift"); done
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name HTTP \
    "${sources[@]}" "$here/main.swift" -o "$out/http-parser-fuzzer"
cd "$here"
# Swift's own crash backtracer would race ASan's report; let libFuzzer see the crash.
export SWIFT_BACKTRACE=enable=no
# -max_len covers the small limits set in main.swift; -timeout flags a hang of over 10 s.
"$out/http-parser-fuzzer" corpus -max_total_time="$seconds" -max_len=2048 -timeout=10 \
    -artifact_prefix="$here/" -print_final_stats=1
