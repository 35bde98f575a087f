"""/v1/models, /health, /tokenize and /detokenize."""
import json
import os

import pytest

from conftest import ROOT

FIXTURE = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures", "tokenize.jsonl")
if not os.path.exists(FIXTURE):
    FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "tokenize.jsonl")
CASES = [json.loads(l) for l in open(FIXTURE) if l.strip()]


def test_health(server):
    st, h, d = server.request("GET", "/health")
    assert st == 200 and d["status"] == "ok"
    # Each served model: here the one, loaded.
    (m,) = d["models"]
    assert m["state"] == "ready" and m["kind"] == "generation" and m["path"] == "default"
    assert m["id"] == server.request("GET", "/v1/models")[2]["data"][0]["id"]


def test_models_list_and_get(client, server):
    models = client.models.list()
    assert models.object == "list"
    assert len(models.data) == 1
    m = models.data[0]
    assert m.object == "model" and m.id and isinstance(m.created, int) and m.owned_by
    assert client.models.retrieve(m.id).id == m.id
    st, _, d = server.request("GET", "/v1/models/default")
    assert st == 200 and d["id"] == m.id and d["object"] == "model"
    st, _, d = server.request("GET", "/v1/models")
    assert set(d) >= {"object", "data"} and set(d["data"][0]) >= {"id", "object", "created", "owned_by"}
    assert d["data"][0]["kind"] == "generation"  # Jeton's extension field
    # the id the server reports is accepted as `model` too
    st, _, r = server.request("POST", "/v1/completions", {"model": m.id, "prompt": "Hi", "max_tokens": 1})
    assert st == 200 and r["model"] == m.id
    # so is the catalog name the server was started with (`jeton serve --model NAME`)
    st, _, r = server.request("POST", "/v1/completions", {"model": "smollm2-135m-instruct", "prompt": "Hi", "max_tokens": 1})
    assert st == 200 and r["model"] == m.id


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_tokenize_detokenize_round_trip(server, case):
    st, _, d = server.request("POST", "/tokenize", {"content": case["text"]})
    assert st == 200 and d["tokens"] == case["ids"], case["text"]
    st, _, d = server.request("POST", "/tokenize", {"model": "default", "prompt": case["text"]})
    assert st == 200 and d["tokens"] == case["ids"] and d["count"] == len(case["ids"]) and d["max_model_len"] == 8192
    st, _, d = server.request("POST", "/detokenize", {"tokens": case["ids"]})
    assert st == 200 and d["content"] == case["text"]


def test_parse_special_is_honoured_in_both_shapes(server):
    # `<|im_end|>` is one special token, or its 7 characters' tokens when special tokens are not parsed.
    for body in ({"content": "<|im_end|>"}, {"prompt": "<|im_end|>", "add_special_tokens": False}):
        st, _, special = server.request("POST", "/tokenize", body)
        st2, _, literal = server.request("POST", "/tokenize", {**body, "parse_special": False})
        assert st == st2 == 200
        assert len(special["tokens"]) == 1 and len(literal["tokens"]) > 1, (body, special, literal)


def test_tokenize_with_pieces(server):
    st, _, d = server.request("POST", "/tokenize", {"content": "Hello world", "with_pieces": True})
    assert st == 200
    assert d["tokens"] == [{"id": 19556, "piece": "Hello"}, {"id": 905, "piece": " world"}]
    # A piece holding part of a character is its bytes, as llama-server gives it (llama.cpp's
    # tools/server README: "a string if the piece is valid unicode or a list of bytes otherwise").
    st, _, d = server.request("POST", "/tokenize", {"content": "👩 ok", "with_pieces": True})
    pieces = [t["piece"] for t in d["tokens"]]
    assert any(isinstance(p, list) for p in pieces), pieces
    joined = b"".join(bytes(p) if isinstance(p, list) else p.encode() for p in pieces)
    assert joined == "👩 ok".encode(), (pieces, joined)


def test_tokenize_messages_matches_template(server):
    msgs = [{"role": "user", "content": "Hi"}]
    st, _, d = server.request("POST", "/tokenize", {"messages": msgs})
    assert st == 200 and d["count"] == len(d["tokens"]) > 3
    st, _, text = server.request("POST", "/detokenize", {"tokens": d["tokens"]})
    assert "Hi" in text["content"] and text["content"].rstrip().endswith("assistant")
