"""Shared helpers for the deployment tests (Tests/deploy).

Static checks of the Dockerfile, compose file, Kubernetes manifests and nginx
config, and an integration test of nginx in front of two `jeton serve` replicas.
Python packages: Tests/deploy/requirements.txt. System package: nginx (installed
by the integration test when missing and running as root).
"""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
JETON = os.environ.get("JETON_BIN", os.path.join(ROOT, ".build", "debug", "jeton"))


def path(*parts):
    return os.path.join(ROOT, *parts)


def read(*parts):
    with open(path(*parts)) as f:
        return f.read()


def find_nginx():
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def install_nginx():
    """apt-get install nginx without starting Debian's nginx service (which would
    listen on port 80): a temporary policy-rc.d refuses service starts."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    policy = "/usr/sbin/policy-rc.d"
    made_policy = not os.path.exists(policy)
    if made_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"],
                       check=True, env=env, timeout=300, stdout=subprocess.DEVNULL)
    finally:
        if made_policy:
            os.remove(policy)
    return find_nginx()


@pytest.fixture(scope="session")
def nginx_bin():
    found = find_nginx() or install_nginx()
    if not found:
        pytest.fail("nginx is not installed (apt-get install nginx) and this user cannot install it")
    return found


@pytest.fixture(scope="session")
def jeton_bin():
    if not os.access(JETON, os.X_OK):
        pytest.fail(f"no jeton binary at {JETON}: run `swift build --product jeton` or set JETON_BIN")
    return JETON
