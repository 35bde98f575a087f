"""Admission control and cancellation under load."""
import http.client
import json
import threading
import time

from jeton_process import JetonProcess


def metric(server, name):
    text = server.request("GET", "/metrics")[2]
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + "{"))


def test_more_choices_than_the_queue_holds_is_400():
    # n (times the prompts) above max_waiting + max_sequences could never be admitted: a 400 naming
    # the field, not a 429 to retry for ever. n up to it is served.
    s = JetonProcess("--model", "default", "--max-waiting", "1", "--max-sequences", "1", "--cache-tokens", "2048")
    try:
        for path, body, param in [("/v1/completions", {"prompt": "Hi", "n": 3}, "n"),
                                  ("/v1/completions", {"prompt": ["Hi", "Yo"], "n": 2}, "prompt"),
                                  ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "n": 3}, "n")]:
            status, _, text = s.request("POST", path, dict(body, model="default", max_tokens=2))
            err = json.loads(text)["error"]
            assert status == 400 and err["param"] == param and "max_waiting" in err["message"], (body, text)
        status, _, text = s.request("POST", "/v1/completions", {"model": "default", "prompt": "Hi", "n": 2, "max_tokens": 2})
        assert status == 200 and len(json.loads(text)["choices"]) == 2
    finally:
        s.stop()


def test_full_queue_answers_429_with_retry_after():
    s = JetonProcess("--model", "default", "--max-sequences", "1", "--max-waiting", "1", "--cache-tokens", "2048")
    try:
        results = []
        lock = threading.Lock()

        def call(i):
            r = s.request("POST", "/v1/completions", {"model": "default", "prompt": f"n{i}", "max_tokens": 24,
                                                      "ignore_eos": True})
            with lock:
                results.append(r)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r[0] for r in results)
        assert 200 in codes and 429 in codes, codes
        for status, headers, body in results:
            if status == 429:
                assert int(headers["Retry-After"]) >= 1
                err = json.loads(body)["error"]
                assert err["type"] == "rate_limit_error" and "queue" in err["message"]
    finally:
        s.stop()


