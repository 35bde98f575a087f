#!/usr/bin/env bash
# Builds the libFuzzer target for the HTTP request parser and runs it for SECONDS (default 60).
#   fuzz/http/run.sh [SECONDS]
# The parser sources are compiled with the target as one module, so no SwiftPM build is needed.
# Builds into .build-fuzz/http/ (ignored by git) and runs over a scratch copy of the committed
# seed corpus fuzz/http/corpus/, so new inputs never land in the work tree. A crash leaves
# crash-* in .build-fuzz/http/ and exits non-zero; reproduce it with
#   .build-fuzz/http/http-parser-fuzzer .build-fuzz/http/crash-...
# To keep new inputs that add coverage, merge them into the committed corpus on purpose:
#   .build-fuzz/http/http-parser-fuzzer -merge=1 fuzz/http/corpus .build-fuzz/http/corpus
set -euo pipefail
seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${FUZZ_BUILD_DIR:-$root/.build-fuzz}/http"
mkdir -p "$out"
swiftc="${SWIFTC:-swiftc}"
parser_files=(HTTPRequestParser HTTPParserError HTTPRequestHead HTTPHeaders HTTPStatus HTTPVersion)
sources=()
for f in "${parser_files[@]}"; do sources+=("$root/Sources/HTTP/$f.swift"); done
# The build log is shown only when the build fails.
if ! "$swiftc" -sanitize=fuzzer,address -parse-as-library -O -module-name HTTP \
    "${sources[@]}" "$here/main.swift" -o "$out/http-parser-fuzzer" > "$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    exit 1
fi

rm -rf "$out/corpus"
cp -r "$here/corpus" "$out/corpus"
cd "$out"  # crash files land here, not in the work tree
# Swift's own crash backtracer would race ASan's report; let libFuzzer see the crash.
export SWIFT_BACKTRACE=enable=no
# -max_len covers the small limits set in main.swift; -timeout flags a hang of over 10 s.
"$out/http-parser-fuzzer" "$out/corpus" -max_total_time="$seconds" -max_len=2048 -timeout=10 \
    -artifact_prefix="$out/" -print_final_stats=1
