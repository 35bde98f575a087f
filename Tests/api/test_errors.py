"""Invalid requests: status, OpenAI error envelope, `type`, `param` — and the server stays healthy."""
import re

import pytest

from conftest import CHAT, PROMPT, assert_error, assert_healthy, tokenize

C = "/v1/completions"
CH = "/v1/chat/completions"
BAD = "invalid_request_error"


def comp(**kw):
    b = {"model": "default", "prompt": PROMPT, "max_tokens": 2}
    b.update(kw)
    return {k: v for k, v in b.items() if v is not ...}


def chat(**kw):
    b = {"model": "default", "messages": CHAT, "max_tokens": 2}
    b.update(kw)
    return {k: v for k, v in b.items() if v is not ...}


def user(content):
    return chat(messages=[{"role": "user", "content": content}])


# (name, method, path, body (dict/list) or raw bytes, headers, status, type, param, code)
CASES = [
    ("invalid json", "POST", C, b'{"model": "default", "prompt": ', None, 400, BAD, None, None),
    ("body is an array", "POST", C, [1, 2, 3], None, 400, BAD, None, None),
    ("body is a string", "POST", CH, "hello", None, 400, BAD, None, None),
    ("empty body", "POST", C, b"", None, 400, BAD, None, None),
    ("model not a string", "POST", C, comp(model=7), None, 400, BAD, "model", None),
    ("unknown model", "POST", C, comp(model="gpt-9"), None, 404, BAD, "model", "model_not_found"),
    ("unknown model (chat)", "POST", CH, chat(model="gpt-9"), None, 404, BAD, "model", "model_not_found"),
    ("missing prompt", "POST", C, comp(prompt=...), None, 400, BAD, "prompt", None),
    ("empty prompt array", "POST", C, comp(prompt=[]), None, 400, BAD, "prompt", None),
    ("prompt of mixed types", "POST", C, comp(prompt=[1, "a"]), None, 400, BAD, "prompt", None),
    ("prompt is an object", "POST", C, comp(prompt={"text": "hi"}), None, 400, BAD, "prompt", None),
    ("negative token id", "POST", C, comp(prompt=[-1, 5]), None, 400, BAD, "prompt", None),
    ("token id out of vocabulary", "POST", C, comp(prompt=[504, 49152]), None, 400, BAD, "prompt", None),
    ("missing messages", "POST", CH, chat(messages=...), None, 400, BAD, "messages", None),
    ("max_tokens ten", "POST", C, comp(max_tokens="ten"), None, 400, BAD, "max_tokens", None),
    ("max_tokens negative", "POST", C, comp(max_tokens=-5), None, 400, BAD, "max_tokens", None),
    ("max_tokens fractional", "POST", CH, chat(max_tokens=2.5), None, 400, BAD, "max_tokens", None),
    ("max_completion_tokens ten", "POST", CH, chat(max_completion_tokens="ten"), None, 400, BAD, "max_completion_tokens", None),
    ("temperature hot", "POST", C, comp(temperature="hot"), None, 400, BAD, "temperature", None),
    ("temperature 3", "POST", CH, chat(temperature=3), None, 400, BAD, "temperature", None),
    ("stream yes", "POST", C, comp(stream="yes"), None, 400, BAD, "stream", None),
    ("stream yes (chat)", "POST", CH, chat(stream="yes"), None, 400, BAD, "stream", None),
    ("n 0", "POST", C, comp(n=0), None, 400, BAD, "n", None),
    ("n 100", "POST", CH, chat(n=100), None, 400, BAD, "n", None),
    ("top_p 2", "POST", C, comp(top_p=2), None, 400, BAD, "top_p", None),
    ("presence_penalty 5", "POST", CH, chat(presence_penalty=5), None, 400, BAD, "presence_penalty", None),
    ("frequency_penalty -3", "POST", C, comp(frequency_penalty=-3), None, 400, BAD, "frequency_penalty", None),
    ("logprobs 21", "POST", C, comp(logprobs=21), None, 400, BAD, "logprobs", None),
    ("logprobs -1", "POST", C, comp(logprobs=-1), None, 400, BAD, "logprobs", None),
    ("chat logprobs not a bool", "POST", CH, chat(logprobs=3), None, 400, BAD, "logprobs", None),
    ("chat top_logprobs 21", "POST", CH, chat(logprobs=True, top_logprobs=21), None, 400, BAD, "top_logprobs", None),
    ("top_logprobs without logprobs", "POST", CH, chat(top_logprobs=2), None, 400, BAD, "top_logprobs", None),
    ("stop with 5 entries", "POST", C, comp(stop=["a", "b", "c", "d", "e"]), None, 400, BAD, "stop", None),
    ("stop of wrong type", "POST", CH, chat(stop=42), None, 400, BAD, "stop", None),
    ("stop array of numbers", "POST", C, comp(stop=[1, 2]), None, 400, BAD, "stop", None),
    ("logit_bias bad key", "POST", C, comp(logit_bias={"abc": 1}), None, 400, BAD, "logit_bias", None),
    ("logit_bias bad value", "POST", CH, chat(logit_bias={"42": 200}), None, 400, BAD, "logit_bias", None),
    ("logit_bias value not a number", "POST", C, comp(logit_bias={"42": "up"}), None, 400, BAD, "logit_bias", None),
    ("logit_bias token out of vocabulary", "POST", C, comp(logit_bias={"49152": 5}), None, 400, BAD, "logit_bias", None),
    ("logit_bias key with a sign", "POST", C, comp(logit_bias={"+12": 5}), None, 400, BAD, "logit_bias", None),
    ("logit_bias key with a leading zero", "POST", C, comp(logit_bias={"7042": -100, "07042": 100}), None, 400, BAD,
     "logit_bias", None),
    ("logit_bias not an object", "POST", C, comp(logit_bias=[1, 2]), None, 400, BAD, "logit_bias", None),
    ("seed a string", "POST", C, comp(seed="x"), None, 400, BAD, "seed", None),
    ("stream_options without stream", "POST", CH, chat(stream_options={"include_usage": True}), None, 400, BAD, "stream_options", None),
    ("stream_options unknown key", "POST", CH, chat(stream=True, stream_options={"foo": 1}), None, 400, BAD,
     "stream_options.foo", "unknown_parameter"),
    ("stream_options continuous usage", "POST", C, comp(stream=True, stream_options={"continuous_usage_stats": True}),
     None, 400, BAD, "stream_options.continuous_usage_stats", None),
    ("content an empty array", "POST", CH, user([]), None, 400, BAD, "messages[0].content", None),
    ("message name not a string", "POST", CH, chat(messages=[{"role": "user", "content": "hi", "name": 5}]), None, 400,
     BAD, "messages[0].name", None),
    ("schema a plain string", "POST", CH, chat(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": "hello"}}),
     None, 400, BAD, "response_format.json_schema.schema", None),
    ("messages empty", "POST", CH, chat(messages=[]), None, 400, BAD, "messages", None),
    ("messages not an array", "POST", CH, chat(messages="hi"), None, 400, BAD, "messages", None),
    ("message not an object", "POST", CH, chat(messages=["hi"]), None, 400, BAD, "messages[0]", None),
    ("message without role", "POST", CH, chat(messages=[{"content": "hi"}]), None, 400, BAD, "messages[0].role", None),
    ("bad role", "POST", CH, chat(messages=[{"role": "user", "content": "a"}, {"role": "wizard", "content": "hi"}]),
     None, 400, BAD, "messages[1].role", None),
    ("content of wrong type", "POST", CH, user(42), None, 400, BAD, "messages[0].content", None),
    ("user content missing", "POST", CH, chat(messages=[{"role": "user"}]), None, 400, BAD, "messages[0].content", None),
    ("image content part", "POST", CH,
     user([{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]),
     None, 400, BAD, "messages[0].content[1]", None),
    ("tools", "POST", CH, chat(tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]),
     None, 400, BAD, "tools", None),
    ("response_format of unknown type", "POST", CH, chat(response_format={"type": "yaml"}), None, 400, BAD,
     "response_format.type", None),
    ("unknown key in response_format", "POST", CH, chat(response_format={"type": "json_object", "extra": 1}), None, 400,
     BAD, "response_format.extra", "unknown_parameter"),
    ("misspelt key in json_schema", "POST", CH,
     chat(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}, "stirct": True}}),
     None, 400, BAD, "response_format.json_schema.stirct", "unknown_parameter"),
    ("json_schema name", "POST", CH,
     chat(response_format={"type": "json_schema", "json_schema": {"name": "bad name!", "schema": {"type": "object"}}}),
     None, 400, BAD, "response_format.json_schema.name", None),
    ("suffix without fill-in-the-middle tokens", "POST", C, comp(suffix="the end"), None, 400, BAD, "suffix",
     "fim_not_supported"),
    ("best_of 3", "POST", C, comp(best_of=3), None, 400, BAD, "best_of", None),
    ("best_of under n", "POST", C, comp(best_of=1, n=2), None, 400, BAD, "best_of", None),
    ("prompt_cache_retention unknown", "POST", CH, chat(prompt_cache_retention="forever"), None, 400, BAD,
     "prompt_cache_retention", None),
    ("stream_options include_usage a string", "POST", C, comp(stream=True, stream_options={"include_usage": "yes"}),
     None, 400, BAD, "stream_options.include_usage", None),
    ("stream_options include_obfuscation a string", "POST", CH, chat(stream=True, stream_options={"include_obfuscation": "no"}),
     None, 400, BAD, "stream_options.include_obfuscation", None),
    ("context exceeded", "POST", C, comp(max_tokens=8192), None, 400, BAD, "max_tokens", "context_length_exceeded"),
    ("context exceeded, streamed", "POST", C, comp(max_tokens=8192, stream=True), None, 400, BAD, "max_tokens",
     "context_length_exceeded"),
    ("context exceeded, chat streamed", "POST", CH, chat(max_tokens=8190, stream=True), None, 400, BAD, "max_tokens",
     "context_length_exceeded"),
    # A prompt that alone fills the 8,192-token context names the prompt, not max_tokens.
    ("prompt over the context", "POST", C, comp(prompt="hello " * 9000), None, 400, BAD, "prompt",
     "context_length_exceeded"),
    ("messages over the context", "POST", CH, chat(messages=[{"role": "user", "content": "hello " * 9000}]), None, 400,
     BAD, "messages", "context_length_exceeded"),
    ("messages over the context, streamed", "POST", CH,
     chat(messages=[{"role": "user", "content": "hello " * 9000}], stream=True), None, 400, BAD, "messages",
     "context_length_exceeded"),
    # A field nobody reads is a 400 as OpenAI's "Unrecognized request argument" (a typo would pass
    # unnoticed); fields of one endpoint are unknown to the other.
    ("misspelt field", "POST", C, comp(temprature=0), None, 400, BAD, "temprature", "unknown_parameter"),
    ("chat echo", "POST", CH, chat(echo=True), None, 400, BAD, "echo", "unknown_parameter"),
    ("completions tools", "POST", C, comp(tools=[{"type": "function", "function": {"name": "f"}}], tool_choice="required"),
     None, 400, BAD, "tools", "unknown_parameter"),
    ("store true", "POST", CH, chat(store=True), None, 400, BAD, "store", None),
    ("web search", "POST", CH, chat(web_search_options={}), None, 400, BAD, "web_search_options", None),
    ("reasoning effort", "POST", CH, chat(reasoning_effort="low"), None, 400, BAD, "reasoning_effort", None),
    ("chat_template_kwargs not an object", "POST", CH, chat(chat_template_kwargs=[1]), None, 400, BAD,
     "chat_template_kwargs", None),
    ("text/plain", "POST", C, comp(), {"Content-Type": "text/plain"}, 415, BAD, None, None),
    # The fields read and ignored keep OpenAI's types and bounds (found by helper-118: all were 200).
    ("metadata a number", "POST", CH, chat(metadata=5), None, 400, BAD, "metadata", None),
    ("metadata value a number", "POST", C, comp(metadata={"k": 1}), None, 400, BAD, "metadata", None),
    ("metadata of 17 pairs", "POST", CH, chat(metadata={f"k{i}": "v" for i in range(17)}), None, 400, BAD, "metadata", None),
    ("service_tier a list", "POST", CH, chat(service_tier=[]), None, 400, BAD, "service_tier", None),
    ("service_tier unknown", "POST", C, comp(service_tier="fastest"), None, 400, BAD, "service_tier", None),
    ("prompt_cache_key an object", "POST", CH, chat(prompt_cache_key={}), None, 400, BAD, "prompt_cache_key", None),
    ("safety_identifier a bool", "POST", C, comp(safety_identifier=True), None, 400, BAD, "safety_identifier", None),
    ("cache_prompt a string", "POST", C, comp(cache_prompt="yes"), None, 400, BAD, "cache_prompt", None),
    ("modalities audio", "POST", CH, chat(modalities=["text", "audio"]), None, 400, BAD, "modalities", None),
    ("modalities a string", "POST", CH, chat(modalities="text"), None, 400, BAD, "modalities", None),
    ("modalities empty", "POST", CH, chat(modalities=[]), None, 400, BAD, "modalities", None),
    ("modalities image", "POST", CH, chat(modalities=["image"]), None, 400, BAD, "modalities", None),
    ("metadata key of 65 characters", "POST", CH, chat(metadata={"k" * 65: "v"}), None, 400, BAD, "metadata", None),
    ("metadata value of 513 characters", "POST", C, comp(metadata={"k": "v" * 513}), None, 400, BAD, "metadata", None),
    ("skip_special_tokens a string", "POST", CH, chat(skip_special_tokens="no"), None, 400, BAD, "skip_special_tokens", None),
    ("unknown path", "GET", "/v1/nothing-here", None, None, 404, BAD, None, None),
    ("unknown path POST", "POST", "/v2/completions", comp(), None, 404, BAD, None, None),
    ("GET on a POST route", "GET", C, None, None, 405, BAD, None, None),
    ("GET on chat route", "GET", CH, None, None, 405, BAD, None, None),
    # A method the server does not recognize is not implemented for any resource (RFC 9110
    # §15.6.2); a standard one no route answers is the route's 405 (the SDKs retry a 5xx).
    ("unknown method", "BREW", C, None, None, 501, "server_error", None, "method_not_implemented"),
    ("DELETE a model", "DELETE", "/v1/models/default", None, None, 405, BAD, None, "method_not_allowed"),
    ("unknown model id", "GET", "/v1/models/gpt-9", None, None, 404, BAD, "model", "model_not_found"),
    ("detokenize out of vocabulary", "POST", "/detokenize", {"tokens": [49152]}, None, 400, BAD, "tokens", None),
    ("tokenize nothing", "POST", "/tokenize", {"foo": 1}, None, 400, BAD, "content", None),
    # One text field: with two, the server would tokenize one the client may not have meant.
    ("tokenize content and prompt", "POST", "/tokenize", {"content": "a", "prompt": "b"}, None, 400, BAD, "prompt", None),
    ("tokenize prompt and messages", "POST", "/tokenize", {"prompt": "a", "messages": [{"role": "user", "content": "b"}]},
     None, 400, BAD, "messages", None),
    ("tokenize special switches disagree", "POST", "/tokenize", {"content": "a", "add_special": True,
                                                                "add_special_tokens": False}, None, 400, BAD, "add_special_tokens", None),
    ("tokenize add_special not a boolean", "POST", "/tokenize", {"prompt": "a", "add_special": "yes"}, None, 400, BAD, "add_special", None),
    ("tokenize parse_special not a boolean", "POST", "/tokenize", {"messages": [{"role": "user", "content": "b"}],
                                                                  "parse_special": 1}, None, 400, BAD, "parse_special", None),
]


