"""POST /v1/embeddings with the official openai client, on `jeton serve --model nomic-embed-text-v1.5`
(skipped when the model is not pulled: `jeton pull nomic-embed-text-v1.5`)."""
import base64
import json
import os

import numpy as np
import openai
import pytest

from conftest import ROOT, Server

MODEL = "nomic-embed-text-v1.5"
MODELS = os.environ.get("JETON_MODELS", os.path.expanduser("~/.cache/jeton/models"))
FIXTURE = os.path.join(ROOT, "Tests", "ModelTests", "Fixtures", "nomic", "llama_cpp_embeddings.jsonl")


@pytest.fixture(scope="module")
def embed_server():
    if not os.path.exists(os.path.join(MODELS, "nomic-embed-text-v1.5.f16.gguf")):
        pytest.skip("nomic-embed-text-v1.5 not downloaded (jeton pull nomic-embed-text-v1.5)")
    # A short context keeps the too-long and truncation checks quick (the full 2048 is checked in ModelTests).
    s = Server(model=MODEL, extra=["--context-length", "256"])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def eclient(embed_server):
    return openai.OpenAI(base_url=embed_server.base + "/v1", api_key="none", max_retries=0)


def reference():
    rows = [json.loads(l) for l in open(FIXTURE, encoding="utf-8")]
    return {r["text"]: (r["ids"], np.frombuffer(base64.b64decode(r["embedding_f16"]), dtype="<f2").astype(np.float64))
            for r in rows if len(r["ids"]) <= 64}


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_every_input_form_gives_llama_cpp_vectors(eclient, embed_server):
    ref = reference()
    texts = list(ref)[:6]
    one = eclient.embeddings.create(model=MODEL, input=texts[0])
    assert one.model == eclient.models.list().data[0].id and len(one.data) == 1 and one.data[0].index == 0
    assert one.usage.prompt_tokens == len(ref[texts[0]][0])
    v0 = np.array(one.data[0].embedding)
    assert v0.shape == (768,) and abs(np.linalg.norm(v0) - 1) < 1e-5
    assert cosine(v0, ref[texts[0]][1]) >= 0.9999

    many = eclient.embeddings.create(model=MODEL, input=texts)
    assert [d.index for d in many.data] == list(range(len(texts)))
    assert many.usage.prompt_tokens == sum(len(ref[t][0]) for t in texts)
    for t, d in zip(texts, many.data):
        assert cosine(d.embedding, ref[t][1]) >= 0.9999, t
    # Batched with others or alone: the same floats.
    assert np.allclose(many.data[0].embedding, v0, atol=1e-6)

    ids = eclient.embeddings.create(model=MODEL, input=ref[texts[1]][0])
    assert np.allclose(ids.data[0].embedding, many.data[1].embedding, atol=1e-6)
    id_lists = eclient.embeddings.create(model=MODEL, input=[ref[t][0] for t in texts[:3]])
    for a, b in zip(id_lists.data, many.data[:3]):
        assert np.allclose(a.embedding, b.embedding, atol=1e-6)


def test_base64_decodes_to_the_float_answer(eclient):
    texts = ["search_query: base64 please", "search_document: two vectors"]
    floats = eclient.embeddings.create(model=MODEL, input=texts, encoding_format="float")
    # The client decodes base64 to floats itself; check the raw bytes too.
    raw = eclient.embeddings.with_raw_response.create(model=MODEL, input=texts, encoding_format="base64")
    body = json.loads(raw.text)
    for d, f in zip(body["data"], floats.data):
        v = np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4")
        assert np.array_equal(v, np.array(f.embedding, dtype=np.float32))
    # Given explicitly, the client hands back the base64 string; left out, it asks for base64 and decodes it.
    b64 = eclient.embeddings.create(model=MODEL, input=texts, encoding_format="base64").data[1].embedding
    assert np.array_equal(np.frombuffer(base64.b64decode(b64), dtype="<f4"), np.array(floats.data[1].embedding, dtype=np.float32))
    default = eclient.embeddings.create(model=MODEL, input=texts)
    assert np.array_equal(np.array(default.data[1].embedding, dtype=np.float32), np.array(floats.data[1].embedding, dtype=np.float32))


