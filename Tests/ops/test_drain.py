"""SIGTERM with streams in flight: they all finish, new requests get 503, exit 0."""
import http.client
import json
import signal
import threading
import time
import urllib.error
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
        idle = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)  # keep-alive, idle at the signal
        idle.request("GET", "/health")
        first = idle.getresponse()
        first.read()
        assert first.getheader("Connection") is None
        s.signal(signal.SIGTERM)
        time.sleep(0.3)
        status, _, body = s.request("POST", "/v1/completions", {"model": "default", "prompt": "late", "max_tokens": 2})
        assert status == 503, body
        assert json.loads(body)["error"]["type"]
        assert s.request("GET", "/ready")[0] == 503
        # A keep-alive client is told to go elsewhere: the answer ends its connection.
        fresh = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        fresh.request("POST", "/v1/completions", json.dumps({"model": "default", "prompt": "late", "max_tokens": 2}),
                      {"Content-Type": "application/json"})
        late = fresh.getresponse()
        late.read()
        assert (late.status, late.getheader("Connection")) == (503, "close")
        # The connection that was idle at the signal was closed.
        try:
            idle.request("GET", "/health")
            idle.getresponse()
            reused = True
        except (http.client.RemoteDisconnected, ConnectionError):
            reused = False
        assert not reused
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
    """A stream whose submission fails (a full queue) is a 429 with Retry-After, as a whole answer
    is (it is submitted before its head goes out), and the drain then finds no request open (it
    once waited its whole timeout on such streams)."""
    s = JetonProcess("--model", "default", "--max-sequences", "1", "--max-waiting", "2", "--drain-timeout", "60")
    try:
        def metric(name):
            lines = [l for l in s.request("GET", "/metrics")[2].splitlines() if l.startswith(name)]
            return float(lines[0].split()[-1]) if lines else 0.0

        def busy(i):
            s.request("POST", "/v1/completions", {"model": "default", "prompt": f"Story {i}:", "max_tokens": 300,
                                                  "ignore_eos": True})

        # One request runs, one waits: one place is left in the queue for a stream of n = 2.
        threads = []
        for i, (gauge, want) in enumerate([("jeton_requests_running", 1), ("jeton_requests_waiting", 1)]):
            threads.append(threading.Thread(target=busy, args=(i,)))
            threads[-1].start()
            deadline = time.time() + 30
            while time.time() < deadline and metric(gauge) < want:
                time.sleep(0.02)
        body = json.dumps({"model": "default", "prompt": "Count:", "max_tokens": 8, "n": 2, "stream": True}).encode()
        req = urllib.request.Request(s.base + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=120)
            raise AssertionError("the stream was admitted")
        except urllib.error.HTTPError as e:
            assert e.code == 429 and int(e.headers["Retry-After"]) >= 1
            assert json.loads(e.read())["error"]["code"] == "queue_full"
        for t in threads:
            t.join(timeout=120)
        s.signal(signal.SIGTERM)
        assert s.proc.wait(timeout=120) == 0
        assert "drain: 0 requests still open" in s.output(), s.output()[-2000:]
    finally:
        s.stop()


def test_requests_past_the_drain_deadline_are_told_so():
    # drain_timeout 1 s, answers of 4,000 tokens: the deadline ends them. A stream gets an error
    # event (503, retry elsewhere) and [DONE], not a cut connection; a whole answer a 503.
    s = JetonProcess("--model", "default", "--drain-timeout", "1", "--cache-tokens", "16384")
    try:
        results = {}

        def long_request(i, stream):
            body = json.dumps({"model": "default", "prompt": f"Story {i}:", "max_tokens": 4000, "ignore_eos": True,
                               "stream": stream}).encode()
            req = urllib.request.Request(s.base + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    events = [l.decode().strip() for l in r if l.strip()]
                results[i] = (r.status, events[-2:])
            except urllib.error.HTTPError as e:
                results[i] = (e.code, json.loads(e.read())["error"]["code"])
            except Exception as e:  # recorded, asserted below
                results[i] = ("error", repr(e))

        threads = [threading.Thread(target=long_request, args=(i, i < 2)) for i in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        s.signal(signal.SIGTERM)
        for t in threads:
            t.join(timeout=60)
        for i in range(2):
            status, (last, done) = results[i]
            assert status == 200 and done == "data: [DONE]", results[i]
            assert json.loads(last[6:])["error"]["code"] == "service_unavailable", results[i]
        assert results[2] == (503, "service_unavailable"), results[2]
        assert s.proc.wait(timeout=30) == 0
    finally:
        s.stop()


def test_embeddings_past_the_drain_deadline_are_told_so():
    """Embedding requests still computing at the deadline get a 503 (retry elsewhere), not a
    connection closed without an answer (logged as if the client had left). One thread and
    2,048-token passes: the pass under way at the deadline outlasts it by seconds, and the
    connections were closed before its requests' 503s were written (found by a user's test)."""
    s = JetonProcess("--model", "nomic-embed-text-v1.5", "--drain-timeout", "1", "--threads", "1",
                     "--max-batch-tokens", "2048")
    try:
        results = {}

        def big(i):
            body = json.dumps({"model": "default", "input": [f"passage {i} {k}: " + "lorem ipsum dolor sit amet " * 20
                                                              for k in range(1000)]}).encode()
            req = urllib.request.Request(s.base + "/v1/embeddings", data=body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    results[i] = (r.status, None)
            except urllib.error.HTTPError as e:
                results[i] = (e.code, json.loads(e.read())["error"]["code"])
            except Exception as e:  # recorded, asserted below
                results[i] = ("error", repr(e))

        # ~250K tokens: minutes of work on any CPU, so both are still computing at the deadline.
        threads = [threading.Thread(target=big, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        s.signal(signal.SIGTERM)
        for t in threads:
            t.join(timeout=90)
        assert list(results.values()) == [(503, "service_unavailable")] * 2, results
        assert s.proc.wait(timeout=30) == 0
    finally:
        s.stop()


def test_a_request_pipelined_behind_a_stream_is_answered_at_a_drain():
    # The stream's head went out before the signal, without `Connection: close`: the request the
    # client pipelined behind it gets its 503 (and `Connection: close`), not a silent close.
    import socket
    s = JetonProcess("--model", "default", "--drain-timeout", "60")
    try:
        def post(body):
            data = json.dumps(body).encode()
            return (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(data)) + data
        conn = socket.create_connection(("127.0.0.1", s.port), timeout=60)
        conn.sendall(post({"model": "default", "prompt": "Story:", "max_tokens": 120, "ignore_eos": True, "stream": True})
                     + post({"model": "default", "prompt": "Hi", "max_tokens": 2}))
        received = b""
        while b"data: {" not in received:
            received += conn.recv(65536)
        s.signal(signal.SIGTERM)
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        text = received.decode(errors="replace")
        assert "data: [DONE]" in text, text[-300:]
        second = text[text.index("data: [DONE]"):]
        assert "HTTP/1.1 503" in second and "Connection: close" in second, second[:400]
        assert s.proc.wait(timeout=60) == 0
    finally:
        s.stop()
