"""Structured outputs through the API: response_format (json_schema, json_object), the
llama-server and vLLM aliases, and 400s naming the field. Every constrained answer must parse
and validate, at temperature 0 and 1."""
import json
from decimal import Decimal

import jsonschema
import pytest
from pydantic import BaseModel, Field

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 20},
                   "age": {"type": "integer", "minimum": 0, "maximum": 120}},
    "required": ["name", "age"],
    "additionalProperties": False,
}

# Every keyword the issue lists, spread over a few schemas (small enough for a 135M model).
SCHEMAS = [
    PERSON,
    {"type": "object", "properties": {
        "colour": {"enum": ["red", "green", "blue"]}, "kind": {"const": "paint"},
        "price": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
        "ok": {"type": "boolean"}, "none": {"type": "null"}},
        "required": ["colour", "kind", "price", "ok", "none"], "additionalProperties": False},
    {"type": "object", "properties": {
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "minItems": 1, "maxItems": 3},
        "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string", "pattern": "^[a-z]{1,6}$"}],
                 "items": False, "minItems": 2}},
        "required": ["tags", "pair"], "additionalProperties": False},
    {"type": "object", "properties": {
        "when": {"type": "string", "format": "date"}, "at": {"type": "string", "format": "date-time"},
        "t": {"type": "string", "format": "time"}, "id": {"type": "string", "format": "uuid"},
        "mail": {"type": "string", "format": "email"}, "ip": {"type": "string", "format": "ipv4"}},
        "required": ["when", "at", "t", "id", "mail", "ip"], "additionalProperties": False},
    # multipleOf (steps exact in binary: jsonschema divides floats) and the rest of OpenAI's formats.
    {"type": "object", "properties": {
        "price": {"type": "number", "multipleOf": 0.25, "minimum": 0}, "qty": {"type": "integer", "multipleOf": 6,
                                                                             "minimum": 6, "maximum": 48},
        "host": {"type": "string", "format": "hostname"}, "addr": {"type": "string", "format": "ipv6"},
        "ttl": {"type": "string", "format": "duration"}},
        "required": ["price", "qty", "host", "addr", "ttl"], "additionalProperties": False},
    {"$defs": {"node": {"type": "object", "properties": {
        "v": {"type": "integer", "minimum": -5, "maximum": 5},
        "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
        "required": ["v"], "additionalProperties": False}},
     "type": "object", "properties": {
        "root": {"$ref": "#/$defs/node"},
        "u": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
        "o": {"oneOf": [{"type": "integer"}, {"type": "boolean"}]},
        "both": {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                           {"properties": {"b": {"type": "string", "maxLength": 4}}, "required": ["b"]}]},
        "extra": {"type": "object", "properties": {"k": {"type": "integer"}}, "additionalProperties": {"type": "boolean"}}},
     "required": ["root", "u", "o", "both", "extra"], "additionalProperties": False},
]


def validator(schema):
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("temperature", [0, 1])
@pytest.mark.parametrize("index", range(len(SCHEMAS)))
def test_json_schema_answers_validate(client, index, temperature):
    schema = SCHEMAS[index]
    for seed in range(3 if temperature else 1):
        r = client.chat.completions.create(
            model="default", temperature=temperature, seed=seed, max_tokens=300,
            messages=[{"role": "user", "content": "Give an example JSON object."}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}})
        c = r.choices[0]
        if c.finish_reason == "length":
            continue  # cut by max_tokens: valid only as a prefix, as documented
        assert c.finish_reason == "stop"
        validator(schema).validate(json.loads(c.message.content))


