"""LoRA adapters served: chosen by `model` (vLLM) or `lora` (llama-server), mixed in one batch,
loaded and unloaded at run time behind an admin key, counted by adapter in the metrics.

The adapters are random (Tests/cli/make_lora_adapter.py), made here from their seeds; their
fidelity to llama.cpp is Tests/cli/test_lora.py's, whose fixtures the checks below reuse: the
greedy text of expected.json, and the two adapters and scales of expected_pair.json.
"""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from conftest import JETON, ROOT, Server

CLI = os.path.join(ROOT, "Tests", "cli")
sys.path.append(CLI)  # after Tests/api: a name in both folders stays this one's
import make_lora_adapter  # noqa: E402
MODEL = os.path.join(os.path.expanduser(os.environ.get("JETON_MODELS", "~/.cache/jeton/models")), "SmolLM2-135M-Instruct.Q4_1.gguf")
with open(os.path.join(CLI, "Fixtures", "lora", "expected.json")) as f:
    EXPECTED = json.load(f)
with open(os.path.join(CLI, "Fixtures", "lora", "expected_pair.json")) as f:
    PAIR = json.load(f)
ADMIN = "sekrit-admin-key"


def make_adapter(out, seed, rank=8, alpha=16, b_std=None):
    # In this process: the model's metadata is read once for every adapter (seconds each time).
    extra = {"b_std": b_std} if b_std is not None else {}
    make_lora_adapter.write_adapter(MODEL, seed, out, rank, alpha, **extra)
    return out


@pytest.fixture(scope="module")
def lora_server(tmp_path_factory):
    allowed = tmp_path_factory.mktemp("adapters")
    # s1 and s2 are expected_pair.json's two adapters (s2: rank 16, alpha 32); s5 is loaded at run time.
    for a in PAIR["adapters"]:
        make_adapter(allowed / f"s{a['seed']}", a["seed"], a["rank"], a["alpha"])
    for seed in (3, 4, 5):
        make_adapter(allowed / f"s{seed}", seed)
    config = tmp_path_factory.mktemp("config") / "jeton.yaml"
    config.write_text(f"auth:\n  admin_keys: [\"ops:{ADMIN}\"]\nlora:\n  allowed_dirs: [\"{allowed}\"]\n")
    # Two adapters as GGUF files, two as PEFT directories.
    s = Server(extra=["--config", str(config), "--lora", f"a1={allowed}/s1/adapter.gguf", "--lora", f"a2={allowed}/s2/peft",
                      "--lora", f"a3={allowed}/s3/adapter.gguf", "--lora", f"a4={allowed}/s4/peft"])
    s.allowed = allowed
    yield s
    s.stop()


def complete(s, model, prompt, n=12, **extra):
    status, _, body = s.request("POST", "/v1/completions", {"model": model, "prompt": prompt, "max_tokens": n,
                                                            "temperature": 0, **extra})
    assert status == 200, body
    return body


