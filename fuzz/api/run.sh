#!/usr/bin/env bash
# Fuzzes request decoding, validation and chat-template rendering for SECONDS
# (default 60) with libFuzzer, on a scratch copy of the committed corpus.
# Needs the default model (for its tokenizer and chat template).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-60}
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
mkdir -p .build-fuzz/api
if ! swift build --scratch-path .build-fuzz/api --product jeton-fuzz-api \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -parse-as-library > .build-fuzz/api/build.log 2>&1; then
  grep -v "Cannot export local symbol" .build-fuzz/api/build.log | tail -20
  exit 1
fi
cd .build-fuzz/api  # crash files land here, not in the work tree
rm -rf corpus && mkdir corpus && cp ../../fuzz/api/corpus/* corpus/
# Leak checks off: the parsed chat template lives for the whole process.
ASAN_OPTIONS=detect_leaks=0 debug/jeton-fuzz-api -max_total_time="$SECONDS_TO_RUN" -max_len=4096 \
  -rss_limit_mb=2048 -dict=../../fuzz/api/json.dict corpus 2>&1 | tail -3