def test_dimensions_truncates_and_renormalizes(eclient):
    full = eclient.embeddings.create(model=MODEL, input=["search_query: matryoshka"])
    short = eclient.embeddings.create(model=MODEL, input=["search_query: matryoshka"], dimensions=256)
    v = np.array(short.data[0].embedding)
    assert v.shape == (256,) and abs(np.linalg.norm(v) - 1) < 1e-6
    head = np.array(full.data[0].embedding[:256])
    assert np.allclose(v, head / np.linalg.norm(head), atol=1e-6)
    with pytest.raises(openai.BadRequestError) as e:
        eclient.embeddings.create(model=MODEL, input="x", dimensions=1000)
    assert e.value.body["param"] == "dimensions"
    with pytest.raises(openai.BadRequestError) as e:
        eclient.embeddings.create(model=MODEL, input="x", dimensions=0)
    assert e.value.body["param"] == "dimensions" and "at most 768" in e.value.body["message"], e.value.body


def test_too_long_input_names_its_index_or_is_truncated(eclient):
    long = "search_document: " + "tokens " * 300
    with pytest.raises(openai.BadRequestError) as e:
        eclient.embeddings.create(model=MODEL, input=["short", long])
    assert "input[1]" in e.value.body["message"] and e.value.body["code"] == "context_length_exceeded"
    cut = eclient.embeddings.create(model=MODEL, input=["short", long], extra_body={"truncate": True})
    assert len(cut.data) == 2 and cut.usage.prompt_tokens == 256 + 3
    assert abs(np.linalg.norm(cut.data[1].embedding) - 1) < 1e-5


def test_bad_requests(eclient, embed_server):
    with pytest.raises(openai.NotFoundError):
        eclient.embeddings.create(model="no-such-model", input="x")
    for bad in ({"model": MODEL, "input": []}, {"model": MODEL, "input": [[]]}, {"model": MODEL, "input": [1, 99999999]},
                {"model": MODEL, "input": [{"a": 1}]}, {"model": MODEL, "input": "x", "encoding_format": "int8"},
                {"model": MODEL}, {"model": MODEL, "input": ""}, {"model": MODEL, "input": ["a", ""]}):
        status, _, body = embed_server.request("POST", "/v1/embeddings", bad)
        assert status == 400, (bad, body)
        assert body["error"]["type"] == "invalid_request_error"
    # An empty string names its place; a blank one is text and is embedded.
    status, _, body = embed_server.request("POST", "/v1/embeddings", {"model": MODEL, "input": ["a", ""]})
    assert "input[1]" in body["error"]["message"] and body["error"]["param"] == "input"
    status, _, body = embed_server.request("POST", "/v1/embeddings", {"model": MODEL, "input": " "})
    assert status == 200 and len(body["data"]) == 1
    # One kind per array, as OpenAI's schema has it (strings and token arrays mixed were embedded).
    for mixed, where in ((["a", [1, 2]], "input[1]"), ([[1, 2], "a"], "input[1]"), ([1, "a"], "mixes token ids")):
        status, _, body = embed_server.request("POST", "/v1/embeddings", {"model": MODEL, "input": mixed})
        assert status == 400 and where in body["error"]["message"] and body["error"]["param"] == "input", (mixed, body)
    # A misspelt field is refused, as on chat and completions; `user` is OpenAI's and is a string.
    status, _, body = embed_server.request("POST", "/v1/embeddings", {"model": MODEL, "input": "x", "dimension": 64})
    assert status == 400 and body["error"]["code"] == "unknown_parameter" and body["error"]["param"] == "dimension", body
    status, _, body = embed_server.request("POST", "/v1/embeddings", {"model": MODEL, "input": "x", "user": 5})
    assert status == 400 and body["error"]["param"] == "user", body
    status, _, body = embed_server.request("POST", "/v1/embeddings", {"model": MODEL, "input": "x", "user": "u1"})
    assert status == 200, body


