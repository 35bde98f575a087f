#!/usr/bin/env bash
# Installs what Jeton needs to build and test on a fresh Debian machine, and
# nothing that is already there. Safe to run again.
set -euo pipefail

need_apt=()
for pkg in libssl-dev zlib1g-dev openssl curl python3-pip; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  if [ -x /opt/swift/usr/bin/swift ]; then export PATH=/opt/swift/usr/bin:$PATH
  else echo "setup: Swift 6 is required (https://www.swift.org/install/)" >&2; exit 1; fi
fi

# Python packages used by tests, fixtures and benchmark clients only.
if [ "${1:-}" = "--test" ]; then
  python3 - <<'PY' || python3 -m pip install -q --disable-pip-version-check -r "$(dirname "$0")/requirements-test.txt"
import importlib.util, sys
mods = ["openai", "numpy", "gguf", "pytest", "prometheus_client", "yaml", "kubernetes_validate"]
sys.exit(0 if all(importlib.util.find_spec(m) for m in mods) else 1)
PY
fi