def stream_text(s, model, prompt, n, out, key):
    body = json.dumps({"model": model, "prompt": prompt, "max_tokens": n, "temperature": 0, "stream": True}).encode()
    req = urllib.request.Request(s.base + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
    text = []
    with urllib.request.urlopen(req, timeout=300) as r:
        for line in r:
            line = line.decode().strip()
            if line.startswith("data: ") and line != "data: [DONE]":
                text.append(json.loads(line[6:])["choices"][0]["text"])
    out[key] = "".join(text)


def test_models_lists_each_adapter_with_its_parent(lora_server):
    status, _, body = lora_server.request("GET", "/v1/models")
    assert status == 200
    ids = [m["id"] for m in body["data"]]
    base = body["data"][0]["id"]
    assert ids[1:] == ["a1", "a2", "a3", "a4"]
    assert all(m["parent"] == base for m in body["data"][1:])
    status, _, one = lora_server.request("GET", "/v1/models/a2")
    assert status == 200 and one["parent"] == base and one["lora_rank"] == 16
    # Every entry has its kind, and an adapter's name reaches /tokenize and /detokenize (its
    # base model's tokenizer) as it reaches chat and completions.
    assert all(m["kind"] == "generation" for m in body["data"])
    status, _, t = lora_server.request("POST", "/tokenize", {"model": "a2", "content": "Hello world"})
    status2, _, t2 = lora_server.request("POST", "/tokenize", {"model": base, "content": "Hello world"})
    assert status == status2 == 200 and t["tokens"] == t2["tokens"]
    status, _, d = lora_server.request("POST", "/detokenize", {"model": "a2", "tokens": t["tokens"]})
    assert status == 200 and d["content"] == "Hello world"


def test_adapter_by_model_name_as_llama_cpp(lora_server):
    # A prompt with no near tie in llama.cpp's 16 greedy tokens: the text must be llama.cpp's.
    case = next(c for c in EXPECTED["greedy"] if min(c["margins"]) > 0.5 and len(c["ids"]) == EXPECTED["n"])
    body = complete(lora_server, "a1", case["prompt"], n=EXPECTED["n"])
    assert body["model"] == "a1"
    assert body["choices"][0]["text"] == case["text"]
    base = complete(lora_server, "default", case["prompt"], n=EXPECTED["n"])
    assert base["choices"][0]["text"] != case["text"]


def test_llama_server_lora_field_selects_and_scales(lora_server):
    prompt = "Once upon a time, in a small village,"
    by_name = complete(lora_server, "a2", prompt)["choices"][0]["text"]
    assert complete(lora_server, "default", prompt, lora=[{"id": 1, "scale": 1.0}])["choices"][0]["text"] == by_name
    assert complete(lora_server, "default", prompt, lora=[{"id": "a2"}])["choices"][0]["text"] == by_name
    base = complete(lora_server, "default", prompt)["choices"][0]["text"]
    assert complete(lora_server, "default", prompt, lora=[{"id": 1, "scale": 0}])["choices"][0]["text"] == base
    for bad in ([{"id": 7}], [{"id": 0, "scale": "x"}], {"id": 0}, [{"scale": 1}]):
        status, _, err = lora_server.request("POST", "/v1/completions", {"model": "default", "prompt": "Hi", "lora": bad})
        assert status == 400 and err["error"]["param"] == "lora", (bad, err)
    status, _, err = lora_server.request("POST", "/v1/completions", {"model": "a9", "prompt": "Hi"})
    assert status == 404 and err["error"]["code"] == "model_not_found"


def steps_over_16_tokens(s):
    """Engine steps so far with more than 16 tokens, from the jeton_batch_tokens histogram."""
    _, _, text = s.request("GET", "/metrics")
    def total(prefix, le=None):
        return sum(float(l.split()[-1]) for l in text.splitlines()
                   if l.startswith(prefix) and (le is None or f'le="{le}"' in l))
    return total("jeton_batch_tokens_count") - total("jeton_batch_tokens_bucket", "16")


def test_two_adapters_on_one_request_as_the_cli(lora_server):
    """llama-server's `lora` list with two entries, each at its scale: both updates summed, as
    `jeton generate --lora-scaled` sums them (which Tests/cli/test_lora.py holds to llama.cpp's)."""
    prompt, n = "Once upon a time, in a small village,", 16
    (first, second) = PAIR["adapters"]
    both = [{"id": "a1", "scale": first["scale"]}, {"id": 1, "scale": second["scale"]}]  # by name and by position
    text = complete(lora_server, "default", prompt, n=n, lora=both)["choices"][0]["text"]
    paths = f"{lora_server.allowed}/s1/adapter.gguf:{first['scale']},{lora_server.allowed}/s2/peft:{second['scale']}"
    p = subprocess.run([JETON, "generate", "--model", MODEL, "--prompt", prompt, "-n", str(n), "--lora-scaled", paths],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert text == p.stdout[:-1]  # generate ends the text with a newline
    # Neither adapter alone, nor both at scale 1, nor the base model says the same.
    others = [complete(lora_server, "default", prompt, n=n, lora=l)["choices"][0]["text"]
              for l in ([both[0]], [both[1]], [{"id": "a1"}, {"id": "a2"}], [])]
    assert text not in others, (text, others)


def test_two_adapters_agree_in_either_order_and_beside_other_requests(lora_server):
    """A request's two adapters are summed in one order: its `lora` list's order, and adapters that
    sequences before it in the batch use, changed the float sums (and greedy tokens on Q4_1)."""
    prompt = "The history of the printing press"
    ab = [{"id": "a1", "scale": 0.6}, {"id": "a2", "scale": 0.4}]

    def answer(lora):
        c = complete(lora_server, "default", prompt, n=16, lora=lora, logprobs=1)["choices"][0]
        return c["text"], c["logprobs"]["token_logprobs"]

    alone = answer(ab)
    assert answer(list(reversed(ab))) == alone
    # Beside three a2 streams admitted first (their group comes first in the batch).
    out = {}
    threads = [threading.Thread(target=stream_text, args=(lora_server, "a2", f"Story {k}: once upon a time", 48, out, k))
               for k in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    together = answer(ab)
    for t in threads:
        t.join()
    assert len(out) == 3 and together == alone


def test_mixed_batch_equals_each_request_alone(lora_server):
    """16 streaming clients over 4 adapters and the base model at once: each text equals the same
    request served alone (temperature 0)."""
    prompts = ["The capital of France is", "def fibonacci(n):", "Water boils at a temperature of",
               "Once upon a time, in a small village,"]
    models = ["default", "a1", "a2", "a3", "a4"]
    # Client i: model i mod 5, prompt i mod 4, so 16 different pairs and each prompt for the base
    # model and three adapters.
    jobs = [(models[i % 5], prompts[i % 4]) for i in range(16)]
    n = 20
    alone = {}
    for m, p in jobs:
        stream_text(lora_server, m, p, n, alone, (m, p))
    together = {}
    before = steps_over_16_tokens(lora_server)
    threads = [threading.Thread(target=stream_text, args=(lora_server, m, p, n, together, (m, p))) for m, p in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(together) == 16 and together == alone
    # The clients did share steps: a step of more than 16 tokens holds several sequences (each
    # prompt is shorter than that).
    assert steps_over_16_tokens(lora_server) > before
    # Each prompt's four texts (the base model's, three adapters') differ, so the equality above is
    # about batching adapters together, not about updates that change nothing.
    for p in prompts:
        texts = [t for (m, q), t in alone.items() if q == p]
        assert len(texts) == 4 and len(set(texts)) == 4, (p, texts)


def test_prefix_cache_is_keyed_by_adapter(lora_server):
    prompt = ("The lighthouse keeper kept a journal of every ship that passed the point. Most entries were short: "
              "a name, a flag, the hour, and the state of the sea. Then one day")
    first = {m: complete(lora_server, m, prompt)["choices"][0]["text"] for m in ("a1", "default", "a2")}
    assert len(set(first.values())) == 3
    # Each prompt's blocks are now cached; every model must still find only its own.
    for m in ("default", "a2", "a1"):
        body = complete(lora_server, m, prompt)
        assert body["choices"][0]["text"] == first[m], m


def test_runtime_load_needs_the_admin_key_and_an_allowed_path(lora_server, tmp_path):
    s = lora_server
    path = str(s.allowed / "s5" / "peft")
    body = {"lora_name": "a5", "lora_path": path}
    assert s.request("POST", "/v1/load_lora_adapter", body)[0] == 401
    assert s.request("POST", "/v1/load_lora_adapter", body, headers={"Authorization": "Bearer wrong"})[0] == 401
    auth = {"Authorization": f"Bearer {ADMIN}"}
    outside = make_adapter(tmp_path / "outside", 5)
    status, _, err = s.request("POST", "/v1/load_lora_adapter", {"lora_name": "a5", "lora_path": str(outside / "peft")}, headers=auth)
    assert status == 403, err
    # A link inside the allowed directory that leads outside it is outside.
    os.symlink(outside, s.allowed / "link")
    assert s.request("POST", "/v1/load_lora_adapter", {"lora_name": "a5", "lora_path": str(s.allowed / "link" / "peft")},
                     headers=auth)[0] == 403
    assert s.request("POST", "/v1/load_lora_adapter", {"lora_name": "a5", "lora_path": str(s.allowed / "..")},
                     headers=auth)[0] == 403
    # A missing file in an allowed directory is named as missing (elsewhere: 403, nothing learnt).
    status, _, err = s.request("POST", "/v1/load_lora_adapter", {"lora_name": "a5", "lora_path": str(s.allowed / "nope.gguf")},
                               headers=auth)
    assert status == 400 and err["error"]["code"] == "lora_path_not_found", err
    status, _, err = s.request("POST", "/v1/load_lora_adapter",
                               {"lora_name": "a5", "lora_path": str(s.allowed / "no" / "dir" / "a.gguf")}, headers=auth)
    assert status == 400 and err["error"]["code"] == "lora_path_not_found", err
    assert s.request("POST", "/v1/load_lora_adapter", {"lora_name": "a5", "lora_path": str(tmp_path / "nope.gguf")},
                     headers=auth)[0] == 403
    # Names go into log lines and metric labels: a space is refused; the model's own names are taken.
    status, _, err = s.request("POST", "/v1/load_lora_adapter", {"lora_name": "has space", "lora_path": path}, headers=auth)
    assert status == 400 and err["error"]["code"] == "invalid_lora_name", err
    status, _, err = s.request("POST", "/v1/load_lora_adapter", {"lora_name": "default", "lora_path": path}, headers=auth)
    assert status == 400 and err["error"]["code"] == "lora_exists", err
    # Malformed adapter inside: 400 naming the problem, the server goes on.
    bad = s.allowed / "bad"
    bad.mkdir()
    (bad / "adapter_config.json").write_text('{"r": 8, "lora_alpha": 16}')
    (bad / "adapter_model.safetensors").write_bytes((1 << 62).to_bytes(8, "little"))
    status, _, err = s.request("POST", "/v1/load_lora_adapter", {"lora_name": "bad", "lora_path": str(bad)}, headers=auth)
    assert status == 400 and "safetensors" in err["error"]["message"], err
    # A factor or weights no answer survives: refused by name (they loaded, then wrote nothing or noise).
    make_adapter(s.allowed / "huge", 6, alpha=1e30)
    make_adapter(s.allowed / "nan", 7, alpha=16, b_std="nan")
    for p, word in [(s.allowed / "huge" / "peft", "scale"), (s.allowed / "huge" / "adapter.gguf", "scale"),
                    (s.allowed / "nan" / "peft", "not finite")]:
        status, _, err = s.request("POST", "/v1/load_lora_adapter", {"lora_name": "a5", "lora_path": str(p)}, headers=auth)
        assert status == 400 and err["error"]["code"] == "invalid_lora" and word in err["error"]["message"], (p, err)
    # A NUL would cut the path the file system reads; unknown fields are refused as everywhere.
    status, _, err = s.request("POST", "/v1/load_lora_adapter", {"lora_name": "a5", "lora_path": path + "\u0000.x"}, headers=auth)
    assert status == 400 and err["error"]["param"] == "lora_path", err
    status, _, err = s.request("POST", "/v1/load_lora_adapter", dict(body, extra=1), headers=auth)
    assert status == 400 and err["error"]["code"] == "unknown_parameter", err
    status, _, err = s.request("POST", "/v1/completions", {"model": "default", "prompt": "Hi", "max_tokens": 1,
                                                           "lora": [{"id": "a1", "scale": 1, "extra": 2}]})
    assert status == 400 and err["error"]["code"] == "unknown_parameter", err

    status, _, ok = s.request("POST", "/v1/load_lora_adapter", body, headers=auth)
    assert status == 200, ok
    assert s.request("POST", "/v1/load_lora_adapter", body, headers=auth)[0] == 400  # the name is taken
    # vLLM's load_inplace: the name now means another adapter (s3's weights), listed once.
    text_a5 = complete(s, "a5", "def fibonacci(n):")["choices"][0]["text"]
    status, _, ok = s.request("POST", "/v1/load_lora_adapter",
                              {"lora_name": "a5", "lora_path": str(s.allowed / "s3" / "adapter.gguf"), "load_inplace": True}, headers=auth)
    assert status == 200, ok
    assert [m["id"] for m in s.request("GET", "/v1/models")[2]["data"]].count("a5") == 1
    assert complete(s, "a5", "def fibonacci(n):")["choices"][0]["text"] == complete(s, "a3", "def fibonacci(n):")["choices"][0]["text"]
    status, _, ok = s.request("POST", "/v1/load_lora_adapter", dict(body, load_inplace=True), headers=auth)
    assert status == 200 and complete(s, "a5", "def fibonacci(n):")["choices"][0]["text"] == text_a5, ok
    assert "a5" in [m["id"] for m in s.request("GET", "/v1/models")[2]["data"]]
    text = complete(s, "a5", "def fibonacci(n):")["choices"][0]["text"]
    assert text != complete(s, "default", "def fibonacci(n):")["choices"][0]["text"]
    assert s.request("POST", "/v1/unload_lora_adapter", {"lora_name": "a5"})[0] == 401
    assert s.request("POST", "/v1/unload_lora_adapter", {"lora_name": "a5"}, headers=auth)[0] == 200
    assert s.request("POST", "/v1/unload_lora_adapter", {"lora_name": "a5"}, headers=auth)[0] == 404
    assert s.request("POST", "/v1/completions", {"model": "a5", "prompt": "Hi"})[0] == 404


def test_metrics_count_tokens_by_adapter(lora_server):
    complete(lora_server, "a2", "Hello", n=3)
    status, _, text = lora_server.request("GET", "/metrics")
    assert status == 200
    lines = [l for l in text.splitlines() if l.startswith("jeton_generation_tokens_total") and 'adapter="a2"' in l]
    assert lines and float(lines[0].split()[-1]) >= 3
    assert any(l.startswith("jeton_requests_total") and 'adapter="a2"' in l for l in text.splitlines())
    # An adapter at scale 0 is off: the request is the base model's (it was counted as the adapter's).
    def requests(adapter):
        text = lora_server.request("GET", "/metrics")[2]
        return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("jeton_requests_total") and "completions" in l
                   and ((f'adapter="{adapter}"' in l) if adapter else "adapter=" not in l))
    before_a1, before_base = requests("a1"), requests(None)
    complete(lora_server, "default", "Hello", n=2, lora=[{"id": "a1", "scale": 0}])
    assert requests("a1") == before_a1 and requests(None) == before_base + 1


def test_llama_server_s_lora_adapters_endpoints_set_the_global_scales(lora_server):
    """GET /lora-adapters lists each adapter's id (its position), path and global scale; POST sets the
    scales base-model requests without a `lora` list of their own get (an adapter left out is off).
    Behind the admin keys when there are some, as they change every base-model answer."""
    s, auth = lora_server, {"Authorization": f"Bearer {ADMIN}"}
    assert s.request("GET", "/lora-adapters")[0] == 401
    assert s.request("POST", "/lora-adapters", [{"id": 0, "scale": 1}])[0] == 401
    status, _, listed = s.request("GET", "/lora-adapters", headers=auth)
    assert status == 200 and [(e["id"], e["name"], e["scale"]) for e in listed[:4]] == [(0, "a1", 0), (1, "a2", 0), (2, "a3", 0), (3, "a4", 0)]
    assert listed[0]["path"].endswith("s1/adapter.gguf")
    prompt = "Water boils at a temperature of"
    base = complete(s, "default", prompt)["choices"][0]["text"]
    scaled = complete(s, "default", prompt, lora=[{"id": "a1", "scale": 0.5}])["choices"][0]["text"]
    assert scaled != base
    try:
        status, _, r = s.request("POST", "/lora-adapters", [{"id": 0, "scale": 0.5}], headers=auth)
        assert status == 200 and r == {"success": True}
        assert [e["scale"] for e in s.request("GET", "/lora-adapters", headers=auth)[2][:2]] == [0.5, 0]
        assert complete(s, "default", prompt)["choices"][0]["text"] == scaled
        # A request's own list (an empty one too) and an adapter named by `model` are not changed.
        assert complete(s, "default", prompt, lora=[])["choices"][0]["text"] == base
        assert complete(s, "a2", prompt)["choices"][0]["text"] == complete(s, "default", prompt, lora=[{"id": "a2"}])["choices"][0]["text"]
        for bad, param in [([{"id": 99, "scale": 1}], "[0].id"), ([{"id": 0, "scale": "x"}], "[0].scale"),
                           ([{"id": 0, "scale": 1, "x": 1}], "[0].x"), ({"id": 0}, None)]:
            status, _, err = s.request("POST", "/lora-adapters", bad, headers=auth)
            assert status == 400 and err["error"]["param"] == param, (bad, err)
    finally:
        assert s.request("POST", "/lora-adapters", [], headers=auth)[0] == 200
    assert complete(s, "default", prompt)["choices"][0]["text"] == base


def test_without_admin_keys_the_global_scales_cannot_be_set(lora_server):
    """Without auth.admin_keys nobody may set them (every tenant's base-model answers would change);
    the list is readable, without the files' paths."""
    s = Server(extra=["--lora", f"a1={lora_server.allowed}/s1/adapter.gguf"])
    try:
        status, _, err = s.request("POST", "/lora-adapters", [{"id": 0, "scale": 1}])
        assert status == 403 and err["error"]["code"] == "lora_admin_disabled", err
        status, _, listed = s.request("GET", "/lora-adapters")
        assert status == 200 and listed == [{"id": 0, "name": "a1", "scale": 0}], listed
    finally:
        s.stop()
