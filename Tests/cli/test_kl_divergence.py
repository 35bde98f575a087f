"""`jeton perplexity -c`, `--kl-divergence-base` and `--kl-divergence` beside llama.cpp's llama-perplexity.

Fixtures (Fixtures/kld, from make_kld_fixtures.py) were written by llama-perplexity on the tiny
llama-spm model's F32 twin; the twins themselves are made here with float_twin.py (the gguf
package), byte for byte as the generator made them. The direction Jeton → llama.cpp runs
llama-perplexity itself, found in $LLAMA_CPP_BIN or where benchmarks/llama-cpp.sh builds it,
and is skipped when it is not built.
"""
import json
import os
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest

from float_twin import make_twin
from llama_perplexity import run_llama_perplexity
from make_kld_fixtures import kld_figures, llama_bin

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
JETON = os.environ.get("JETON_BIN", os.path.join(ROOT, ".build", "debug", "jeton"))
FIX = os.path.join(HERE, "Fixtures", "kld")
TINY_DIR = os.path.join(ROOT, "Tests", "ModelTests", "Fixtures", "tiny")
TINY = os.path.join(TINY_DIR, "llama-spm.tiny.gguf")
TEXT = os.path.join(FIX, "tiny.txt")
BASE = os.path.join(FIX, "llama-spm.f32.base.kld")
with open(os.path.join(FIX, "expected.json")) as f:
    EXPECTED = json.load(f)
CHUNK_ARGS = ("-c", str(EXPECTED["ctx"]), "--chunks", str(EXPECTED["chunks"]))


def jeton(*args, check=True):
    p = subprocess.run([JETON, *args], capture_output=True, text=True, timeout=600)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def final_ppl(out):
    return float(re.search(r"Final estimate: PPL = (\S+)", out).group(1))


def header_and_tokens(path):
    with open(path, "rb") as f:
        data = f.read()
    n_ctx, n_vocab, n_chunk = struct.unpack_from("<Iii", data, 8)
    end = 20 + 4 * n_ctx * n_chunk
    return data[:end], data[end:], n_vocab


