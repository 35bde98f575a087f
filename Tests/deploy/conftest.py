"""Shared helpers for the deployment tests (Tests/deploy).

Static checks of the Dockerfile, compose file, Kubernetes manifests and nginx
config, and an integration test of nginx in front of two `jeton serve` replicas.
Python packages: Tests/deploy/requirements.txt. System package: nginx, which
`scripts/setup.sh --test` (run by `scripts/test.sh`) installs; tests never install
system packages themselves, and without nginx the integration test is skipped.
"""
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
JETON = os.environ.get("JETON_BIN", os.path.join(ROOT, ".build", "debug", "jeton"))


def path(*parts):
    return os.path.join(ROOT, *parts)


def read(*parts):
    with open(path(*parts)) as f:
        return f.read()


# Replicas are started as the API and operations tests start theirs (Tests/ops/jeton_process.py).
sys.path.insert(0, os.path.join(ROOT, "Tests", "ops"))


def find_nginx():
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


@pytest.fixture(scope="session")
def nginx_bin():
    found = find_nginx()
    if not found:
        pytest.skip("nginx is not installed: scripts/setup.sh --test installs it (apt-get, as root or with sudo)")
    return found


@pytest.fixture(scope="session")
def jeton_bin():
    if not os.access(JETON, os.X_OK):
        pytest.fail(f"no jeton binary at {JETON}: run `swift build --product jeton` or set JETON_BIN")
    return JETON
