"""LoRA adapters in `jeton perplexity` / `jeton generate --lora`, beside llama.cpp with --lora.

The adapter is random (make_lora_adapter.py, seed 1), remade here in both forms: a llama.cpp GGUF
adapter and a PEFT directory (safetensors, Hugging Face names, unpermuted q/k). Fixtures/lora/
expected.json holds what llama.cpp made of the GGUF form (make_lora_fixtures.py, run once).

Two adapters on one sequence, each at its own scale (llama.cpp's --lora-scaled), are compared with
Fixtures/lora/expected_pair.json (make_lora_fixtures.py --pair, run once) on SmolLM2's F32 twin,
made here as there with float_twin.py: in F32 the engines' perplexities agree to 0.01%, so the
comparison sees the adapters' arithmetic (scale·alpha/rank·B·(A·x), summed) and not how each
engine rounds Q4_1 activations.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_lora_adapter  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
JETON = os.environ.get("JETON_BIN", os.path.join(ROOT, ".build", "debug", "jeton"))
MODELS = os.environ.get("JETON_MODELS", os.path.expanduser("~/.cache/jeton/models"))
MODEL = os.path.join(MODELS, "SmolLM2-135M-Instruct.Q4_1.gguf")
FIX = os.path.join(HERE, "Fixtures", "lora")
with open(os.path.join(FIX, "expected.json")) as f:
    EXPECTED = json.load(f)
with open(os.path.join(FIX, "expected_pair.json")) as f:
    PAIR = json.load(f)
EOS = 2  # <|im_end|>: llama-server returns it as the last token; Jeton stops before it
NEAR_TIE = 0.2  # nats between llama.cpp's top two: 8-bit rounding may pick either beyond it

pytestmark = pytest.mark.skipif(not os.path.exists(MODEL), reason="SmolLM2 is not downloaded (jeton pull default)")


def jeton(*args, check=True, env_models=None):
    env = dict(os.environ, JETON_MODELS=env_models) if env_models else None
    p = subprocess.run([JETON, *args], capture_output=True, text=True, timeout=900, env=env)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def make_adapter(out, seed, **kw):
    # In this process: the model's metadata is read once for every adapter (seconds each time).
    make_lora_adapter.write_adapter(MODEL, seed, out, **kw)
    return {"gguf": str(out / "adapter.gguf"), "peft": str(out / "peft")}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    return make_adapter(tmp_path_factory.mktemp("lora"), EXPECTED["seed"])


def final_ppl(out):
    return float(out.split("Final estimate: PPL = ")[1].split()[0])


@pytest.mark.parametrize("form", ["gguf", "peft"])
def test_perplexity_as_llama_cpp(adapter, pair, form):
    ppl = lambda model: final_ppl(jeton("perplexity", "--model", model, "--file", os.path.join(FIX, "text.txt"),
                                        "-c", str(EXPECTED["ctx"]), "--lora", adapter[form]).stdout)
    # On the F32 twin both engines compute the same float model: the adapter's arithmetic alone.
    assert ppl(pair["model"]) == pytest.approx(EXPECTED["ppl_f32"], rel=0.005)
    # On Q4_1 each engine rounds activations to 8 bits its own way before every matmul; on this
    # 128-token text the base model alone already scores 1.2% apart (Jeton 16.30, llama.cpp 16.50).
    assert ppl(MODEL) == pytest.approx(EXPECTED["ppl"], rel=0.02)


def test_adapter_changes_the_model():
    base = final_ppl(jeton("perplexity", "--model", MODEL, "--file", os.path.join(FIX, "text.txt"), "-c", str(EXPECTED["ctx"])).stdout)
    assert abs(base - EXPECTED["ppl"]) > 0.1 * EXPECTED["ppl"]  # so the comparison above means something


def test_gguf_and_peft_forms_give_identical_logits(adapter, tmp_path):
    files = {}
    for form in ("gguf", "peft"):
        files[form] = tmp_path / f"{form}.kld"
        jeton("perplexity", "--model", MODEL, "--file", os.path.join(FIX, "text.txt"), "-c", str(EXPECTED["ctx"]),
              "--lora", adapter[form], "--kl-divergence-base", str(files[form]))
    a, b = files["gguf"].read_bytes(), files["peft"].read_bytes()
    assert len(a) > 100_000 and a == b


def test_greedy_as_llama_cpp(adapter):
    compared = 0
    for case in EXPECTED["greedy"]:
        ref = case["ids"][:-1] if case["ids"] and case["ids"][-1] == EOS else case["ids"]
        k = next((i for i, m in enumerate(case["margins"]) if m < NEAR_TIE), len(case["margins"]))
        for form in ("gguf", "peft"):
            ids = json.loads(jeton("generate", "--model", MODEL, "--prompt", case["prompt"], "-n", str(EXPECTED["n"]),
                                   "--output", "ids", "--lora", adapter[form]).stdout)
            assert ids[:k] == ref[:k], (case["prompt"], form, ids, ref)
            if k >= len(case["margins"]):  # no near tie at all: the same length too (both stopped at EOS, or at n)
                assert ids == ref, (case["prompt"], form)
        compared += min(k, len(ref))
    assert compared >= 30


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The F32 twin and the two adapters of expected_pair.json: the first as GGUF, the second as PEFT."""
    sys.path.insert(0, HERE)
    from float_twin import make_twin
    d = tmp_path_factory.mktemp("lora-pair")
    twin = d / "twin.gguf"
    make_twin(MODEL, str(twin))
    forms = ["gguf", "peft"]
    adapters = [make_adapter(d / f"s{a['seed']}", a["seed"], rank=a["rank"], alpha=a["alpha"])[form]
                for a, form in zip(PAIR["adapters"], forms)]
    yield {"model": str(twin), "adapters": adapters}
    twin.unlink()  # 0.5 GB