def test_json_schema_answers_validate_on_qwen(qwen_client):
    """Every schema at temperature 0 and 1 on Qwen2.5-Coder-1.5B (152K vocabulary, another
    tokenizer family), sent together so the constrained sequences share batches."""
    from concurrent.futures import ThreadPoolExecutor

    def ask(case):
        index, temperature = case
        return case, qwen_client.chat.completions.create(
            model="qwen2.5-coder-1.5b", temperature=temperature, seed=index, max_tokens=300,
            messages=[{"role": "user", "content": "Give an example JSON object."}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMAS[index], "strict": True}})

    cases = [(i, t) for i in range(len(SCHEMAS)) for t in (0, 1)]
    with ThreadPoolExecutor(len(cases)) as pool:
        answers = list(pool.map(ask, cases))
    stopped = 0
    for (index, temperature), r in answers:
        c = r.choices[0]
        if c.finish_reason == "length":
            continue  # cut by max_tokens: valid only as a prefix, as documented
        assert c.finish_reason == "stop", (index, temperature, c.finish_reason)
        validator(SCHEMAS[index]).validate(json.loads(c.message.content))
        stopped += 1
    assert stopped >= len(cases) - 2, f"only {stopped} of {len(cases)} answers ended before max_tokens"


class Person(BaseModel):
    name: str
    age: int


def test_openai_parse_returns_pydantic_object(client):
    r = client.beta.chat.completions.parse(
        model="default", temperature=0, max_tokens=100,
        messages=[{"role": "user", "content": "Describe a person as JSON."}], response_format=Person)
    p = r.choices[0].message.parsed
    assert isinstance(p, Person)


class Offer(BaseModel):
    item: str
    price: Decimal  # anyOf number or a string whose pattern has a lookahead
    quantity: int = Field(multiple_of=6, ge=6, le=48)


def test_openai_parse_with_decimal_and_multiple_of_fields(client):
    """Pydantic's Decimal field is `anyOf` a number and a string with a lookahead pattern (a 400
    before: the string alternative is left out now) and `multiple_of` is JSON Schema's `multipleOf`."""
    r = client.beta.chat.completions.parse(
        model="default", temperature=0, max_tokens=100,
        messages=[{"role": "user", "content": "Describe an offer as JSON."}], response_format=Offer)
    assert r.choices[0].finish_reason == "stop"
    o = r.choices[0].message.parsed
    assert isinstance(o, Offer) and o.quantity % 6 == 0 and 6 <= o.quantity <= 48
    assert isinstance(json.loads(r.choices[0].message.content)["price"], (int, float))


@pytest.mark.parametrize("temperature", [0, 1])
def test_json_object_always_parses(client, temperature):
    for seed in range(4):
        r = client.chat.completions.create(
            model="default", temperature=temperature, seed=seed, max_tokens=200,
            messages=[{"role": "user", "content": "Reply in JSON."}], response_format={"type": "json_object"})
        c = r.choices[0]
        if c.finish_reason == "stop":
            assert isinstance(json.loads(c.message.content), dict)


def test_schema_numbers_are_kept_as_written(server):
    # A schema's numbers reach the grammar as the request wrote them: a 20-digit const was rounded
    # through a Double (1.2345678901234567e+19, another number to jsonschema) and 1.0 became 1.
    schema = {"type": "object", "properties": {"id": {"const": 12345678901234567891}, "r": {"const": 1.0}},
              "required": ["id", "r"], "additionalProperties": False}
    for body in ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}},
                 {"guided_json": schema}):
        st, _, r = server.request("POST", "/v1/chat/completions", {
            "model": "default", "temperature": 0, "max_tokens": 60, "messages": [{"role": "user", "content": "Give the id."}], **body})
        assert st == 200, r
        text = r["choices"][0]["message"]["content"]
        value = json.loads(text)
        validator(schema).validate(value)
        assert value["id"] == 12345678901234567891 and isinstance(value["id"], int), text
        assert '"r": 1.0' in text.replace('"r":1.0', '"r": 1.0'), text


