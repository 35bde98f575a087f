"""Several models in one process: `jeton serve --model default --model nomic-embed-text-v1.5`
(SmolLM2 and the embedding model, both pulled by scripts/test.sh). Routing by `model`, the 404
and 400 answers, /v1/models, /ready and /health, metrics labels, and a mixed load through the
official openai client."""
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import Server, assert_error
from jeton_process import JetonProcess

EMBED = "nomic-embed-text-v1.5"
MODELS = os.environ.get("JETON_MODELS", os.path.expanduser("~/.cache/jeton/models"))
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Retrieval-augmented generation puts search hits into the prompt.",
    "Der Zug nach München fährt um acht Uhr ab.",
    "東京は日本の首都です。",
    "A paged KV cache keeps memory per sequence in fixed-size blocks.",
    "Mean pooling averages the token vectors of the last layer.",
    "Café, naïve, résumé: accents are stripped by the uncased tokenizer.",
    "Swift compiles to native code with LLVM.",
]
QUESTIONS = [
    "What is the capital of France?",
    "Name three colors.",
    "What is 2 + 2?",
    "Write a haiku about the sea.",
    "What does a CPU do?",
    "Say hello in Spanish.",
    "What is the largest planet?",
    "Give me a word that rhymes with cat.",
]


@pytest.fixture(scope="module")
def multi():
    if not os.path.exists(os.path.join(MODELS, "nomic-embed-text-v1.5.f16.gguf")):
        pytest.skip("nomic-embed-text-v1.5 not downloaded (jeton pull nomic-embed-text-v1.5)")
    s = Server(model="default", extra=["--model", EMBED])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ids(multi):
    st, _, d = multi.request("GET", "/v1/models")
    assert st == 200
    return {m["kind"]: m["id"] for m in d["data"]}


@pytest.fixture(scope="module")
def mclient(multi):
    return openai.OpenAI(base_url=multi.base + "/v1", api_key="none", max_retries=0, timeout=600)


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_models_lists_both_with_their_kind(multi, mclient):
    st, _, d = multi.request("GET", "/v1/models")
    assert st == 200 and d["object"] == "list"
    assert [m["kind"] for m in d["data"]] == ["generation", "embedding"]
    gen, emb = d["data"]
    assert gen["architecture"] == "llama" and emb["architecture"] == "nomic-bert"
    assert emb["dimensions"] == 768
    # The OpenAI shape: the official client reads the list and each model.
    listed = mclient.models.list()
    assert [m.id for m in listed.data] == [gen["id"], emb["id"]]
    for m in listed.data:
        assert mclient.models.retrieve(m.id).id == m.id
    # Catalog names reach their model; `default` is the first one's.
    for name, want in [("default", gen["id"]), ("smollm2-135m-instruct", gen["id"]), (EMBED, emb["id"])]:
        st, _, m = multi.request("GET", f"/v1/models/{name}")
        assert st == 200 and m["id"] == want, name
    st, h, e = multi.request("GET", "/v1/models/gpt-4o")
    assert_error(e, h, st, 404, "invalid_request_error", "model", "model_not_found")


def test_the_anthropic_sdk_pages_through_the_models(multi, ids):
    import anthropic
    claude = anthropic.Anthropic(base_url=multi.base, api_key="unused", max_retries=0)
    gen, emb = ids["generation"], ids["embedding"]
    page = claude.models.list(limit=1)
    assert [m.id for m in page.data] == [gen] and page.has_more and page.first_id == page.last_id == gen
    # The SDK's pager follows after_id to the end.
    assert [m.id for m in claude.models.list(limit=1)] == [gen, emb]
    assert [m.id for m in claude.models.list(after_id=gen).data] == [emb]
    assert [m.id for m in claude.models.list(before_id=emb).data] == [gen]
    for query, param in [("limit=0", "limit"), ("limit=abc", "limit"), ("after_id=nope", "after_id")]:
        st, _, d = multi.request("GET", f"/v1/models?{query}")
        assert st == 400 and d["error"]["param"] == param, (query, d)


