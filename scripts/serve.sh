#!/usr/bin/env bash
# Sets up, fetches the default model and serves it. Arguments go to `jeton serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
scripts/setup.sh
swift build -c release --product jeton
.build/release/jeton pull default >/dev/null
exec .build/release/jeton serve --model default "$@"
