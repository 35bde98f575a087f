"""Predicted Outputs (`prediction` on chat completions, OpenAI's): the expected answer is proposed
as speculation on a server whose own speculation is off, so the answer is token for token the
one without it, and usage.completion_tokens_details counts the prediction's tokens that stood
and those computed in vain."""
import re

import pytest

from conftest import assert_error, sse

MESSAGES = [{"role": "user", "content": "Write a Python function that adds two numbers."}]


def chat(client, **extra):
    return client.chat.completions.create(model="default", messages=MESSAGES, max_tokens=48, temperature=0,
                                          logprobs=True, **extra)


def tokens(r):
    return [t.token for t in r.choices[0].logprobs.content]


def metric(server, name, method):
    _, _, text = server.request("GET", "/metrics")
    m = re.search(rf'{name}\{{[^}}]*method="{method}"[^}}]*\}} ([0-9.e+]+)', text)
    return float(m.group(1)) if m else 0.0


def test_a_right_prediction_changes_no_token_and_reports_its_tokens(client, server):
    plain = chat(client)
    d = plain.usage.completion_tokens_details
    assert (d.accepted_prediction_tokens, d.rejected_prediction_tokens, d.reasoning_tokens) == (0, 0, 0)
    before = metric(server, "jeton_spec_accepted_tokens_total", "prediction")
    text = plain.choices[0].message.content
    predicted = chat(client, prediction={"type": "content", "content": text})
    assert predicted.choices[0].message.content == text
    assert tokens(predicted) == tokens(plain)
    d = predicted.usage.completion_tokens_details
    # Every token but the first few can come from the prediction (the cost rule may skip a step).
    assert d.accepted_prediction_tokens >= plain.usage.completion_tokens // 2, d
    assert d.rejected_prediction_tokens < d.accepted_prediction_tokens, d
    assert metric(server, "jeton_spec_accepted_tokens_total", "prediction") - before == d.accepted_prediction_tokens


def test_an_edited_prediction_and_text_parts(client):
    plain = chat(client)
    text = plain.choices[0].message.content
    words = text.split(" ")
    assert len(words) > 8, text
    # A span the answer does not have: left, then found again after it.
    edited = " ".join(words[:4] + ["entirely", "different", "words"] + words[4:])
    parts = [{"type": "text", "text": edited[:10]}, {"type": "text", "text": edited[10:]}]
    r = chat(client, prediction={"type": "content", "content": parts})
    assert r.choices[0].message.content == text and tokens(r) == tokens(plain)
    d = r.usage.completion_tokens_details
    assert d.accepted_prediction_tokens > 0 and d.rejected_prediction_tokens > 0, d
    # A prediction that has nothing to do with the answer.
    r = chat(client, prediction={"type": "content", "content": "Lorem ipsum dolor sit amet. " * 5})
    assert r.choices[0].message.content == text


def test_a_streamed_answer_with_a_prediction(client, server):
    plain = chat(client)
    text = plain.choices[0].message.content
    _, _, events = sse(server, "/v1/chat/completions", {
        "model": "default", "messages": MESSAGES, "max_tokens": 48, "temperature": 0, "stream": True,
        "stream_options": {"include_usage": True}, "prediction": {"type": "content", "content": text}})
    *chunks, usage, done = events
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == text
    d = usage["usage"]["completion_tokens_details"]
    assert d["accepted_prediction_tokens"] > 0 and d["audio_tokens"] == 0, d


def test_opting_out_of_speculation_leaves_the_prediction_unused(client):
    plain = chat(client)
    r = chat(client, prediction={"type": "content", "content": plain.choices[0].message.content},
             extra_body={"speculative": False})
    assert r.choices[0].message.content == plain.choices[0].message.content
    assert r.usage.completion_tokens_details.accepted_prediction_tokens == 0


def test_legacy_completions_report_completion_details(client):
    r = client.completions.create(model="default", prompt="The capital of France is", max_tokens=4, temperature=0)
    d = r.usage.completion_tokens_details
    assert (d.accepted_prediction_tokens, d.rejected_prediction_tokens) == (0, 0)


@pytest.mark.parametrize("prediction, param", [
    ("text", "prediction"),
    ({"content": "x"}, "prediction.type"),
    ({"type": "text", "content": "x"}, "prediction.type"),
    ({"type": "content"}, "prediction.content"),
    ({"type": "content", "content": 5}, "prediction.content"),
    ({"type": "content", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}, "prediction.content[0]"),
    ({"type": "content", "content": ["x"]}, "prediction.content[0]"),
    ({"type": "content", "content": "x", "extra": 1}, "prediction.extra"),
    ({"type": 5, "content": "x"}, "prediction.type"),
    ({"type": "content", "content": [{"type": "text", "text": "x", "cache": True}]}, "prediction.content[0].cache"),
])
def test_a_malformed_prediction_is_a_400_naming_the_field(server, prediction, param):
    status, headers, data = server.request("POST", "/v1/chat/completions", {
        "model": "default", "messages": MESSAGES, "max_tokens": 4, "prediction": prediction})
    assert_error(data, headers, status, 400, "invalid_request_error", param)


def test_usage_counts_no_prediction_token_past_a_stop_string(client):
    plain = chat(client)
    text = plain.choices[0].message.content
    words = [w for w in text.split() if w.isalpha() and len(w) > 3]
    assert words, text
    for word in words[:3]:
        r = chat(client, stop=[word], prediction={"type": "content", "content": text})
        cut = client.chat.completions.create(model="default", messages=MESSAGES, max_tokens=48, temperature=0, stop=[word])
        assert r.choices[0].message.content == cut.choices[0].message.content
        d = r.usage.completion_tokens_details
        # The engine may verify proposals past the stop before the stop reaches it: those are
        # computed in vain (rejected), not part of the answer.
        assert 0 < d.accepted_prediction_tokens <= r.usage.completion_tokens, (word, d, r.usage.completion_tokens)