def test_generation_requests_are_refused(eclient, embed_server):
    with pytest.raises(openai.BadRequestError) as e:
        eclient.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert MODEL in e.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        eclient.completions.create(model=MODEL, prompt="hi")
    # A name the server does not serve is unknown (404) on the wrong kind's routes too.
    with pytest.raises(openai.NotFoundError) as e:
        eclient.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["code"] == "model_not_found" and "`nope`" in e.value.body["message"]
    models = eclient.models.list().data
    assert [m.id for m in models] == ["nomic-embed-text-v1.5.f16"]  # the file's name; the catalog name is an alias
    assert models[0].model_extra["kind"] == "embedding" and models[0].model_extra["dimensions"] == 768
    status, _, body = embed_server.request("POST", "/tokenize", {"content": "Hello world", "add_special": True})
    assert status == 200 and body["tokens"] == [101, 7592, 2088, 102]
    status, _, body = embed_server.request("POST", "/detokenize", {"tokens": [7592, 2088]})
    assert status == 200 and body["content"] == "hello world", body
    status, _, body = embed_server.request("POST", "/tokenize", {"content": "Hello world", "with_pieces": True})
    assert status == 200 and [t["id"] for t in body["tokens"]] == [7592, 2088], body
    assert all(isinstance(t["piece"], str) and t["piece"] for t in body["tokens"])
    status, _, body = embed_server.request("POST", "/tokenize", {"messages": [{"role": "user", "content": "hi"}]})
    assert status == 400 and body["error"]["param"] == "messages" and "chat template" in body["error"]["message"]


def test_a_generation_server_refuses_embeddings(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model="default", input="hi")
    assert "does not answer POST /v1/embeddings" in e.value.body["message"]
    # Asking a text model's server for an embedding model it does not serve: that model is unknown.
    with pytest.raises(openai.NotFoundError) as e:
        client.embeddings.create(model="nomic-embed-text-v1.5", input="hi")
    assert e.value.body["code"] == "model_not_found" and "nomic-embed-text-v1.5" in e.value.body["message"]


def test_concurrent_requests_batch_together_and_agree(eclient):
    from concurrent.futures import ThreadPoolExecutor
    texts = [f"search_document: sentence number {i} about {'cats' if i % 2 else 'retrieval'}" for i in range(16)]
    alone = [eclient.embeddings.create(model=MODEL, input=t).data[0].embedding for t in texts[:4]]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda t: eclient.embeddings.create(model=MODEL, input=[t, t[::-1]]), texts))
    for a, r in zip(alone, together):
        assert np.array_equal(np.array(a, dtype=np.float32), np.array(r.data[0].embedding, dtype=np.float32))


def wait_until(condition, seconds=60):
    import time
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def embedding_inputs_computed(server):
    """Inputs the embedder has run through forward passes so far (the batch histogram's sum)."""
    _, _, text = server.request("GET", "/metrics")
    text = text if isinstance(text, str) else json.dumps(text)
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("jeton_embedding_batch_inputs_sum"))


def test_a_large_request_neither_holds_up_a_small_one_nor_outlives_its_client(eclient, embed_server):
    import socket
    import threading
    big = {"model": MODEL, "input": ["search_document: " + "tokens " * 120] * 32}
    order = []
    t = threading.Thread(target=lambda: (eclient.embeddings.create(**big), order.append("big")))
    t.start()
    before = embedding_inputs_computed(embed_server)
    wait_until(lambda: embedding_inputs_computed(embed_server) > before)  # the big one is being computed
    small = eclient.embeddings.create(model=MODEL, input="hello")
    order.append("small")
    t.join()
    assert order == ["small", "big"], "the one-line request waited for a pass, not for the 32 inputs"
    assert len(small.data) == 1

    # A client that goes away: the rest of its inputs are not computed.
    body = json.dumps(big).encode()
    s = socket.create_connection(("127.0.0.1", embed_server.port))
    s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    start = embedding_inputs_computed(embed_server)
    wait_until(lambda: embedding_inputs_computed(embed_server) > start)
    s.close()
    eclient.embeddings.create(model=MODEL, input="after")  # answered once the embedder is free
    done = embedding_inputs_computed(embed_server)
    assert done - start < 32, f"{done - start} inputs computed after the client left"