def test_table_is_large_enough():
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_invalid_request(server, case):
    name, method, path, body, headers, status, typ, param, code = case
    if isinstance(body, bytes):
        got = server.request(method, path, raw=body, headers=headers)
    else:
        got = server.request(method, path, body, headers=headers)
    st, hdrs, data = got
    assert_error(data, hdrs, st, status, typ, param, code)
    assert_healthy(server)


def test_context_exceeded_names_both_numbers(server):
    n = tokenize(server, prompt=PROMPT)["count"]
    for stream in (False, True):
        st, hdrs, data = server.request("POST", C, comp(max_tokens=8190, stream=stream))
        err = assert_error(data, hdrs, st, 400, BAD, "max_tokens", "context_length_exceeded")
        assert not hdrs.get("Content-Type", "").startswith("text/event-stream")
        assert re.search(rf"\b{n}\b", err["message"]) and "8190" in err["message"] and "8192" in err["message"], err["message"]



def test_huge_integers_get_the_range_message(server):
    for v in (2**63 - 1, 2**63, 10**30):
        st, hdrs, data = server.request("POST", C, comp(max_tokens=v))
        err = assert_error(data, hdrs, st, 400, BAD, "max_tokens", None)
        assert "at least 0 and at most" in err["message"], err["message"]  # completions take max_tokens 0 (prompt scoring)
    # A whole number told back as digits, not "9007199254740992.0".
    st, hdrs, data = server.request("POST", C, comp(max_tokens=2**53))
    err = assert_error(data, hdrs, st, 400, BAD, "max_tokens", None)
    assert "got 9007199254740992." in err["message"] and ".0" not in err["message"], err["message"]