def test_streamed_equals_whole(client):
    args = dict(model="default", temperature=0, max_tokens=120, messages=[{"role": "user", "content": "A person."}],
                response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": PERSON}})
    whole = client.chat.completions.create(**args).choices[0].message.content
    parts = [ch.choices[0].delta.content or "" for ch in client.chat.completions.create(stream=True, **args) if ch.choices]
    assert "".join(parts) == whole
    validator(PERSON).validate(json.loads(whole))


def test_aliases(server):
    base = {"model": "default", "max_tokens": 40, "temperature": 0}
    chat = dict(base, messages=[{"role": "user", "content": "Is the sky blue?"}])
    cases = [
        ({"guided_choice": ["yes", "no"]}, lambda t: t in ("yes", "no")),
        ({"guided_regex": "[0-9]{3}-[a-z]{2}"}, lambda t: len(t) == 6 and t[3] == "-"),
        ({"guided_json": PERSON}, lambda t: validator(PERSON).is_valid(json.loads(t))),
        ({"json_schema": PERSON}, lambda t: validator(PERSON).is_valid(json.loads(t))),
        ({"grammar": 'root ::= "answer: " [a-z]+'}, lambda t: t.startswith("answer: ")),
        ({"guided_grammar": 'root ::= ("ab" | "cd"){2}'}, lambda t: t in ("abab", "abcd", "cdab", "cdcd")),
        # OpenAI's json_schema.schema is optional: without it, any JSON object.
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
         lambda t: isinstance(json.loads(t), dict)),
    ]
    for extra, check in cases:
        for path, body in (("/v1/chat/completions", chat), ("/v1/completions", dict(base, prompt="Q: Is the sky blue?\nA:"))):
            status, _, r = server.request("POST", path, dict(body, **extra))
            assert status == 200, (extra, r)
            c = r["choices"][0]
            text = c["message"]["content"] if "message" in c else c["text"]
            if c["finish_reason"] == "stop":
                assert check(text), (extra, text)