def test_requests_go_to_the_model_they_name(multi, mclient, ids):
    chat = mclient.chat.completions.create(model="default", messages=[{"role": "user", "content": "Hi"}],
                                           max_tokens=4, temperature=0)
    assert chat.model == ids["generation"] and chat.choices[0].message.content
    emb = mclient.embeddings.create(model=EMBED, input=["hello world", "bonjour"])
    assert emb.model == ids["embedding"] and len(emb.data) == 2 and len(emb.data[0].embedding) == 768
    # By id too, and /tokenize with each model's own tokenizer ([CLS] ... [SEP] for the encoder).
    emb = mclient.embeddings.create(model=ids["embedding"], input="hello")
    assert emb.usage.prompt_tokens == 3
    st, _, t = multi.request("POST", "/tokenize", {"model": EMBED, "prompt": "hello"})
    assert st == 200 and t["count"] == 3 and t["tokens"][0] == 101 and t["tokens"][-1] == 102
    st, _, t = multi.request("POST", "/tokenize", {"model": "default", "content": "hello"})
    assert st == 200 and t["count"] == 1 and t["tokens"][0] not in (101, 102)
    # /detokenize too, each with its own vocabulary.
    st, _, d = multi.request("POST", "/detokenize", {"model": EMBED, "tokens": [101, 7592, 102]})
    assert st == 200 and "hello" in d["content"], d
    st, _, d = multi.request("POST", "/detokenize", {"model": "default", "tokens": t["tokens"]})
    assert st == 200 and d["content"] == "hello", d
    # Without a `model`, an embeddings request goes to the embedding model.
    st, _, r = multi.request("POST", "/v1/embeddings", {"input": "hello"})
    assert st == 200 and r["model"] == ids["embedding"]
    # ... and chat or completions to the generation model.
    st, _, r = multi.request("POST", "/v1/chat/completions",
                             {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
    assert st == 200 and r["model"] == ids["generation"] and r["object"] == "chat.completion"
    st, _, r = multi.request("POST", "/v1/completions", {"prompt": "Hi", "max_tokens": 2})
    assert st == 200 and r["model"] == ids["generation"] and r["object"] == "text_completion"


def test_unknown_model_is_404_and_wrong_kind_is_400(multi, ids):
    for path, body in [("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}]}),
                       ("/v1/completions", {"prompt": "Hi"}), ("/v1/embeddings", {"input": "Hi"}),
                       ("/tokenize", {"content": "Hi"})]:
        st, h, e = multi.request("POST", path, dict(body, model="no-such-model"))
        err = assert_error(e, h, st, 404, "invalid_request_error", "model", "model_not_found")
        assert "no-such-model" in err["message"]
    for path, body in [("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}]}),
                       ("/v1/completions", {"prompt": "Hi"})]:
        for name in (EMBED, ids["embedding"]):
            st, h, e = multi.request("POST", path, dict(body, model=name))
            err = assert_error(e, h, st, 400, "invalid_request_error", "model", "model_not_supported")
            assert name in err["message"] and "embedding model" in err["message"]
    # `default` is the first model of the kind the endpoint needs, as a request without `model`.
    st, _, d = multi.request("POST", "/v1/embeddings", {"model": "default", "input": "Hi"})
    assert st == 200 and d["model"] == ids["embedding"], d
    st, _, d = multi.request("POST", "/v1/completions", {"model": "default", "prompt": "Hi", "max_tokens": 1})
    assert st == 200 and d["model"] == ids["generation"], d


def test_ready_and_health_report_each_model(multi, ids):
    st, _, d = multi.request("GET", "/ready")
    assert (st, d) == (200, {"status": "ready"})
    st, _, d = multi.request("GET", "/health")
    assert st == 200 and d["status"] == "ok"
    assert [(m["id"], m["kind"], m["state"], m["path"]) for m in d["models"]] == [
        (ids["generation"], "generation", "ready", "default"), (ids["embedding"], "embedding", "ready", EMBED)]


def samples(multi):
    st, _, text = multi.request("GET", "/metrics")
    assert st == 200
    return [s for fam in text_string_to_metric_families(text) for s in fam.samples]


def value(samples, name, **labels):
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_carry_each_models_label(multi, mclient, ids):
    before = samples(multi)
    mclient.completions.create(model="default", prompt="Hello", max_tokens=3, temperature=0, extra_body={"ignore_eos": True})
    emb_answer = mclient.embeddings.create(model=EMBED, input=["one sentence", "two sentences"])
    # Past one pass's tokens: its inputs are embedded in two passes, still one request.
    long_answer = mclient.embeddings.create(model=EMBED, input=["ok", "word " * 600])
    multi.request("POST", "/v1/completions", {"model": EMBED, "prompt": "Hi"})  # a 400 of a known model
    after = samples(multi)
    gen, emb = ids["generation"], ids["embedding"]

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("jeton_requests_total", model=gen, endpoint="/v1/completions", status="200") == 1
    assert grew("jeton_requests_total", model=emb, endpoint="/v1/completions", status="400") == 1
    assert grew("jeton_generation_tokens_total", model=gen) == 3
    assert grew("jeton_requests_total", model=emb, endpoint="/v1/embeddings", status="200") == 2
    assert grew("jeton_embedding_requests_total", model=emb) == 2
    assert grew("jeton_embedding_inputs_total", model=emb) == 4
    tokens = emb_answer.usage.prompt_tokens + long_answer.usage.prompt_tokens
    assert grew("jeton_embedding_tokens_total", model=emb) == tokens and tokens >= 606
    assert grew("jeton_embedding_batch_seconds_count", model=emb) >= 3
    # The engine families exist for the generation model only.
    assert any(s.name == "jeton_kv_cache_usage_ratio" and s.labels["model"] == gen for s in after)
    assert not any(s.name.startswith("jeton_kv_cache") and s.labels.get("model") == emb for s in after)


def test_mixed_load_answers_as_alone(mclient):
    """8 streaming chat clients and 8 embedding clients at once: no error, each chat answer
    equal to the same request served alone (temperature 0), each vector equal to the same
    input embedded alone."""
    def chat(q):
        stream = mclient.chat.completions.create(model="default", messages=[{"role": "user", "content": q}],
                                                 max_tokens=24, temperature=0, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    def embed(i):
        batch = [SENTENCES[(i + k) % len(SENTENCES)] for k in range(4)]
        return [d.embedding for d in mclient.embeddings.create(model=EMBED, input=batch).data]

    alone_chat = {q: chat(q) for q in QUESTIONS}
    alone_vec = {s: mclient.embeddings.create(model=EMBED, input=s).data[0].embedding for s in SENTENCES}
    assert all(alone_chat.values())

    results, errors = {}, []

    def run(key, fn, arg):
        try:
            results[key] = fn(arg)
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(f"{key}: {e!r}")

    threads = [threading.Thread(target=run, args=(("chat", i), chat, q)) for i, q in enumerate(QUESTIONS)]
    threads += [threading.Thread(target=run, args=(("embed", i), embed, i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    assert not errors, errors
    assert len(results) == 16
    for i, q in enumerate(QUESTIONS):
        assert results[("chat", i)] == alone_chat[q], q
    for i in range(8):
        for k, v in enumerate(results[("embed", i)]):
            s = SENTENCES[(i + k) % len(SENTENCES)]
            assert cosine(v, alone_vec[s]) >= 0.99999, s


def post(base, path, body, timeout=300):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# SmolLM2-135M's KV bytes per token in f16: keys and values x 30 layers x 3 KV heads x 64 dimensions
# x 2 bytes (num_hidden_layers, num_key_value_heads, head_dim of its Hugging Face config.json).
SMOL_KV_BYTES_PER_TOKEN = 2 * 30 * 3 * 64 * 2


def test_models_list_in_the_config_and_drain_of_both(tmp_path):
    """A `models:` list names the models, gives them aliases and their own KV cache; SIGTERM
    lets the streams of the generation model and the queued embeddings finish, then exits 0."""
    if not os.path.exists(os.path.join(MODELS, "nomic-embed-text-v1.5.f16.gguf")):
        pytest.skip("nomic-embed-text-v1.5 not downloaded (jeton pull nomic-embed-text-v1.5)")
    cfg = tmp_path / "jeton.yaml"
    cfg.write_text("models:\n"
                   "  - path: default\n    name: chat\n    aliases: [talk, hf/chat-model]\n    cache_tokens: 1024\n"
                   f"  - path: {EMBED}\n    name: embedder\n    aliases: [embed]\n    max_waiting: 64\n"
                   "    context_length: 256\n"
                   "server:\n  drain_timeout: 120\n"
                   f"auth:\n  admin_keys: [\"ops:sekrit-admin-key\"]\nlora:\n  allowed_dirs: [\"{tmp_path}\"]\n")
    s = JetonProcess("--config", str(cfg))
    try:
        st, _, d = s.request("GET", "/v1/models")
        # The chat model's context is 8192 but one request can use its 1024-token cache at most.
        assert [m["max_model_len"] for m in json.loads(d)["data"]] == [1024, 256]
        # A prompt that alone fills that cache names the prompt (messages in chat), not max_tokens.
        for path, body, param in [("/v1/completions", {"prompt": "hello " * 1100, "max_tokens": 1}, "prompt"),
                                  ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hello " * 1100}]},
                                   "messages")]:
            st, text = post(s.base, path, dict(body, model="chat"))
            err = json.loads(text)["error"]
            assert st == 400 and err["param"] == param and err["code"] == "context_length_exceeded", (path, text)
        assert [(m["id"], m["kind"]) for m in json.loads(d)["data"]] == [("chat", "generation"), ("embedder", "embedding")]
        # A name with a slash (as vLLM's served names have) is found written as it is in the path, or encoded.
        for path in ("/v1/models/hf/chat-model", "/v1/models/hf%2Fchat-model"):
            st, _, m = s.request("GET", path)
            assert st == 200 and json.loads(m)["id"] == "chat", (path, m)
        assert s.request("GET", "/v1/models/hf/other")[0] == 404
        # An adapter may not take another model's name or alias: it would never be reached.
        for name in ["embedder", "embed", "talk"]:
            st, _, d = s.request("POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(tmp_path / "a.gguf")},
                                 headers={"Authorization": "Bearer sekrit-admin-key"})
            assert st == 400 and json.loads(d)["error"]["code"] == "lora_exists", (name, d)
        for name, path, body, want in [("talk", "/v1/completions", {"prompt": "Hi", "max_tokens": 2}, "chat"),
                                       ("default", "/v1/completions", {"prompt": "Hi", "max_tokens": 2}, "chat"),
                                       ("embed", "/v1/embeddings", {"input": "Hi"}, "embedder")]:
            st, text = post(s.base, path, dict(body, model=name))
            assert st == 200 and json.loads(text)["model"] == want, (name, text)
        st, text = post(s.base, "/v1/embeddings", {"model": "chat", "input": "Hi"})
        assert st == 400 and "`chat`" in text
        # The generation model's KV cache has the entry's size, not engine.cache_tokens.
        metrics = [x for fam in text_string_to_metric_families(s.request("GET", "/metrics")[2]) for x in fam.samples]
        cache = [x.value for x in metrics if x.name == "jeton_kv_cache_bytes" and x.labels["model"] == "chat"]
        assert cache == [1024 * SMOL_KV_BYTES_PER_TOKEN]

        results = {}

        def run(key, path, body):
            results[key] = post(s.base, path, body)

        streams = [threading.Thread(target=run, args=(("chat", i), "/v1/completions",
                                                      {"model": "talk", "prompt": f"Story {i}:", "max_tokens": 160,
                                                       "ignore_eos": True, "stream": True})) for i in range(4)]
        embeds = [threading.Thread(target=run, args=(("embed", i), "/v1/embeddings",
                                                     {"model": "embed", "input": SENTENCES * 2})) for i in range(6)]
        for t in streams + embeds:
            t.start()
        # SIGTERM once all four streams run (long enough to outlast the first embedding batch: 24 tokens
        # ended before it, and the wait ran to its deadline) and that batch is done: batches hold up to
        # 512 tokens (engine.max_batch_tokens; a longer input goes alone), two of these requests,
        # so the others are still queued.
        deadline = time.time() + 120
        while time.time() < deadline:
            m = [x for fam in text_string_to_metric_families(s.request("GET", "/metrics")[2]) for x in fam.samples]
            running = sum(x.value for x in m if x.name == "jeton_requests_running" and x.labels["model"] == "chat")
            done = sum(x.value for x in m if x.name == "jeton_embedding_requests_total" and x.labels["model"] == "embedder")
            if running >= 4 and done >= 2:  # the one embedding request above, then at least one of these
                break
            time.sleep(0.02)
        assert running >= 4 and done >= 2, "SIGTERM was to come while all four streams ran"
        s.signal(signal.SIGTERM)
        for t in streams + embeds:
            t.join(timeout=300)
        assert len(results) == 10
        for key, (st, text) in results.items():
            assert st == 200, (key, text[:300])
            if key[0] == "chat":
                assert text.rstrip().endswith("data: [DONE]") and '"finish_reason":"length"' in text.replace(" ", "")
            else:
                assert len(json.loads(text)["data"]) == len(SENTENCES) * 2
        assert s.proc.wait(timeout=120) == 0
    finally:
        s.stop()
