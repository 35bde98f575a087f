"""Answer confidence (`confidence: true`, issue 19): the summary agrees with the returned logprobs,
spans point at the low-probability tokens, streaming carries spans as they close and the summary
last, bad values are 400s. The threshold is the server's default, 0.3."""
import json
import math

import pytest

from conftest import CHAT, assert_error, raw_post, reference, sse

PROMPTS = [r["prompt"] for r in reference("greedy.jsonl")]
THRESHOLD = 0.3
SUMMARY_KEYS = {"tokens", "mean_logprob", "min_logprob", "mean_entropy", "low_confidence_ratio", "threshold",
                "low_confidence_spans"}
SPAN_KEYS = {"start", "end", "text", "mean_probability", "min_probability", "tokens"}


def u16(s):
    return len(s.encode("utf-16-le")) // 2


def u16_slice(s, a, b):
    return s.encode("utf-16-le")[2 * a:2 * b].decode("utf-16-le", errors="replace")


def low_runs(logprobs):
    """Maximal runs [first, last] of consecutive tokens with probability under the threshold."""
    runs, start = [], None
    for i, lp in enumerate(logprobs + [0.0]):
        if math.exp(lp) < THRESHOLD and i < len(logprobs):
            start = i if start is None else start
        elif start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def complete_prefix(b):
    """The bytes without a trailing character that more bytes could complete (as the server streams)."""
    n = len(b)
    i = n - 1
    while i >= 0 and i >= n - 4 and b[i] & 0xC0 == 0x80:
        i -= 1
    if i < 0 or i < n - 4:
        return b
    need = 2 if 0xC2 <= b[i] <= 0xDF else 3 if 0xE0 <= b[i] <= 0xEF else 4 if 0xF0 <= b[i] <= 0xF4 else 0
    return b[:i] if need and n - i < need else b


def token_ranges(token_bytes):
    """Each token's [start, end) in the decoded text (UTF-16 units), and whether it left bytes held."""
    out, acc = [], b""
    for tb in token_bytes:
        start = u16(complete_prefix(acc).decode("utf-8", errors="replace"))
        acc += tb
        done = complete_prefix(acc)
        out.append((start, u16(done.decode("utf-8", errors="replace")), len(done) < len(acc)))
    return out


def expected_spans(token_bytes, logprobs):
    ranges = token_ranges(token_bytes)
    # A run that ends inside a character reaches to the token completing it, however many tokens
    # later; an unlikely token before that continues the same span.
    merged = []
    for a, b in low_runs(logprobs):
        if merged and merged[-1][2] >= a:
            merged[-1][1] = b
        else:
            merged.append([a, b, b])
        k = b
        while ranges[k][2] and k + 1 < len(ranges):
            k += 1
        merged[-1][2] = k
    spans = []
    for a, b, k in merged:
        low = [i for i in range(a, b + 1) if math.exp(logprobs[i]) < THRESHOLD]
        probs = [math.exp(logprobs[i]) for i in low]
        spans.append({"start": ranges[a][0], "end": max(ranges[b][1], ranges[k][1]), "tokens": len(low),
                      "mean_probability": sum(probs) / len(probs), "min_probability": min(probs)})
    return [s for s in spans if s["start"] < s["end"]]


def check_summary(conf, logprobs):
    assert set(conf) == SUMMARY_KEYS, conf
    n = len(logprobs)
    assert conf["tokens"] == n
    assert conf["threshold"] == THRESHOLD
    assert abs(conf["mean_logprob"] - sum(logprobs) / n) <= 1e-6, (conf["mean_logprob"], sum(logprobs) / n)
    assert abs(conf["min_logprob"] - min(logprobs)) <= 1e-6
    assert conf["low_confidence_ratio"] == pytest.approx(sum(math.exp(lp) < THRESHOLD for lp in logprobs) / n, abs=1e-12)
    assert conf["mean_entropy"] >= 0


def check_spans(spans, text, want):
    assert [s["tokens"] for s in spans] == [w["tokens"] for w in want], (spans, want)
    for s, w in zip(spans, want):
        assert set(s) == SPAN_KEYS, s
        assert (s["start"], s["end"]) == (w["start"], w["end"]), (s, w)
        assert s["mean_probability"] == pytest.approx(w["mean_probability"], abs=1e-6)
        assert s["min_probability"] == pytest.approx(w["min_probability"], abs=1e-6)
        assert s["mean_probability"] < THRESHOLD
        assert s["text"] == u16_slice(text, s["start"], s["end"])


