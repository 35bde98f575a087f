#!/usr/bin/env python3
"""Fixtures for test_kl_divergence.py, made by llama.cpp's llama-perplexity (never by Jeton).

On the tiny llama-spm model (Tests/ModelTests/Fixtures/tiny) and its float twins (float_twin.py),
over Tests/cli/Fixtures/kld/tiny.txt in chunks of 128 tokens (3 chunks, one sequence per batch):

  llama-spm.f32.base.kld   llama-perplexity --kl-divergence-base, from the F32 twin
  expected.json            llama-perplexity's figures: the chunked perplexity of both twins, and its
                           --kl-divergence statistics of the twin and of the quantized file against
                           the base above

    python3 Tests/cli/make_kld_fixtures.py [PATH/TO/llama.cpp/build/bin]

The folder defaults to $LLAMA_CPP_BIN, then to where benchmarks/llama-cpp.sh builds llama.cpp.
"""
import json
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "Fixtures", "kld")
TINY = os.path.join(ROOT, "Tests", "ModelTests", "Fixtures", "tiny", "llama-spm.tiny.gguf")
TEXT = os.path.join(OUT, "tiny.txt")
CTX, CHUNKS = 128, 3

sys.path.insert(0, HERE)
from float_twin import make_twin  # noqa: E402
from llama_perplexity import run_llama_perplexity  # noqa: E402


def llama_bin():
    """llama.cpp's build/bin folder: $LLAMA_CPP_BIN, else where benchmarks/llama-cpp.sh builds it."""
    return os.environ.get("LLAMA_CPP_BIN") or os.path.expanduser(
        "~/.cache/jeton/llama.cpp/llama_cpp_python-0.3.36/vendor/llama.cpp/build/bin")


def perplexity(bindir, *args, until="Final estimate|Same top p:"):
    """llama-perplexity's output, one sequence per batch as Jeton evaluates chunks."""
    return run_llama_perplexity(bindir, ["-t", "2", "-c", str(CTX), "-b", str(CTX), *args], until)


def kld_figures(out):
    """The summary lines of llama-perplexity --kl-divergence, as numbers."""
    pick = {
        "ppl_q": r"Mean PPL\(Q\)\s+:\s+(\S+)",
        "ppl_base": r"Mean PPL\(base\)\s+:\s+(\S+)",
        "mean_kld": r"Mean    KLD:\s+(\S+)",
        "max_kld": r"Maximum KLD:\s+(\S+)",
        "kld_99": r"99\.0%   KLD:\s+(\S+)",
        "same_top_p": r"Same top p:\s+(\S+)",
    }
    return {k: float(re.search(v, out).group(1)) for k, v in pick.items()}


def main():
    bindir = sys.argv[1] if len(sys.argv) > 1 else llama_bin()
    with tempfile.TemporaryDirectory() as d:
        twin32, twin16 = os.path.join(d, "f32.gguf"), os.path.join(d, "f16.gguf")
        make_twin(TINY, twin32, "f32")
        make_twin(TINY, twin16, "f16")
        base = os.path.join(OUT, "llama-spm.f32.base.kld")
        final = r"Final estimate: PPL = (\S+)"
        ppl32 = float(re.search(final, perplexity(bindir, "-m", twin32, "-f", TEXT, "--chunks", str(CHUNKS),
                                                  "--kl-divergence-base", base)).group(1))
        ppl16 = float(re.search(final, perplexity(bindir, "-m", twin16, "-f", TEXT, "--chunks", str(CHUNKS))).group(1))
        twin_vs_base = kld_figures(perplexity(bindir, "-m", twin32, "--kl-divergence-base", base, "--kl-divergence"))
        quant_vs_base = kld_figures(perplexity(bindir, "-m", TINY, "--kl-divergence-base", base, "--kl-divergence"))
    expected = {
        "ctx": CTX, "chunks": CHUNKS,
        "ppl_f32_twin": ppl32, "ppl_f16_twin": ppl16,
        "f32_twin_vs_base": twin_vs_base, "quantized_vs_base": quant_vs_base,
        "made_by": "llama-perplexity from llama-cpp-python 0.3.36 (Tests/cli/make_kld_fixtures.py)",
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main()