@pytest.mark.parametrize("body,param", [
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "multipleOf": 2}}}},
     "response_format.json_schema.schema"),
    ({"response_format": {"type": "yaml"}}, "response_format.type"),
    ({"response_format": "json"}, "response_format"),
    ({"guided_regex": "a(?=b)"}, "guided_regex"),
    ({"guided_regex": "(a"}, "guided_regex"),
    ({"grammar": "root ::= undefined-rule"}, "grammar"),
    ({"guided_choice": []}, "guided_choice"),
    ({"guided_json": {"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}}}, "guided_json"),
    ({"guided_json": {"type": "string", "format": "uri"}}, "guided_json"),
    ({"guided_json": {"type": "string"}, "guided_regex": "a"}, "guided_regex"),
    # Grammars that match nothing: without the 400 the fully masked row gave token 0.
    ({"guided_regex": "[^\\s\\S]"}, "guided_regex"),
    ({"grammar": "root ::= [^\\x00-\\U0010FFFF]"}, "grammar"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "[^\\s\\S]"}}}},
     "response_format.json_schema.schema"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "const": 5}}}},
     "response_format.json_schema.schema"),
])
def test_bad_inputs_are_400_with_param(server, body, param):
    for path, base in (("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}), ("/v1/completions", {"prompt": "hi"})):
        status, _, r = server.request("POST", path, dict({"model": "default", "max_tokens": 4}, **base, **body))
        assert status == 400, r
        assert r["error"]["param"] == param, r
        assert r["error"]["type"] == "invalid_request_error"


def test_hostile_schema_is_refused_quickly(server):
    deep = {"type": "string"}
    for _ in range(500):
        deep = {"type": "array", "items": deep}
    status, _, r = server.request("POST", "/v1/completions", {"model": "default", "prompt": "x", "guided_json": deep})
    assert status == 400 and r["error"]["param"] == "guided_json"
    status, _, r = server.request("POST", "/v1/completions",
                                  {"model": "default", "prompt": "x", "guided_json": {"type": "string", "maxLength": 50_000_000}})
    assert status == 400 and r["error"]["code"] == "grammar_too_large"
    # The server still answers.
    status, _, _ = server.request("POST", "/v1/completions", {"model": "default", "prompt": "x", "max_tokens": 2})
    assert status == 200


def test_ambiguous_patterns_are_followed(server):
    """Nested repetitions that split a text in many ways once took seconds a mask (minutes an
    answer, GBs held, every other client stalled); the answers must come, inside the pattern."""
    import re
    cases = [("([a-z ]{0,20}[.,]?){0,40}", re.compile(r"[a-z .,]*")),
             (r"(\w*\s*\w*)*", re.compile(r"[\w\s]*", re.ASCII)),
             ("(.*a){20}", re.compile(r"[^\n]*"))]
    for pattern, alphabet in cases:
        for temperature in (0, 1):
            status, _, r = server.request("POST", "/v1/completions", {
                "model": "default", "prompt": "Write something:\n", "max_tokens": 40, "temperature": temperature,
                "seed": 5, "guided_regex": pattern})
            assert status == 200, r
            c = r["choices"][0]
            assert alphabet.fullmatch(c["text"]), (pattern, c["text"])
            if c["finish_reason"] == "stop":
                assert re.fullmatch(pattern, c["text"], re.ASCII), (pattern, c["text"])
    assert server.request("GET", "/health")[0] == 200


@pytest.fixture
def patient_server():
    """A server whose compile budget is 60 s: six concurrent compiles of ~0.5 s each on two loaded
    cores came near the 2 s default (the budget is wall-clock), which this test is not about."""
    from conftest import Server
    s = Server(env={"JETON_GRAMMAR_COMPILE_TIMEOUT_MS": "60000"})
    yield s
    s.stop()


def test_schemas_compiling_hold_up_no_other_request(patient_server):
    """A schema's grammar is compiled off the HTTP event loops and off the threads that carry
    tokens out: /health answers and a stream goes on while several heavy ones compile. (/health
    waited for them, one loop per core; then, on the tokens' threads, the stream stopped for
    about as long as the quickest of them.)"""
    import threading
    import time
    import urllib.request
    server = patient_server
    took, arrivals, run = [], [], f"{time.monotonic()}"

    def heavy(i):
        # ~0.5 s of compiling each alone (a title new to this run: no cache), under the grammar's 64 KiB.
        schema = {"title": f"heavy {run} {i}", "type": "object", "required": [f"d{k}" for k in range(1100)],
                  "properties": {f"d{k}": {"type": "string", "format": "date-time"} for k in range(1100)}}
        t = time.monotonic()
        st, _, d = server.request("POST", "/v1/chat/completions", {"model": "default", "max_tokens": 1, "messages": [
            {"role": "user", "content": "Fill it in."}], "response_format": {"type": "json_schema",
                                                                            "json_schema": {"name": "h", "schema": schema}}})
        assert st == 200, d
        took.append(time.monotonic() - t)

    def stream():
        body = json.dumps({"model": "default", "prompt": "Once upon a time", "max_tokens": 400, "ignore_eos": True,
                           "temperature": 0, "stream": True}).encode()
        req = urllib.request.Request(server.base + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            for line in r:
                if line.startswith(b"data: {"):
                    arrivals.append(time.monotonic())
    reader = threading.Thread(target=stream)
    reader.start()
    while len(arrivals) < 5:
        threading.Event().wait(0.02)
    threads = [threading.Thread(target=heavy, args=(i,)) for i in range(6)]
    start = time.monotonic()
    for t in threads:
        t.start()
    threading.Event().wait(0.1)  # the requests are in
    t = time.monotonic()
    with urllib.request.urlopen(server.base + "/health", timeout=60) as r:
        assert r.status == 200
    health = time.monotonic() - t
    for t in threads:
        t.join()
    end = time.monotonic()
    reader.join()
    # Relative, in one run: six compiles on two cores take several times one /health, and several
    # times the stream's longest gap between tokens while they ran.
    during = [b - a for a, b in zip(arrivals, arrivals[1:]) if b > start and a < end]
    assert len(took) == 6 and health < min(took) / 3, (health, took)
    assert during and max(during) < min(took) / 2, (max(during), took)
