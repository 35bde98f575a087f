"""GET /metrics after a known set of requests, read with prometheus_client's parser."""
import json
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jeton_process import JetonProcess


@pytest.fixture(scope="module")
def server():
    s = JetonProcess("--model", "default", "--cache-tokens", "4096")
    yield s
    s.stop()


def scrape(server):
    status, headers, text = server.request("GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    matches = [v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == v2 for k, v2 in labels.items())]
    return sum(matches)


def test_counts_agree_with_usage(server):
    before = scrape(server)
    model = json.loads(server.request("GET", "/v1/models")[2])["data"][0]["id"]
    prompt_total = completion_total = 0
    # Requests that ended on the end-of-generation token: it counts in usage but is never delivered,
    # so it has no inter-token gap (sampled at temperature 1, a request sometimes ends early).
    ended = 0
    for i in range(3):
        status, _, body = server.request("POST", "/v1/completions",
                                         {"model": "default", "prompt": f"Count to {i}:", "max_tokens": 4 + i})
        assert status == 200
        u = json.loads(body)["usage"]
        prompt_total += u["prompt_tokens"]
        completion_total += u["completion_tokens"]
        ended += json.loads(body)["choices"][0]["finish_reason"] == "stop"
    status, _, body = server.request("POST", "/v1/chat/completions",
                                     {"model": "default", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3,
                                      "stream": True, "stream_options": {"include_usage": True}})
    assert status == 200
    chunks = [json.loads(l[6:]) for l in body.splitlines() if l.startswith("data: {")]
    last = chunks[-1]
    prompt_total += last["usage"]["prompt_tokens"]
    completion_total += last["usage"]["completion_tokens"]
    ended += any(c["choices"] and c["choices"][0].get("finish_reason") == "stop" for c in chunks)
    assert server.request("POST", "/v1/completions", {"model": "nope", "prompt": "x"})[0] == 404

    after = scrape(server)
    delta = lambda name, **l: value(after, name, **l) - value(before, name, **l)
    assert delta("jeton_requests_total", endpoint="/v1/completions", status="200") == 3
    assert delta("jeton_requests_total", endpoint="/v1/completions", status="404") == 1
    assert delta("jeton_requests_total", endpoint="/v1/chat/completions", status="200") == 1
    assert delta("jeton_prompt_tokens_total", model=model) == prompt_total
    assert delta("jeton_generation_tokens_total", model=model) == completion_total
    assert delta("jeton_time_to_first_token_seconds_count") == 4
    assert delta("jeton_request_queue_seconds_count") == 4
    assert delta("jeton_request_duration_seconds_count") >= 5
    # By endpoint: the scrapes and probes are not the API's latency.
    assert delta("jeton_request_duration_seconds_count", endpoint="/v1/completions") == 4
    assert delta("jeton_request_duration_seconds_count", endpoint="/v1/chat/completions") == 1
    assert delta("jeton_inter_token_latency_seconds_count") == completion_total - 4 - ended
    assert delta("jeton_batch_tokens_count") >= 4
    # Answers by how they ended (the 404 never ran).
    assert delta("jeton_answers_finished_total", model=model, reason="stop") == ended
    assert delta("jeton_answers_finished_total", model=model, reason="length") == 4 - ended
    # Latency buckets reach the minutes a long generation takes.
    assert ("jeton_request_duration_seconds_bucket", ("endpoint", "/v1/completions"), ("le", "2400.0")) in \
        {(n, *[(k, v) for k, v in ls if k in ("endpoint", "le")]) for (n, ls) in after}
    # One step-time observation per forward pass, and their sum is the forward passes' time.
    assert delta("jeton_engine_step_seconds_count") == delta("jeton_batch_tokens_count")
    steps, forward = delta("jeton_engine_step_seconds_sum"), delta("jeton_engine_forward_seconds_total")
    assert steps > 0 and abs(steps - forward) <= 0.01 * forward + 1e-3, (steps, forward)
    # The engine's per-step timer: forward passes happen inside its working time.
    assert delta("jeton_engine_forward_seconds_total") > 0
    assert value(after, "jeton_engine_busy_seconds_total") >= value(after, "jeton_engine_forward_seconds_total") > 0
    assert value(after, "jeton_requests_running") == 0
    assert value(after, "jeton_requests_waiting") == 0
    assert 0 <= value(after, "jeton_kv_cache_usage_ratio") <= 1
    assert value(after, "jeton_http_connections") >= 1
    # Every family carries the model label.
    for (name, labels) in after:
        if name.startswith("jeton_"):
            assert dict(labels).get("model") == model, name


def test_kept_responses_are_counted_with_their_bytes(server):
    before = scrape(server)
    status, _, body = server.request("POST", "/v1/responses", {"model": "default", "input": "Hi", "max_output_tokens": 3})
    assert status == 200
    rid = json.loads(body)["id"]
    after = scrape(server)
    assert value(after, "jeton_responses_kept") == value(before, "jeton_responses_kept") + 1
    grown = value(after, "jeton_responses_kept_bytes") - value(before, "jeton_responses_kept_bytes")
    assert len(body) < grown < 4 * len(body) + 4096, (grown, len(body))  # its JSON text and its turn
    assert server.request("DELETE", f"/v1/responses/{rid}")[0] == 200
    gone = scrape(server)
    assert value(gone, "jeton_responses_kept") == value(before, "jeton_responses_kept")
    assert value(gone, "jeton_responses_kept_bytes") == value(before, "jeton_responses_kept_bytes")


def test_http_rejections_are_counted(server):
    """Requests the HTTP layer refuses before any route (so outside jeton_requests_total) are
    counted by status and code."""
    def raw(data):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.sendall(data)
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
            return int(reply.split(b" ", 2)[1])
    before = scrape(server)
    assert raw(b"NOT A REQUEST LINE\r\n\r\n") == 400
    assert raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc") == 400
    assert raw(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n") == 431
    assert raw(b"BREW /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n") == 501
    # A standard method no route answers is the route's own 405, counted with the requests.
    assert raw(b"DELETE /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == 405
    after = scrape(server)
    delta = lambda **l: value(after, "jeton_http_rejected_total", **l) - value(before, "jeton_http_rejected_total", **l)
    assert delta(status="400") == 2
    assert delta(status="431") == 1
    assert delta(status="501", code="method_not_implemented") == 1
    assert delta(status="405") == 0


def test_prefix_cache_counters(server):
    prefix = "The quick brown fox jumps over the lazy dog. " * 8
    before = scrape(server)
    for tail in ("One.", "Two."):
        assert server.request("POST", "/v1/completions", {"model": "default", "prompt": prefix + tail, "max_tokens": 1})[0] == 200
    after = scrape(server)
    hits = value(after, "jeton_prefix_cache_hits_total") - value(before, "jeton_prefix_cache_hits_total")
    queries = value(after, "jeton_prefix_cache_queries_total") - value(before, "jeton_prefix_cache_queries_total")
    assert hits >= 4
    assert queries >= hits


def test_health_ready_version(server):
    assert server.request("GET", "/health")[0] == 200
    status, _, body = server.request("GET", "/ready")
    assert status == 200 and json.loads(body)["status"] == "ready"
    status, _, body = server.request("GET", "/version")
    assert status == 200 and json.loads(body)["version"]


def test_every_family_has_help(server):
    """Each family's `# HELP` comes right before its `# TYPE`, and the parser reads it as its documentation."""
    server.request("POST", "/v1/completions", {"model": "default", "prompt": "Hi", "max_tokens": 2})
    text = server.request("GET", "/metrics")[2]
    lines = text.splitlines()
    types = [i for i, line in enumerate(lines) if line.startswith("# TYPE jeton_")]
    assert len(types) >= 20
    for i in types:
        name = lines[i].split()[2]
        assert lines[i - 1].startswith(f"# HELP {name} "), (lines[i - 1], lines[i])
    docs = {fam.name: fam.documentation for fam in text_string_to_metric_families(text)}
    assert docs["jeton_requests"].startswith("HTTP requests answered")  # the parser drops `_total`
    assert all(docs.values()), [n for n, d in docs.items() if not d]


def test_a_client_closing_right_after_done_is_counted_200(server):
    """The OpenAI clients stop reading at `data: [DONE]` and may close at once: the answer was
    whole, so it counts as a 200, not as a client gone mid-answer (499)."""
    before = scrape(server)
    body = json.dumps({"model": "default", "prompt": "Hi", "max_tokens": 2, "stream": True}).encode()
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        got = b""
        while b"data: [DONE]" not in got:
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
        s.close()
    for _ in range(50):  # the lines land when each request has ended
        after = scrape(server)
        done = value(after, "jeton_requests_total", endpoint="/v1/completions") - value(before, "jeton_requests_total", endpoint="/v1/completions")
        if done >= 20:
            break
        time.sleep(0.1)
    delta = lambda **l: value(after, "jeton_requests_total", endpoint="/v1/completions", **l) - value(before, "jeton_requests_total", endpoint="/v1/completions", **l)
    assert delta(status="200") == 20 and delta(status="499") == 0, (delta(status="200"), delta(status="499"))


def test_a_client_gone_mid_answer_is_counted_as_an_abort(server):
    """The access status of such a stream is 499, and its answer `abort` in jeton_answers_finished_total."""
    before = scrape(server)
    body = json.dumps({"model": "default", "prompt": "Hi", "max_tokens": 400, "ignore_eos": True, "stream": True}).encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    got = b""
    while got.count(b"data: {") < 2:
        chunk = s.recv(65536)
        assert chunk, got
        got += chunk
    s.close()
    for _ in range(100):
        after = scrape(server)
        if value(after, "jeton_answers_finished_total", reason="abort") > value(before, "jeton_answers_finished_total", reason="abort"):
            break
        time.sleep(0.1)
    assert value(after, "jeton_answers_finished_total", reason="abort") - value(before, "jeton_answers_finished_total", reason="abort") == 1
    assert value(after, "jeton_answers_finished_total", reason="length") == value(before, "jeton_answers_finished_total", reason="length")


def test_metrics_answer_and_count_while_the_model_loads():
    """/metrics answers from the start, and the 503s of /ready while the model loads are counted."""
    s = JetonProcess("--model", "qwen2.5-coder-0.5b", wait_ready=False)
    try:
        loading, exposition_while_loading = 0, []
        while True:
            status = s.request("GET", "/ready")[0]
            if status == 200:
                break
            assert status == 503, status
            loading += 1
            code, _, text = s.request("GET", "/metrics")
            exposition_while_loading.append((code, "jeton_requests_total" in text))
            time.sleep(0.01)
        after = scrape(s)
        assert value(after, "jeton_requests_total", endpoint="/ready", status="503") == loading
        assert all(e == (200, True) for e in exposition_while_loading), exposition_while_loading
        print(f"{loading} /ready probes while loading")
    finally:
        s.stop()
