#!/usr/bin/env python3
"""Writes Fixtures/lora/expected.json: llama.cpp's perplexity and greedy tokens for SmolLM2 with the
random adapter of make_lora_adapter.py (seed 1), which test_lora.py compares Jeton with.

  python3 Tests/cli/make_lora_fixtures.py [LLAMA_CPP_BIN]

llama-perplexity -c 128 scores Fixtures/lora/text.txt with --lora adapter.gguf; llama-server
--lora adapter.gguf answers /completion greedily (temperature 0, 16 tokens, EOS ignored) for each
prompt. The adapter is remade from its seed here and in the test, so nothing binary is committed.
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
from llama_perplexity import run_llama_perplexity  # noqa: E402

MODEL = os.path.expanduser("~/.cache/jeton/models/SmolLM2-135M-Instruct.Q4_1.gguf")
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser(
    "~/.cache/jeton/llama.cpp/llama_cpp_python-0.3.36/vendor/llama.cpp/build/bin")
FIX = os.path.join(HERE, "Fixtures", "lora")
SEED, CTX, N = 1, 128, 16
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


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(HERE, "make_lora_adapter.py"), "--model", MODEL,
                        "--seed", str(SEED), "--out", tmp], check=True)
        adapter = os.path.join(tmp, "adapter.gguf")
        ppl_args = ["-m", MODEL, "-f", os.path.join(FIX, "text.txt"), "-c", str(CTX), "-b", str(CTX), "-t", "2",
                    "--lora", adapter]
        out = run_llama_perplexity(BIN, ppl_args, until=r"Final estimate")
        ppl = float(re.search(r"Final estimate: PPL = (\S+)", out).group(1))

        port = free_port()
        server = subprocess.Popen([os.path.join(BIN, "llama-server"), "-m", MODEL, "--lora", adapter, "--port", str(port),
                                   "-t", "2", "-c", "512", "-np", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                    break
                except Exception:
                    time.sleep(1)
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

    expected = {"seed": SEED, "ctx": CTX, "ppl": ppl, "n": N, "greedy": greedy,
                "made_by": "llama.cpp from llama-cpp-python 0.3.36: llama-perplexity " + " ".join(
                    a if a != adapter else "adapter.gguf" for a in ppl_args).replace(MODEL, "SmolLM2-135M-Instruct.Q4_1.gguf").replace(HERE + "/", "Tests/cli/")
                + "; llama-server -m SmolLM2-135M-Instruct.Q4_1.gguf --lora adapter.gguf, POST /completion "
                  "{temperature: 0, top_k: 1, n_predict: 16, n_probs: 2} (Tests/cli/make_lora_fixtures.py)"}
    with open(os.path.join(FIX, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main()