def token_bytes(t):
    """A completions token's bytes: `bytes:\\xf0\\x9f` for part of a character, else its text."""
    return bytes.fromhex(t[len("bytes:"):].replace("\\x", "")) if t.startswith("bytes:") else t.encode()


def completion(server, **body):
    status, _, data = server.request("POST", "/v1/completions", {"model": "default", "temperature": 0, **body})
    assert status == 200, data
    return data


@pytest.mark.parametrize("prompt", PROMPTS)
def test_reference_prompts_mean_logprob_and_spans(server, prompt):
    """Temperature 0: the measure is the model's distribution at T=1, the same one `logprobs`
    reports, so the mean agrees to 1e-6 and the spans are the runs of tokens under 0.3."""
    # Past ignore_eos the text holds control tokens (`<|im_end|>`), as the token strings summed below do.
    c = completion(server, prompt=prompt, max_tokens=32, ignore_eos=True, logprobs=0, confidence=True,
                   skip_special_tokens=False)["choices"][0]
    lps = c["logprobs"]["token_logprobs"]
    assert len(lps) == 32
    check_summary(c["confidence"], lps)
    # Completions `tokens` are strings; one holding part of a character is written `bytes:\xNN…`.
    spans = c["confidence"]["low_confidence_spans"]
    toks = [token_bytes(t) for t in c["logprobs"]["tokens"]]
    if not any(t.startswith("bytes:") for t in c["logprobs"]["tokens"]):
        check_spans(spans, c["text"], expected_spans(toks, lps))
        offsets = c["logprobs"]["text_offset"]
        for s, (a, b) in zip(spans, low_runs(lps)):
            assert s["start"] == offsets[a]
    else:
        # A character split over tokens: the runs, in order, with their probabilities.
        want = expected_spans(toks, lps)
        assert [(s["tokens"], round(s["mean_probability"], 6)) for s in spans] == \
               [(w["tokens"], round(w["mean_probability"], 6)) for w in want]
    assert any(math.exp(lp) < THRESHOLD for lp in lps) == bool(spans)


def test_chat_spans_follow_token_bytes(client):
    """Chat logprobs carry each token's bytes: spans equal the byte-exact ranges of the runs."""
    # The third prompt makes SmolLM2 answer in emoji, three tokens each: a span must cover its character.
    for content in ["What is the boiling point of water in Fahrenheit and Celsius?", "Write a haiku about rust.",
                    "Say hi <b>bold</b> & 'quotes'"]:
        r = client.chat.completions.create(model="default", messages=[{"role": "user", "content": content}], max_tokens=40,
                                           temperature=0, logprobs=True, extra_body={"confidence": True})
        c = r.choices[0]
        conf = c.model_extra["confidence"]
        entries = c.logprobs.content
        lps = [e.logprob for e in entries]
        check_summary(conf, lps)
        check_spans(conf["low_confidence_spans"], c.message.content,
                    expected_spans([bytes(e.bytes) for e in entries], lps))


def test_not_requested_means_absent(server, client):
    c = completion(server, prompt="Hello", max_tokens=4)["choices"][0]
    assert "confidence" not in c
    r = client.chat.completions.create(model="default", messages=CHAT, max_tokens=4, temperature=0)
    assert "confidence" not in (r.choices[0].model_extra or {})
    c = completion(server, prompt="Hello", max_tokens=4, confidence=False)["choices"][0]
    assert "confidence" not in c


def test_sampled_answers_are_measured_in_their_distribution(server):
    """At temperature 0.7 the summary is of softmax(logits / 0.7): still a probability distribution
    (ratio in [0, 1], entropy ≥ 0), and spans stay inside the text."""
    data = completion(server, prompt="My favourite colour is", max_tokens=24, temperature=0.7, seed=7, n=2,
                      confidence=True, top_p=0.9, ignore_eos=True)
    for c in data["choices"]:
        conf = c["confidence"]
        assert conf["tokens"] == 24
        assert conf["min_logprob"] <= conf["mean_logprob"] <= 0
        assert 0 <= conf["low_confidence_ratio"] <= 1 and conf["mean_entropy"] >= 0
        for s in conf["low_confidence_spans"]:
            assert 0 <= s["start"] <= s["end"] <= u16(c["text"])
            assert s["text"] == u16_slice(c["text"], s["start"], s["end"])


