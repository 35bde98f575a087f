#!/usr/bin/env bash
# Sets up, fetches the model and serves it. Arguments go to `jeton serve`;
# `--model NAME` picks a catalog model (`jeton list`), fetched first, e.g.
#   scripts/serve.sh --model qwen2.5-coder-1.5b --port 9000
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
scripts/setup.sh
swift build -c release --product jeton
model=default
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --model) model="${args[$((i + 1))]:-default}" ;;
    --model=*) model="${args[$i]#--model=}" ;;
  esac
done
# A path is served as it is; a name is pulled (a no-op once it is there).
if [ ! -f "$model" ]; then .build/release/jeton pull "$model" >/dev/null; fi
if [ "$model" = default ] && ! printf '%s\n' "${args[@]+"${args[@]}"}" | grep -q -- '^--model'; then
  exec .build/release/jeton serve --model default "$@"
fi
exec .build/release/jeton serve "$@"
