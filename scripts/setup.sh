#!/usr/bin/env bash
# Installs what Jeton needs to build and test on a fresh Debian machine, and
# nothing that is already there. Safe to run again.
#   scripts/setup.sh          build and serve: libssl-dev, zlib1g-dev, curl, pip (for `jeton pull`)
#   scripts/setup.sh --test   also what the tests use: nginx (deploy tests), chromium (playground), binutils
#                             (objdump: the instruction-set test), and the Python
#                             test packages in the virtual environment .venv/ (never in the
#                             system Python, which Debian 12 refuses to change: PEP 668)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
testing=false
[ "${1:-}" = "--test" ] && testing=true

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
fi

# apt_install PACKAGE... : installs those not installed yet (one apt-get update per run).
apt_updated=false
apt_install() {
  local need=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
  [ ${#need[@]} -gt 0 ] || return 0
  if [ "$SUDO" = "none" ]; then
    echo "setup: cannot install ${need[*]}: not root and no sudo" >&2
    return 1
  fi
  echo "setup: installing ${need[*]}" >&2
  if ! $apt_updated; then $SUDO apt-get update -qq; apt_updated=true; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

apt_install libssl-dev zlib1g-dev openssl curl ca-certificates python3 python3-pip

if ! command -v swift >/dev/null 2>&1; then
  if [ -x /opt/swift/usr/bin/swift ]; then export PATH=/opt/swift/usr/bin:$PATH
  else echo "setup: Swift 6 is required (https://www.swift.org/install/)" >&2; exit 1; fi
fi

$testing || exit 0

# nginx for the deploy tests (Tests/deploy), without starting Debian's nginx service, which
# would listen on port 80: a temporary policy-rc.d refuses service starts during the install.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$SUDO" = "none" ]; then
    echo "setup: nginx missing and not installable without root or sudo: the nginx deploy test will be skipped" >&2
  else
    made_policy=false
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
      $SUDO chmod 755 /usr/sbin/policy-rc.d
      made_policy=true
    fi
    status=0
    apt_install nginx || status=$?
    if $made_policy; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
    [ "$status" -eq 0 ] || exit "$status"
  fi
fi

# objdump, for the test that the SIMD kernels use only the instructions CPUFeatures checks for
# (Tests/cli/test_instruction_sets.py).
apt_install binutils

# Headless Chromium for the playground's browser test (Tests/api/test_playground_browser.py),
# driven over the DevTools protocol; fonts so its screenshot has readable text.
apt_install chromium fonts-dejavu-core

# Python test packages in .venv/. `python3 -m venv` needs ensurepip, which Debian ships
# separately (python3-venv). The venv sees the interpreter's own packages
# (--system-site-packages) so what the machine already has is reused, and pip installs
# only what is missing, into .venv/ alone.
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  apt_install python3-venv
fi
venv="$root/.venv"
if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  rm -rf "$venv"  # missing, or made by an interpreter that is gone
  python3 -m venv --system-site-packages "$venv"
fi
"$venv/bin/python" - <<'PY' || "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/scripts/requirements-test.txt"
import importlib.util, sys
mods = ["openai", "anthropic", "numpy", "gguf", "pytest", "prometheus_client", "yaml", "kubernetes_validate", "websockets", "safetensors"]
sys.exit(0 if all(importlib.util.find_spec(m) for m in mods) else 1)
PY
