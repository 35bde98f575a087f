"""LoRA adapters in `jeton perplexity` / `jeton generate --lora`, beside llama.cpp with --lora.

The adapter is random (make_lora_adapter.py, seed 1), remade here in both forms: a llama.cpp GGUF
adapter and a PEFT directory (safetensors, Hugging Face names, unpermuted q/k). Fixtures/lora/
expected.json holds what llama.cpp made of the GGUF form (make_lora_fixtures.py, run once).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
JETON = os.environ.get("JETON_BIN", os.path.join(ROOT, ".build", "debug", "jeton"))
MODELS = os.environ.get("JETON_MODELS", os.path.expanduser("~/.cache/jeton/models"))
MODEL = os.path.join(MODELS, "SmolLM2-135M-Instruct.Q4_1.gguf")
FIX = os.path.join(HERE, "Fixtures", "lora")
with open(os.path.join(FIX, "expected.json")) as f:
    EXPECTED = json.load(f)
EOS = 2  # <|im_end|>: llama-server returns it as the last token; Jeton stops before it
NEAR_TIE = 0.2  # nats between llama.cpp's top two: 8-bit rounding may pick either beyond it

pytestmark = pytest.mark.skipif(not os.path.exists(MODEL), reason="SmolLM2 is not downloaded (jeton pull default)")


def jeton(*args, check=True):
    p = subprocess.run([JETON, *args], capture_output=True, text=True, timeout=900)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def make_adapter(out, seed, **kw):
    extra = [a for k, v in kw.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    subprocess.run([sys.executable, os.path.join(HERE, "make_lora_adapter.py"), "--model", MODEL, "--seed", str(seed),
                    "--out", str(out), *extra], check=True)
    return {"gguf": str(out / "adapter.gguf"), "peft": str(out / "peft")}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    return make_adapter(tmp_path_factory.mktemp("lora"), EXPECTED["seed"])


def final_ppl(out):
    return float(out.split("Final estimate: PPL = ")[1].split()[0])


@pytest.mark.parametrize("form", ["gguf", "peft"])
def test_perplexity_as_llama_cpp(adapter, form):
    out = jeton("perplexity", "--model", MODEL, "--file", os.path.join(FIX, "text.txt"), "-c", str(EXPECTED["ctx"]),
                "--lora", adapter[form]).stdout
    assert final_ppl(out) == pytest.approx(EXPECTED["ppl"], rel=0.005)


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