def log_probs(rows, n_vocab):
    """Decoded rows of a base file: [positions, n_vocab] log-probabilities (llama.cpp's format)."""
    nv = 2 * ((n_vocab + 1) // 2) + 4
    r = np.frombuffer(rows, dtype="<u2").reshape(-1, nv)
    head = r[:, :4].copy().view("<f4")  # scale, min log-probability
    return head[:, :1] * r[:, 4:4 + n_vocab].astype(np.float32) + head[:, 1:2]


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    d = tmp_path_factory.mktemp("twins")
    out = {}
    for t in ("f32", "f16"):
        out[t] = str(d / f"llama-spm.{t}.gguf")
        make_twin(TINY, out[t], t)
    return out


def test_chunks_and_base_file_as_llama_perplexity(twins, tmp_path):
    # The F32 twin runs on the float kernels; same tokens, BOS and scored positions as llama.cpp.
    mine = tmp_path / "jeton.kld"
    out = jeton("perplexity", "--model", twins["f32"], "--file", TEXT, *CHUNK_ARGS, "--kl-divergence-base", str(mine)).stdout
    assert final_ppl(out) == pytest.approx(EXPECTED["ppl_f32_twin"], rel=1e-4)
    head, rows, n_vocab = header_and_tokens(mine)
    ref_head, ref_rows, _ = header_and_tokens(BASE)
    assert head == ref_head  # magic, n_ctx, n_vocab, n_chunk and every token, byte for byte
    assert len(rows) == len(ref_rows)
    a, b = log_probs(rows, n_vocab), log_probs(ref_rows, n_vocab)
    assert np.max(np.abs(a - b)) < 1e-3  # the codes' step is 16/65535 nats
    assert (a.argmax(axis=1) == b.argmax(axis=1)).mean() == 1.0


def test_f16_twin_and_whole_text_mode(twins):
    out = jeton("perplexity", "--model", twins["f16"], "--file", TEXT, *CHUNK_ARGS).stdout
    assert final_ppl(out) == pytest.approx(EXPECTED["ppl_f16_twin"], rel=1e-3)
    # Without -c the file is still one sequence, scored from its second token.
    whole = jeton("perplexity", "--model", twins["f32"], "--file", TEXT, check=False)
    assert whole.returncode != 0 and "more than the context" in whole.stderr  # 755 tokens, context 256


def test_jeton_reads_a_llama_cpp_base(twins):
    for model, key in ((twins["f32"], "f32_twin_vs_base"), (TINY, "quantized_vs_base")):
        out = jeton("perplexity", "--model", model, "--kl-divergence-base", BASE, "--kl-divergence", "--file", TEXT).stdout
        mine, ref = kld_figures(out), EXPECTED[key]
        assert mine["ppl_base"] == pytest.approx(ref["ppl_base"], abs=2e-6)  # from the file alone
        assert mine["ppl_q"] == pytest.approx(ref["ppl_q"], rel=1e-4)
        assert mine["mean_kld"] <= max(ref["mean_kld"], 0) + 1e-5
        assert mine["same_top_p"] >= ref["same_top_p"] - 0.6  # at most one of 189 positions
        assert "Maximum KLD:" in out and "99.0%   KLD:" in out and "RMS Δp    :" in out


def test_llama_cpp_reads_a_jeton_base(twins, tmp_path):
    if not os.access(os.path.join(llama_bin(), "llama-perplexity"), os.X_OK):
        pytest.skip("llama-perplexity is not built (benchmarks/llama-cpp.sh llama-perplexity, or set LLAMA_CPP_BIN)")
    mine = tmp_path / "jeton.kld"
    ppl = final_ppl(jeton("perplexity", "--model", twins["f32"], "--file", TEXT, *CHUNK_ARGS,
                          "--kl-divergence-base", str(mine)).stdout)
    for model in (twins["f32"], TINY):
        out = run_llama_perplexity(llama_bin(), ["-m", model, "-t", "2", "-c", str(EXPECTED["ctx"]), "-b", str(EXPECTED["ctx"]),
                                                 "--kl-divergence-base", str(mine), "--kl-divergence"], "Same top p:")
        assert "failed reading" not in out and "does not look like" not in out, out[-2000:]
        figures = kld_figures(out)
        assert figures["ppl_base"] == pytest.approx(ppl, rel=1e-4)
        assert abs(figures["mean_kld"]) <= 2e-5
        assert figures["same_top_p"] == 100.0


def test_self_comparison_gives_zero(tmp_path):
    # The default model (real, peaked distributions) against its own saved distributions.
    text = tmp_path / "text.txt"
    shutil.copy(TEXT, text)
    base = tmp_path / "self.kld"
    jeton("perplexity", "--model", "default", "--file", str(text), "-c", "128", "--chunks", "2",
          "--kl-divergence-base", str(base))
    out = jeton("perplexity", "--model", "default", "--kl-divergence-base", str(base), "--kl-divergence",
                "--file", str(text)).stdout
    figures = kld_figures(out)
    assert abs(figures["mean_kld"]) <= 1e-5, out
    assert abs(figures["max_kld"]) <= 1e-3, out
    assert figures["same_top_p"] == 100.0, out
    assert figures["ppl_q"] == pytest.approx(figures["ppl_base"], rel=1e-4)


def refused(*args):
    p = jeton("perplexity", *args, check=False)
    assert p.returncode != 0, p.stdout
    assert "Fatal error" not in p.stderr and "Stack dump" not in p.stderr, p.stderr
    return p.stderr


def test_mismatches_and_bad_files_are_refused(twins, tmp_path):
    kl = ("--kl-divergence-base", BASE, "--kl-divergence")
    other_vocab = os.path.join(TINY_DIR, "qwen2.tiny.gguf")
    assert "vocabulary" in refused("--model", other_vocab, *kl)
    other_text = tmp_path / "other.txt"
    other_text.write_text("A different text entirely. " * 120)
    assert "tokenizes differently" in refused("--model", TINY, *kl, "--file", str(other_text))
    short_text = tmp_path / "short.txt"
    with open(TEXT) as f:
        short_text.write_text(f.read()[:600])
    assert "fewer than" in refused("--model", TINY, *kl, "--file", str(short_text))
    assert "-c 64 differs" in refused("--model", TINY, *kl, "-c", "64")

    with open(BASE, "rb") as f:
        good = f.read()
    no_bos = tmp_path / "no-bos.kld"
    no_bos.write_bytes(good[:20] + struct.pack("<i", 5) + good[24:])  # first token 5, not BOS (1)
    assert "BOS" in refused("--model", TINY, "--kl-divergence-base", str(no_bos), "--kl-divergence")
    truncated = tmp_path / "truncated.kld"
    truncated.write_bytes(good[:-100])
    assert "truncated" in refused("--model", TINY, "--kl-divergence-base", str(truncated), "--kl-divergence")
    huge = tmp_path / "huge.kld"
    huge.write_bytes(b"_logits_" + struct.pack("<Iii", 0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF) + b"\0" * 64)
    assert "impossible header" in refused("--model", TINY, "--kl-divergence-base", str(huge), "--kl-divergence")
    bad_token = tmp_path / "bad-token.kld"
    bad_token.write_bytes(good[:24] + struct.pack("<i", 9999) + good[28:])
    assert "outside its vocabulary" in refused("--model", TINY, "--kl-divergence-base", str(bad_token), "--kl-divergence")
    junk = tmp_path / "junk.kld"
    junk.write_bytes(b"not a logits file at all")
    assert "_logits_" in refused("--model", TINY, "--kl-divergence-base", str(junk), "--kl-divergence")
    assert "cannot read" in refused("--model", TINY, "--kl-divergence-base", str(tmp_path / "none.kld"), "--kl-divergence")

    assert "--kl-divergence-base" in refused("--model", TINY, "--kl-divergence")
    assert "at least 3" in refused("--model", TINY, "--file", TEXT, "-c", "2")
    assert "exceed the model's context" in refused("--model", TINY, "--file", TEXT, "-c", "512")
    assert "need at least 512" in refused("--model", TINY, "--file", str(short_text), "-c", "256")
    unwritable = tmp_path / "no-such-dir" / "base.kld"
    assert "cannot write" in refused("--model", TINY, "--file", TEXT, *CHUNK_ARGS, "--kl-divergence-base", str(unwritable))