def test_json_with_charset_and_no_content_type_are_accepted(server):
    st, _, r = server.request("POST", C, comp(max_tokens=1), headers={"Content-Type": "application/json; charset=utf-8"})
    assert st == 200 and r["object"] == "text_completion"
    for media in ("text/json", "application/vnd.api+json"):
        st, _, r = server.request("POST", C, comp(max_tokens=1), headers={"Content-Type": media})
        assert st == 200 and r["object"] == "text_completion", media
    # What `curl -d` sends without -H is refused, saying how to send JSON.
    st, _, r = server.request("POST", C, comp(max_tokens=1), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 415 and "-H 'Content-Type: application/json'" in r["error"]["message"], r
    st, _, r = server.request("POST", C, raw=b'{"model": "default", "prompt": "Hi", "max_tokens": 1}',
                              headers={"Content-Type": "Application/JSON"})
    assert st == 200, r


def test_broken_and_too_deep_bodies_say_which(server):
    st, _, r = server.request("POST", C, raw=b'{"model": "default", "prompt": "Hi",}')
    assert st == 400 and r["error"]["code"] == "invalid_json" and "at byte" in r["error"]["message"], r
    deep = b'{"model": "default", "prompt": "Hi", "guided_json": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    st, _, r = server.request("POST", C, raw=deep)
    assert st == 400 and r["error"]["code"] == "invalid_json" and "nested more than" in r["error"]["message"], r


def test_bookkeeping_fields_are_accepted(server):
    # They cannot change an answer: OpenAI's metadata, store false, service_tier, safety_identifier,
    # prompt_cache_key, llama-server's cache_prompt; a null value of any field is as if absent.
    extra = dict(metadata={"k": "v"}, store=False, service_tier="auto", safety_identifier="u1", prompt_cache_key="k",
                 prompt_cache_retention="24h", cache_prompt=True, some_future_field=None)
    for path, body in [(C, comp(**extra)), (CH, chat(**extra)), (CH, chat(modalities=["text"], service_tier="flex")),
                       (CH, chat(prompt_cache_retention="in_memory")), (C, comp(best_of=2, n=2))]:
        st, _, r = server.request("POST", path, body)
        assert st == 200, (path, r)


def test_two_content_type_fields_are_refused(server):
    # RFC 9110 5.3: a singleton field. The first used to win, so the order of two decided 200 or 415.
    import socket
    body = b'{"model": "default", "prompt": "Hi", "max_tokens": 1}'

    def post(first, second):
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as s:
            s.sendall((f"POST {C} HTTP/1.1\r\nHost: x\r\nContent-Type: {first}\r\nContent-Type: {second}\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.partition(b"\r\n\r\n")[::2]

    for first, second in [("application/json", "text/plain"), ("text/plain", "application/json")]:
        head, payload = post(first, second)
        assert head.startswith(b"HTTP/1.1 400"), head[:80]
        assert b"Content-Type header fields" in payload and b'"invalid_request_error"' in payload, payload[:300]
    # The same value twice (`curl -H` given twice) is one value.
    head, payload = post("application/json", "application/json")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    assert_healthy(server)


def test_any_64_bit_seed_is_taken_and_reproduces(server):
    # Clients draw 63-bit seeds; OpenAI takes any int64. The same seed gives the same text.
    for seed in (2**53 - 1, 10**16, 2**62, 2**63 - 1, -2**63, 2**64 - 1):
        body = comp(seed=seed, temperature=1.0, max_tokens=6)
        (st1, _, a), (st2, _, b) = server.request("POST", C, body), server.request("POST", C, body)
        assert st1 == st2 == 200, (seed, a)
        assert a["choices"][0]["text"] == b["choices"][0]["text"], seed
    # Seeds past 2^53 still differ from one another (not all mapped to one value).
    texts = {server.request("POST", C, comp(seed=s, temperature=1.5, max_tokens=12))[2]["choices"][0]["text"]
             for s in (1, 2**62, 2**63 - 1, -2**63, 2**64 - 1)}
    assert len(texts) >= 4, texts
    # Read from the number's text: seeds one apart past 2^53 are seeds of their own (one double before).
    near = {server.request("POST", C, comp(seed=s, temperature=1.5, max_tokens=12))[2]["choices"][0]["text"]
            for s in (2**60 + 1, 2**60 + 2, 2**60 + 3)}
    assert len(near) >= 2, near
    # -1 is no seed (llama-server's and vLLM's); a whole number written with a point counts.
    for ok in (-1, 5.0):
        st, _, r = server.request("POST", C, comp(seed=ok, max_tokens=2))
        assert st == 200, (ok, r)
    for bad in (2**65, 2**64, 1.5, -2**63 - 1, -2**63 - 2**11):
        st, _, e = server.request("POST", C, comp(seed=bad))
        assert st == 400 and e["error"]["param"] == "seed", (bad, e)


def test_a_cache_smaller_than_the_context_is_the_limit_named():
    # Found by a user's test: with a cache smaller than the context, a huge max_tokens was told the
    # model's context (8192 here) while /v1/models said max_model_len was the cache's size.
    from conftest import Server
    s = Server(extra=["--cache-tokens", "1024"])
    try:
        st, _, models = s.request("GET", "/v1/models", None)
        assert st == 200 and models["data"][0]["max_model_len"] == 1024
        for max_tokens, stream in [(2000, False), (100000, False), (100000, True)]:
            st, _, e = s.request("POST", C, comp(max_tokens=max_tokens, stream=stream))
            assert st == 400 and e["error"]["code"] == "context_length_exceeded", e
            assert "1024" in e["error"]["message"] and "8192" not in e["error"]["message"], e
    finally:
        s.stop()
