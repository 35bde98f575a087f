#!/usr/bin/env python3
"""Writes llama.cpp's perplexity and greedy tokens for SmolLM2 with random adapters of
make_lora_adapter.py, which test_lora.py compares Jeton with:

  python3 Tests/cli/make_lora_fixtures.py [LLAMA_CPP_BIN]          Fixtures/lora/expected.json
  python3 Tests/cli/make_lora_fixtures.py [LLAMA_CPP_BIN] --pair   Fixtures/lora/expected_pair.json

expected.json: one adapter (seed 1, rank 8, alpha 16) at scale 1, `--lora adapter.gguf`.
expected_pair.json: two adapters summed, seed 1 (rank 8, alpha 16) at scale 0.75 and seed 2
(rank 16, alpha 32) at scale 0.5, `--lora-scaled s1.gguf:0.75,s2.gguf:0.5`, on SmolLM2's F32 twin
(float_twin.py): with Q4_1 weights the two engines round activations differently before each matmul,
which alone moves this short text's perplexity by ~1% (the base model's too: 16.30 against
16.50); in F32 they agree to 0.01%, so what is compared is the adapters' arithmetic.
llama-perplexity -c 128 scores Fixtures/lora/text.txt with the adapters; llama-server with the same
adapter flags answers /completion greedily (temperature 0, 16 tokens) for each prompt. The adapters
are remade from their seeds here and in the test, so nothing binary is committed.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from float_twin import make_twin  # noqa: E402
from llama_perplexity import run_llama_perplexity  # noqa: E402

MODEL = os.path.expanduser("~/.cache/jeton/models/SmolLM2-135M-Instruct.Q4_1.gguf")
BIN = os.path.expanduser("~/.cache/jeton/llama.cpp/llama_cpp_python-0.3.36/vendor/llama.cpp/build/bin")
FIX = os.path.join(HERE, "Fixtures", "lora")
CTX, N = 128, 16
SINGLE = [{"seed": 1, "rank": 8, "alpha": 16.0, "scale": 1.0}]
PAIR = [{"seed": 1, "rank": 8, "alpha": 16.0, "scale": 0.75}, {"seed": 2, "rank": 16, "alpha": 32.0, "scale": 0.5}]
PROMPTS = ["The capital of France is", "Once upon a time, in a small village,", "def fibonacci(n):",
           "The three primary colors are", "Water boils at a temperature of", "My favourite recipe for pancakes",
           "The largest planet in the solar system is"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read())


def adapter_flags(files, specs):
    """llama.cpp's flags for the adapters: --lora at scale 1 alone, else --lora-scaled FILE:SCALE,..."""
    if len(specs) == 1 and specs[0]["scale"] == 1:
        return ["--lora", files[0]]
    return ["--lora-scaled", ",".join(f"{f}:{a['scale']}" for f, a in zip(files, specs))]


def main():
    pair = "--pair" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--pair"]
    bindir = args[0] if args else BIN
    specs = PAIR if pair else SINGLE
    with tempfile.TemporaryDirectory() as tmp:
        model = MODEL
        if pair:
            model = os.path.join(tmp, "SmolLM2-135M-Instruct.F32-twin.gguf")
            make_twin(MODEL, model)
        files = []
        for a in specs:
            out = os.path.join(tmp, f"s{a['seed']}")
            subprocess.run([sys.executable, os.path.join(HERE, "make_lora_adapter.py"), "--model", MODEL,
                            "--seed", str(a["seed"]), "--rank", str(a["rank"]), "--alpha", str(a["alpha"]),
                            "--out", out], check=True)
            files.append(os.path.join(out, "adapter.gguf"))
        flags = adapter_flags(files, specs)
        ppl_args = ["-m", model, "-f", os.path.join(FIX, "text.txt"), "-c", str(CTX), "-b", str(CTX), "-t", "2", *flags]
        out = run_llama_perplexity(bindir, ppl_args, until=r"Final estimate")
        ppl = float(re.search(r"Final estimate: PPL = (\S+)", out).group(1))
        ppl_f32, twin_args = None, None
        if not pair:
            # The same adapter on the F32 twin too: there the engines compute the same float model,
            # so the adapter's arithmetic is compared without 8-bit activation rounding in between.
            twin = os.path.join(tmp, "SmolLM2-135M-Instruct.F32-twin.gguf")
            make_twin(MODEL, twin)
            twin_args = ["-m", twin, *ppl_args[2:]]
            out = run_llama_perplexity(bindir, twin_args, until=r"Final estimate")
            ppl_f32 = float(re.search(r"Final estimate: PPL = (\S+)", out).group(1))

        port = free_port()
        server = subprocess.Popen([os.path.join(bindir, "llama-server"), "-m", model, *flags, "--port", str(port),
                                   "-t", "2", "-c", "512", "-np", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                    break
                except Exception:
                    time.sleep(1)
            # The server holds the adapters at the scales asked for.
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/lora-adapters", timeout=10) as r:
                loaded = json.loads(r.read())
            assert [round(x["scale"], 4) for x in loaded] == [a["scale"] for a in specs], loaded
            greedy = []
            for p in PROMPTS:
                # No ignore_eos: llama-server's masks the end-of-generation tokens' logits, Jeton's keeps
                # them; both stop at one instead. n_probs gives the top-2 margin of each step, so the
                # test can stop comparing at a near tie, where 8-bit rounding may pick either.
                r = post(port, "/completion", {"prompt": p, "n_predict": N, "temperature": 0, "top_k": 1,
                                               "cache_prompt": False, "return_tokens": True, "n_probs": 2})
                margins = [round(c["top_logprobs"][0]["logprob"] - c["top_logprobs"][1]["logprob"], 4)
                           for c in r["completion_probabilities"]]
                greedy.append({"prompt": p, "ids": r["tokens"], "text": r["content"], "margins": margins})
        finally:
            server.terminate()
            server.wait()

    def shown(a):
        for f in files:
            a = a.replace(f, os.path.basename(os.path.dirname(f)) + ".gguf" if pair else "adapter.gguf")
        return a.replace(model, os.path.basename(model)).replace(HERE + "/", "Tests/cli/")

    flags_shown = " ".join(shown(a) for a in flags)
    expected = {"seed": specs[0]["seed"], "ctx": CTX, "ppl": ppl, "n": N, "greedy": greedy,
                "made_by": "llama.cpp from llama-cpp-python 0.3.36: llama-perplexity " + " ".join(shown(a) for a in ppl_args)
                + f"; llama-server -m {os.path.basename(model)} {flags_shown}, POST /completion "
                  "{temperature: 0, top_k: 1, n_predict: 16, n_probs: 2} (Tests/cli/make_lora_fixtures.py"
                  + (" --pair)" if pair else ")")}
    if not pair:
        expected["ppl_f32"] = ppl_f32
        expected["made_by_f32"] = ("llama-perplexity " + " ".join(shown(a) for a in twin_args)).replace(
            os.path.join(tmp, "SmolLM2-135M-Instruct.F32-twin.gguf"), "SmolLM2-135M-Instruct.F32-twin.gguf")
    if pair:
        expected = {"adapters": specs, "model": "F32 twin of SmolLM2-135M-Instruct.Q4_1.gguf (float_twin.py)",
                    **{k: v for k, v in expected.items() if k != "seed"}}
    with open(os.path.join(FIX, "expected_pair.json" if pair else "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main()
