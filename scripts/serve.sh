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
given=()   # `--model default` unless the arguments name one
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --model) model="${args[$((i + 1))]:-default}"; given=(x) ;;
    --model=*) model="${args[$i]#--model=}"; given=(x) ;;
  esac
done
# A path is served as it is; a name is pulled (a no-op once it is there).
if [ ! -f "$model" ]; then .build/release/jeton pull "$model" >/dev/null; fi
[ ${#given[@]} -gt 0 ] || set -- --model default "$@"
exec .build/release/jeton serve "$@"
