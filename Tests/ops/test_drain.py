"""SIGTERM with streams in flight: they all finish, new requests get 503, exit 0."""
import json
import signal
import threading
import time
import urllib.request

from jeton_process import JetonProcess


def stream(base, results, i, max_tokens=48, started=None):
    body = json.dumps({"model": "default", "prompt": f"Story {i}:", "max_tokens": max_tokens, "ignore_eos": True,
                       "stream": True}).encode()
    req = urllib.request.Request(base + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
    finish = None
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            for line in r:
                line = line.decode().strip()
                if line.startswith("data: {"):
                    if started is not None:
                        started.set()
                    for c in json.loads(line[6:])["choices"]:
                        finish = c.get("finish_reason") or finish
    except Exception as e:  # recorded, asserted below
        finish = f"error: {e}"
    results[i] = finish


def test_drain_finishes_streams_and_refuses_new_work():
    s = JetonProcess("--model", "default", "--drain-timeout", "60")
    try:
        results = {}
        threads = [threading.Thread(target=stream, args=(s.base, results, i)) for i in range(8)]
        for t in threads:
            t.start()
        # Wait until all 8 are running in the engine.
        deadline = time.time() + 30
        while time.time() < deadline:
            text = s.request("GET", "/metrics")[2]
            running = [l for l in text.splitlines() if l.startswith("jeton_requests_running")]
            if running and float(running[0].split()[-1]) >= 8:
                break
            time.sleep(0.05)
        s.signal(signal.SIGTERM)
        time.sleep(0.3)
        status, _, body = s.request("POST", "/v1/completions", {"model": "default", "prompt": "late", "max_tokens": 2})
        assert status == 503, body
        assert json.loads(body)["error"]["type"]
        assert s.request("GET", "/ready")[0] == 503
        for t in threads:
            t.join(timeout=120)
        assert results == {i: "length" for i in range(8)}
        assert s.proc.wait(timeout=60) == 0
    finally:
        s.stop()


def test_second_signal_stops_at_once():
    s = JetonProcess("--model", "default", "--drain-timeout", "60")
    try:
        results = {}
        started = threading.Event()
        # A stream long enough that a fast machine is still generating when the second signal comes.
        t = threading.Thread(target=stream, args=(s.base, results, 0, 4000, started))
        t.start()
        assert started.wait(timeout=60)
        s.signal(signal.SIGTERM)
        time.sleep(0.2)
        assert s.proc.poll() is None  # still draining the stream
        s.signal(signal.SIGTERM)
        assert s.proc.wait(timeout=10) != 0
        t.join(timeout=30)
    finally:
        s.stop()


def test_stream_refused_at_submission_leaves_nothing_open():
    """A stream whose submission fails after its 200 (a full queue) ends with an error event,
    and the drain then finds no request open (it waited its whole timeout on such streams)."""
    s = JetonProcess("--model", "default", "--max-sequences", "1", "--max-waiting", "1", "--drain-timeout", "60")
    try:
        body = json.dumps({"model": "default", "prompt": "Count:", "max_tokens": 8, "n": 4, "stream": True}).encode()
        req = urllib.request.Request(s.base + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            events = [l.decode().strip() for l in r if l.startswith(b"data: ")]
        assert any('"error"' in e for e in events), events
        assert events[-1] == "data: [DONE]"
        s.signal(signal.SIGTERM)
        assert s.proc.wait(timeout=120) == 0
        assert "drain: 0 requests still open" in s.output(), s.output()[-2000:]
    finally:
        s.stop()