def test_stream_summary_in_final_chunk_and_spans_as_they_close(server, client):
    body = dict(model="default", messages=[{"role": "user", "content": "Tell me a short story about a fox."}],
                max_tokens=48, temperature=0, confidence=True)
    status, _, whole = server.request("POST", "/v1/chat/completions", body)
    assert status == 200
    want = whole["choices"][0]["confidence"]
    _, _, events = sse(server, "/v1/chat/completions", dict(body, stream=True))
    chunks = [e for e in events if e != "[DONE]"]
    spans, summaries, text = [], [], ""
    for i, e in enumerate(chunks):
        ch = e["choices"][0]
        text += ch["delta"].get("content") or ""
        conf = ch.get("confidence")
        if conf is None:
            continue
        if ch["finish_reason"] is None:
            assert set(conf) == {"low_confidence_spans"}, conf
            # A span goes out once its text has: it ends within the text streamed so far.
            for s in conf["low_confidence_spans"]:
                assert s["end"] <= u16(text)
        else:
            summaries.append(conf)
        spans += conf["low_confidence_spans"]
    assert len(summaries) == 1 and chunks[-1]["choices"][0]["finish_reason"] is not None
    assert "confidence" in chunks[-1]["choices"][0], "the summary rides on the chunk with the finish reason"
    final = summaries[0]
    assert text == whole["choices"][0]["message"]["content"]
    assert spans == want["low_confidence_spans"], "streamed spans, concatenated, are the whole answer's"
    for k in ["tokens", "mean_logprob", "min_logprob", "mean_entropy", "low_confidence_ratio", "threshold"]:
        assert final[k] == pytest.approx(want[k], abs=1e-12), k
    # The official client passes the extension field through.
    got = [c for c in client.chat.completions.create(stream=True, extra_body={"confidence": True},
                                                     **{k: v for k, v in body.items() if k != "confidence"})]
    last = [c for c in got if c.choices and c.choices[0].finish_reason][0]
    assert last.choices[0].model_extra["confidence"]["mean_logprob"] == pytest.approx(want["mean_logprob"], abs=1e-12)


def test_stream_completions_with_echo_offsets_include_the_prompt(server):
    prompt = "Once upon a time, there was a little robot who"
    base = dict(model="default", prompt=prompt, max_tokens=24, temperature=0, confidence=True, echo=True)
    whole = completion(server, **base)["choices"][0]
    assert whole["text"].startswith(prompt)
    for s in whole["confidence"]["low_confidence_spans"]:
        assert s["start"] >= u16(prompt)
        assert s["text"] == u16_slice(whole["text"], s["start"], s["end"])
    _, _, events = sse(server, "/v1/completions", dict(base, stream=True))
    text, spans, final = "", [], None
    for e in events[:-1]:
        ch = e["choices"][0]
        text += ch["text"]
        if "confidence" in ch:
            spans += ch["confidence"]["low_confidence_spans"]
            if ch["finish_reason"] is not None:
                final = ch["confidence"]
    assert text == whole["text"] and final is not None
    assert spans == whole["confidence"]["low_confidence_spans"]


@pytest.mark.parametrize("value", ["yes", 1, 0, [], {}, "true"])
@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions"])
@pytest.mark.parametrize("stream", [False, True])
def test_bad_values_are_400(server, path, value, stream):
    body = {"model": "default", "max_tokens": 2, "confidence": value, "stream": stream}
    body.update({"prompt": "Hi"} if path == "/v1/completions" else {"messages": CHAT})
    status, headers, data = server.request("POST", path, body)
    err = assert_error(data, headers, status, 400, "invalid_request_error", "confidence")
    assert "boolean" in err["message"]


def test_null_is_absent(server):
    status, _, data = server.request("POST", "/v1/completions", {"model": "default", "prompt": "Hi", "max_tokens": 2,
                                                                "confidence": None})
    assert status == 200 and "confidence" not in data["choices"][0]


def test_stop_sequence_cuts_spans_to_the_text(server):
    c = completion(server, prompt="1, 2, 3, 4, 5,", max_tokens=20, stop=[" 9"], confidence=True, logprobs=0)["choices"][0]
    assert c["finish_reason"] == "stop"
    n = u16(c["text"])
    for s in c["confidence"]["low_confidence_spans"]:
        assert s["end"] <= n
    # Tokens measured are those `logprobs` lists (not those that only wrote the stop sequence), as documented.
    assert c["confidence"]["tokens"] == len(c["logprobs"]["token_logprobs"])
    status, _, text = raw_post(server, "/v1/completions", {"model": "default", "prompt": "Hi", "max_tokens": 1,
                                                           "confidence": True})
    assert status == 200 and json.loads(text)["choices"][0]["confidence"]["tokens"] == 1