def scaled(paths, scales):
    return ["--lora-scaled", ",".join(f"{p}:{s}" for p, s in zip(paths, scales))]


def test_two_scaled_adapters_perplexity_as_llama_cpp(pair):
    scales = [a["scale"] for a in PAIR["adapters"]]
    ppl = lambda *args: final_ppl(jeton("perplexity", "--model", pair["model"], "--file", os.path.join(FIX, "text.txt"),
                                        "-c", str(PAIR["ctx"]), *args).stdout)
    # One --lora-scaled per adapter here, one list of both in the greedy test below.
    both = ppl("--lora-scaled", f"{pair['adapters'][0]}:{scales[0]}", "--lora-scaled", f"{pair['adapters'][1]}:{scales[1]}")
    assert both == pytest.approx(PAIR["ppl"], rel=0.005)
    # Each adapter and each scale counts: without either one, or at scale 1, the text scores far off.
    for i in range(2):
        alone = ppl(*scaled(pair["adapters"][i:i + 1], scales[i:i + 1]))
        assert abs(alone - PAIR["ppl"]) > 0.05 * PAIR["ppl"], (i, alone)
    assert abs(ppl("--lora", pair["adapters"][0], "--lora", pair["adapters"][1]) - PAIR["ppl"]) > 0.05 * PAIR["ppl"]


def test_two_scaled_adapters_greedy_as_llama_cpp(pair):
    """Tokens equal llama-server's until the first step where they differ, which may only be a
    near tie in llama.cpp's top two (in F32 none differed when the fixture was made)."""
    args = scaled(pair["adapters"], [a["scale"] for a in PAIR["adapters"]])
    compared = 0
    for case in PAIR["greedy"]:
        ref = case["ids"][:-1] if case["ids"] and case["ids"][-1] == EOS else case["ids"]
        ids = json.loads(jeton("generate", "--model", pair["model"], "--prompt", case["prompt"], "-n", str(PAIR["n"]),
                               "--output", "ids", *args).stdout)
        k = next((i for i, (a, b) in enumerate(zip(ids, ref)) if a != b), min(len(ids), len(ref)))
        if k < min(len(ids), len(ref)) or len(ids) != len(ref):
            assert k < len(case["margins"]) and case["margins"][k] < NEAR_TIE, (case["prompt"], k, ids, ref)
        compared += k
    assert compared >= 60


def test_bad_lora_scaled_is_refused(adapter):
    for arg in (adapter["gguf"], f"{adapter['gguf']}:x", f"{adapter['gguf']}:nan", ":1"):
        p = jeton("generate", "--model", MODEL, "--prompt", "Hi", "-n", "1", "--lora-scaled", arg, check=False)
        assert p.returncode != 0 and "--lora-scaled takes PATH:SCALE" in p.stderr, (arg, p.stderr)


def write_gguf_adapter(path, tensors, arch="llama", alpha=16.0):
    import gguf
    w = gguf.GGUFWriter(str(path), arch)
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for name, t in tensors.items():
        w.add_tensor(name, t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)


def test_mismatched_adapters_are_refused_naming_the_tensor(tmp_path):
    a, b = np.zeros((8, 576), np.float32), np.zeros((576, 8), np.float32)
    cases = [
        ({"blk.0.attn_q.weight.lora_a": np.zeros((8, 100), np.float32), "blk.0.attn_q.weight.lora_b": b}, "llama",
         "blk.0.attn_q.weight.lora_a"),
        ({"blk.0.attn_k.weight.lora_a": a, "blk.0.attn_k.weight.lora_b": b}, "llama", "blk.0.attn_k.weight.lora_b"),
        ({"blk.99.attn_q.weight.lora_a": a, "blk.99.attn_q.weight.lora_b": b}, "llama", "blk.99.attn_q.weight"),
        ({"blk.0.attn_q.weight.lora_a": a}, "llama", "blk.0.attn_q.weight.lora_a has no matching"),
        ({"blk.0.attn_q.weight.lora_a": a, "blk.0.attn_q.weight.lora_b": b}, "qwen2", "qwen2"),
    ]
    for i, (tensors, arch, named) in enumerate(cases):
        path = write_gguf_adapter(tmp_path / f"bad{i}.gguf", tensors, arch)
        p = jeton("generate", "--model", MODEL, "--prompt", "Hi", "-n", "1", "--lora", path, check=False)
        assert p.returncode != 0 and named in p.stderr, (named, p.stderr)
        assert "Fatal" not in p.stderr and "Backtrace" not in p.stderr


