"""A client that stops reading a stream pauses its own sequence (kept, not cut): once it
reads again it gets every token in order, and other clients are served meanwhile. One that
stays away past server.slow_reader_timeout has its request ended and its connection closed.

The response buffer is made small (server.max_response_buffer_bytes) and so is the client's
socket receive buffer, so a few dozen events are enough to fill them."""
import json
import os
import re
import socket
import tempfile
import time

import pytest

from conftest import Server, assert_healthy, parse_sse, sse

# Sixteen choices with 20 logprobs each make about 11 KB per step; in all more than the loopback
# socket buffers can take (they grow to a few MB), so the stream must pause.
BODY = {"model": "default", "prompt": "The capital of France is", "max_tokens": 300, "n": 16,
        "ignore_eos": True, "logprobs": 20, "stream": True}
OTHER = {"model": "default", "prompt": "The capital of France is", "max_tokens": 8, "stream": True,
         "ignore_eos": True}  # at the default temperature the end token could come first


def make_server(timeout):
    fd, path = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(f"server:\n  max_response_buffer_bytes: 16384\n  slow_reader_timeout: {timeout}\n")
    try:
        server = Server(extra=["--config", path])
    finally:
        os.unlink(path)
    wait_for(lambda: server.request("GET", "/ready")[0] == 200, "the model to load")
    return server


def metric(server, name):
    _, _, text = server.request("GET", "/metrics")
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def wait_for(condition, what, limit=120):
    """Polls until `condition()` holds; the limit only keeps a broken server from hanging the suite."""
    deadline = time.time() + limit
    while not condition():
        assert time.time() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def open_stream(server, body):
    """Sends a streamed request on a socket with a small receive buffer and reads nothing yet."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: fixes the window
    s.settimeout(120)
    s.connect(("127.0.0.1", server.port))
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Connection: close\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return s


def read_all(s):
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        chunks.append(b)
    s.close()
    return b"".join(chunks)


def dechunk(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    out = bytearray()
    while True:
        size_line, sep, rest = body.partition(b"\r\n")
        assert sep, "the chunked body is cut short"
        size = int(size_line, 16)
        if size == 0:
            return out.decode()
        out += rest[:size]
        body = rest[size + 2:]


@pytest.fixture(scope="module")
def patient():
    s = make_server(60)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def strict():
    s = make_server(1)
    yield s
    s.stop()


def test_stalled_reader_resumes_with_every_token_while_others_are_served(patient):
    slow = open_stream(patient, BODY)
    # The client reads nothing: the buffers fill and the server pauses its sequence.
    wait_for(lambda: metric(patient, "jeton_slow_reader_pauses_total") >= 1, "the stream to pause")
    # Meanwhile another client's stream runs to its end.
    _, _, events = sse(patient, "/v1/completions", OTHER)
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    assert metric(patient, "jeton_slow_reader_aborts_total") == 0
    # Reading again, the slow client gets the whole stream.
    events = parse_sse(dechunk(read_all(slow)))
    for index in range(BODY["n"]):
        choices = [c for e in events[:-1] for c in e["choices"] if c["index"] == index]
        assert choices[-1]["finish_reason"] == "length"
        lp = [c["logprobs"] for c in choices if c["logprobs"]]
        tokens = [t for l in lp for t in l["tokens"]]
        offsets = [o for l in lp for o in l["text_offset"]]
        assert len(tokens) == BODY["max_tokens"], f"choice {index}: a token is missing"
        # In order: each token's offset in the choice's text is at or after the one before it
        # (equal only inside a multi-byte character), and the text reaches the last offset.
        assert all(a <= b for a, b in zip(offsets, offsets[1:])), f"choice {index}: tokens out of order"
        assert len("".join(c["text"] for c in choices).encode("utf-16-le")) // 2 >= offsets[-1]
    assert_healthy(patient)


def test_reader_stalled_past_the_timeout_is_ended_cleanly(strict):
    slow = open_stream(strict, BODY)
    wait_for(lambda: metric(strict, "jeton_slow_reader_aborts_total") >= 1, "the slow reader to be ended")
    # Its sequence is gone and its blocks are free.
    wait_for(lambda: metric(strict, "jeton_requests_running") == 0 and metric(strict, "jeton_kv_cache_used_bytes") == 0,
             "the request's blocks to be freed")
    raw = read_all(slow)
    assert b"[DONE]" not in raw, "an ended stream must not look complete"
    # The server goes on serving others.
    _, _, events = sse(strict, "/v1/completions", OTHER)
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    assert_healthy(strict)