def test_clients_gone_after_first_token_free_everything():
    s = JetonProcess("--model", "default", "--cache-tokens", "16384")
    try:
        def hang_up(i):
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
            c.request("POST", "/v1/completions", json.dumps({"model": "default", "prompt": f"Client {i} says",
                                                              "max_tokens": 400, "ignore_eos": True, "stream": True}),
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            for line in r:
                if line.startswith(b"data: {"):
                    break
            c.sock.close()
            c.close()

        threads = [threading.Thread(target=hang_up, args=(i,)) for i in range(64)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        t0 = time.time()
        while time.time() - t0 < 60:
            if metric(s, "jeton_requests_running") == 0 and metric(s, "jeton_kv_cache_usage_ratio") == 0:
                break
            time.sleep(0.05)
        emptied = time.time() - t0
        print(f"running set and cache empty {emptied:.2f} s after 64 disconnects")
        assert metric(s, "jeton_requests_running") == 0
        assert metric(s, "jeton_requests_waiting") == 0
        assert metric(s, "jeton_kv_cache_usage_ratio") == 0
        status, _, body = s.request("POST", "/v1/completions", {"model": "default", "prompt": "Hi", "max_tokens": 3})
        assert status == 200 and json.loads(body)["usage"]["completion_tokens"] == 3
    finally:
        s.stop()


def test_a_burst_admits_at_most_the_limit_and_refuses_streams_with_429():
    """A burst of streams: at most max_sequences run and max_waiting wait (requests the engine had
    taken but not yet counted once let a second max_waiting in); the others get a 429 with
    Retry-After, streamed or not, never a 200 carrying an error event."""
    s = JetonProcess("--model", "default", "--max-sequences", "2", "--max-waiting", "2", "--cache-tokens", "4096")
    try:
        results, lock = [], threading.Lock()
        go = threading.Event()

        def call(i):
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=300)
            body = {"model": "default", "prompt": f"Burst {i}", "max_tokens": 150, "ignore_eos": True, "stream": i % 2 == 0}
            go.wait()
            c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
            r = c.getresponse()
            text = r.read().decode()
            with lock:
                results.append((r.status, r.getheader("Retry-After"), text, body["stream"]))
            c.close()

        threads = [threading.Thread(target=call, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        go.set()
        for t in threads:
            t.join()
        served = [r for r in results if r[0] == 200]
        refused = [r for r in results if r[0] == 429]
        assert len(served) + len(refused) == 24, [r[0] for r in results]
        assert 1 <= len(served) <= 4, len(served)
        assert any(r[3] for r in refused), "some refused requests were streams"
        for status, retry, text, stream in refused:
            assert int(retry) >= 1 and json.loads(text)["error"]["code"] == "queue_full", text
        for status, retry, text, stream in served:
            assert "queue_full" not in text and (not stream or text.rstrip().endswith("data: [DONE]")), text[-300:]
    finally:
        s.stop()


def test_a_burst_into_free_sequences_is_not_a_queue():
    """max_waiting bounds the requests beyond what the batch can start: 12 arriving at once with
    16 free sequences all run (max_waiting 4 refused 8 of them, counted as waiting for one step)."""
    s = JetonProcess("--model", "default", "--max-sequences", "16", "--max-waiting", "4", "--cache-tokens", "8192")
    try:
        results, lock = [], threading.Lock()
        barrier = threading.Barrier(12)

        def call(i):
            barrier.wait()
            r = s.request("POST", "/v1/completions", {"model": "default", "prompt": f"Request {i}:", "max_tokens": 8})
            with lock:
                results.append(r[0])

        threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [200] * 12, results
    finally:
        s.stop()


def test_an_embedding_request_being_computed_is_not_waiting():
    """max_waiting 1: a request whose inputs are being computed does not fill the queue, so a
    second request waits behind it (it was refused with 429)."""
    s = JetonProcess("--model", "nomic-embed-text-v1.5", "--max-waiting", "1")
    try:
        big = {"model": "default", "input": [f"passage {k}: " + "lorem ipsum dolor sit amet " * 20 for k in range(120)]}
        results = {}
        t = threading.Thread(target=lambda: results.setdefault("big", s.request("POST", "/v1/embeddings", big)[0]))
        t.start()
        time.sleep(1.0)  # the big request is being computed (seconds of work on two cores)
        status, _, text = s.request("POST", "/v1/embeddings", {"model": "default", "input": "one line"})
        t.join()
        assert status == 200, text
        assert results["big"] == 200
    finally:
        s.stop()


def test_at_the_connection_limit_liveness_still_answers():
    """Over server.max_connections a connection gets 503 with Retry-After, except a GET /health: a
    replica at its limit is busy, not dead, and the liveness probe must not restart it."""
    import socket
    s = JetonProcess("--model", "default", env={"JETON_SERVER_MAX_CONNECTIONS": "2"})
    held = []
    try:
        for _ in range(2):  # two keep-alive connections hold the two slots
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
            c.request("GET", "/version")
            assert c.getresponse().read() and c.sock is not None
            held.append(c)

        def raw(request):
            with socket.create_connection(("127.0.0.1", s.port), timeout=30) as k:
                k.sendall(request)
                out = b""
                while True:
                    chunk = k.recv(65536)
                    if not chunk:
                        return out
                    out += chunk

        probe = raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert probe.startswith(b"HTTP/1.1 200") and b"connection: close" in probe.lower(), probe[:300]
        for request in (b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"):
            refused = raw(request)
            assert refused.startswith(b"HTTP/1.1 503") and b"too_many_connections" in refused, refused[:300]
            assert b"retry-after: 1" in refused.lower(), refused[:300]
        # A flood of silent connections over the limit is not held: beyond a few that may still show
        # a probe's head (for 2 s at most), each is refused at once, as before the exemption.
        flood = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(40)]
        try:
            time.sleep(0.5)
            answered = 0
            for k in flood:
                k.setblocking(False)
                try:
                    answered += k.recv(65536).startswith(b"HTTP/1.1 503")
                except BlockingIOError:
                    pass
            assert answered >= 40 - 16, answered
            time.sleep(2.5)
            for k in flood:
                k.setblocking(True)
                k.settimeout(5)
                while k.recv(65536):
                    pass  # the rest closed by the probe deadline (recv returns b"" at the end)
        finally:
            for k in flood:
                k.close()
    finally:
        for c in held:
            c.close()
        s.stop()
