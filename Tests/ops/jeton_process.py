"""Starts and stops `jeton serve` processes for the operations and API tests.

Ports come from the kernel: the server is started with `--port 0`, binds an ephemeral
port itself and logs it ("listening on http://HOST:PORT"), and the tests read it back
from the log. Nothing picks a free port first and hopes it is still free (which races
when suites run in parallel).
"""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JETON = os.environ.get("JETON_BIN", os.path.join(ROOT, ".build", "debug", "jeton"))
LOGS = os.path.join(ROOT, ".build")

# The start-up line, in the text and the JSON log formats (JSON escapes the slashes).
LISTENING = re.compile(r'listening on \S+?:(\d+)(?=["\s]|$)')


def log_file(prefix):
    """A fresh log file under .build/ (ignored by git), named before the port is known."""
    os.makedirs(LOGS, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=".log", dir=LOGS)
    os.close(fd)
    return path


def tail(path, n=2000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def wait_for_port(proc, log_path, timeout=120):
    """The port a `jeton serve --port 0` bound, read from its log once it is listening."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        match = LISTENING.search(tail(log_path, 1 << 20))
        if match:
            return int(match.group(1))
        if proc.poll() is not None:
            raise RuntimeError(f"jeton serve exited with {proc.returncode} before listening:\n{tail(log_path)}")
        time.sleep(0.05)
    raise RuntimeError(f"jeton serve did not log its port within {timeout} s:\n{tail(log_path)}")


def start_serve(args, log_path, env=None):
    """Starts `jeton serve --port 0 ARGS` with output to log_path; returns (process, port)."""
    log = open(log_path, "w")
    try:
        proc = subprocess.Popen([JETON, "serve", "--port", "0", *args], stdout=log, stderr=subprocess.STDOUT, env=env)
    finally:
        log.close()  # the child has its own descriptor
    try:
        return proc, wait_for_port(proc, log_path)
    except Exception:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise


class JetonProcess:
    def __init__(self, *args, env=None, wait_ready=True):
        self.log_path = log_file("ops-server-")
        e = dict(os.environ)
        e.update(env or {})
        self.proc, self.port = start_serve(args, self.log_path, env=e)
        self.base = f"http://127.0.0.1:{self.port}"
        if wait_ready:
            self.wait("/ready")

    def wait(self, path, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jeton serve exited with {self.proc.returncode}; see {self.log_path}")
            try:
                status, _, _ = self.request("GET", path)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{path} not 200 within {timeout} s")

    def request(self, method, path, body=None, headers=None, timeout=120):
        data = json.dumps(body).encode() if body is not None else None
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self):
        return tail(self.log_path, 1 << 30)