def test_malformed_peft_directory_is_refused(tmp_path):
    d = tmp_path / "peft"
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}))
    # A header length far past the file's end.
    (d / "adapter_model.safetensors").write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    p = jeton("generate", "--model", MODEL, "--prompt", "Hi", "-n", "1", "--lora", str(d), check=False)
    assert p.returncode != 0 and "safetensors header length" in p.stderr, p.stderr
    from safetensors.numpy import save_file
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": np.zeros((8, 576), np.float16),
               "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": np.zeros((500, 8), np.float16)},
              str(d / "adapter_model.safetensors"))
    p = jeton("generate", "--model", MODEL, "--prompt", "Hi", "-n", "1", "--lora", str(d), check=False)
    assert p.returncode != 0 and "layers.0.self_attn.q_proj.lora_B.weight" in p.stderr, p.stderr


def test_a_peft_config_field_of_the_wrong_type_is_refused(tmp_path):
    """lora_alpha or use_rslora of the wrong type (a string) would silently change the scale: refused, named."""
    from safetensors.numpy import save_file
    d = tmp_path / "peft"
    d.mkdir()
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": np.zeros((8, 576), np.float16),
               "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": np.zeros((576, 8), np.float16)},
              str(d / "adapter_model.safetensors"))
    for config, named in [({"r": 8, "lora_alpha": "16"}, "lora_alpha"), ({"r": 8, "lora_alpha": 16, "use_rslora": "yes"}, "use_rslora"),
                          ({"r": 8.5, "lora_alpha": 16}, "r must be"), ({"r": 8, "lora_alpha": True}, "lora_alpha"),
                          ({"r": 8, "lora_alpha": 16, "use_rslora": 1}, "use_rslora"), ({"r": True, "lora_alpha": 16}, "r must be")]:
        (d / "adapter_config.json").write_text(json.dumps(dict(config, target_modules=["q_proj"])))
        p = jeton("generate", "--model", MODEL, "--prompt", "Hi", "-n", "1", "--lora", str(d), check=False)
        assert p.returncode != 0 and named in p.stderr, (config, p.stderr)
    # Absent, lora_alpha is PEFT's default (8), and null is absent: both load.
    for config in ({"r": 8}, {"r": 8, "lora_alpha": None, "use_rslora": None}):
        (d / "adapter_config.json").write_text(json.dumps(dict(config, target_modules=["q_proj"])))
        jeton("generate", "--model", MODEL, "--prompt", "Hi", "-n", "1", "--lora", str(d))


def test_serving_an_adapter_as_a_model_says_what_it_is(adapter):
    """An adapter GGUF given as the model stops start-up before the port opens, saying how to serve it."""
    p = jeton("serve", "--model", adapter["gguf"], "--port", "0", check=False)
    assert p.returncode != 0 and "is a LoRA adapter, not a model" in p.stderr and "--lora NAME=PATH" in p.stderr, p.stderr[-500:]
    assert "listening" not in p.stdout + p.stderr
    for command in (["generate", "--prompt", "Hi", "-n", "1"], ["bench", "-p", "8", "-n", "0", "-r", "1"]):
        p = jeton(*command, "--model", adapter["gguf"], check=False)
        assert p.returncode != 0 and "is a LoRA adapter, not a model" in p.stderr, (command, p.stderr[-500:])
    # An adapter named as the model answers to, or a model given as an adapter: refused before listening.
    for lora, needle in [(f"default={adapter['gguf']}", "default is a name of the served model"),
                         (f"smollm2-135m-instruct={adapter['gguf']}", "is a name of the served model"),
                         (f"x={MODEL}", "is a model, not a LoRA adapter")]:
        p = jeton("serve", "--model", MODEL, "--port", "0", "--lora", lora, check=False)
        assert p.returncode != 0 and needle in p.stderr and "listening" not in p.stdout + p.stderr, (lora, p.stderr[-500:])


def test_list_shows_an_adapter_in_the_cache_as_an_adapter(adapter, tmp_path):
    """`jeton list` marks a LoRA adapter GGUF in the model cache as one, not as a model to serve."""
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(adapter["gguf"], models / "my-lora.gguf")
    os.symlink(MODEL, models / "mine.gguf")
    lines = jeton("list", env_models=str(models)).stdout.splitlines()
    lora = next(l for l in lines if l.startswith("my-lora.gguf "))
    assert "LoRA adapter" in lora and "--lora" in lora, lora
    mine = next(l for l in lines if l.startswith("mine.gguf "))
    assert "adapter" not in mine and "Q4_1" in mine.split(), mine
