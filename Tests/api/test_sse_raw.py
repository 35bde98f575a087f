"""The SSE framing as a plain HTTP client sees it."""
from conftest import CHAT, PROMPT, sse


def check_headers(h):
    assert h["content-type"].startswith("text/event-stream")
    assert h["cache-control"] == "no-cache"
    assert h["x-accel-buffering"] == "no"


def test_completions_raw_stream_with_usage(server):
    _, h, events = sse(server, "/v1/completions", {"model": "default", "prompt": PROMPT, "max_tokens": 4,
                                                   "temperature": 0, "ignore_eos": True, "stream": True,
                                                   "stream_options": {"include_usage": True}})
    check_headers(h)
    *chunks, usage_chunk, done = events
    assert done == "[DONE]"
    for c in chunks:
        assert c["object"] == "text_completion" and c["id"].startswith("cmpl-")
        assert len(c["choices"]) == 1 and "usage" in c and c["usage"] is None
    assert usage_chunk["choices"] == []
    u = usage_chunk["usage"]
    assert u["completion_tokens"] == 4 and u["total_tokens"] == u["prompt_tokens"] + 4
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_chat_raw_stream_with_usage(server):
    _, h, events = sse(server, "/v1/chat/completions", {"model": "default", "messages": CHAT, "max_tokens": 3,
                                                        "stream": True, "stream_options": {"include_usage": True}})
    check_headers(h)
    *chunks, usage_chunk, done = events
    assert done == "[DONE]"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    for c in chunks:
        assert c["object"] == "chat.completion.chunk" and c["id"].startswith("chatcmpl-")
    assert usage_chunk["object"] == "chat.completion.chunk"
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == 3
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_stream_without_usage_has_no_usage_chunk(server):
    _, _, events = sse(server, "/v1/chat/completions", {"model": "default", "messages": CHAT, "max_tokens": 2,
                                                        "stream": True})
    assert all(e["choices"] for e in events[:-1])
    assert all(e.get("usage") is None for e in events[:-1])
