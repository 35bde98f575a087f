"""`jeton embed`: one JSON unit vector per input line, on the tiny random nomic-bert (Tests/ModelTests/Fixtures/tiny,
context 64) and, when pulled, on nomic-embed-text-v1.5 against llama.cpp's vectors."""
import base64
import json
import os
import subprocess

import numpy as np
import pytest

from test_cli import JETON, MODELS, ROOT, run

TINY = os.path.join(ROOT, "Tests", "ModelTests", "Fixtures", "tiny", "nomic-bert.tiny.gguf")


def vectors(out):
    return [np.array(json.loads(l)) for l in out.splitlines()]


def test_one_unit_vector_per_line(tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("the hello, world\n\nhello world!\r\nthe\n")
    vs = vectors(run("embed", "--model", TINY, "--file", str(f)).stdout)
    assert len(vs) == 3  # the empty line is skipped
    for v in vs:
        assert v.shape == (64,) and abs(np.linalg.norm(v) - 1) < 1e-5
    # A line's vector does not depend on the lines around it.
    f.write_text("hello world!\n")
    assert np.array_equal(vectors(run("embed", "--model", TINY, "--file", str(f)).stdout)[0], vs[1])
    # Standard input works too.
    p = subprocess.run([JETON, "embed", "--model", TINY, "--file", "-"], input="the\n", capture_output=True, text=True, check=True)
    assert np.array_equal(vectors(p.stdout)[0], vs[2])


def test_blank_lines_are_no_input_and_messages_give_the_files_line_numbers(tmp_path):
    f = tmp_path / "in.txt"
    # LF, CRLF and a lone CR end lines; lines of only white space are skipped.
    f.write_bytes(b"the\r\n \t\n\rhello world!\rthe\n")
    assert len(vectors(run("embed", "--model", TINY, "--file", str(f)).stdout)) == 3
    f.write_text("\n   \nhello\n" + "hello " * 100 + "\n")
    p = run("embed", "--model", TINY, "--file", str(f), check=False)
    assert p.returncode != 0 and "line 4 has 102 tokens" in p.stderr, p.stderr
    f.write_text(" \n\t\n")
    p = run("embed", "--model", TINY, "--file", str(f))
    assert p.stdout == "" and "no line with text" in p.stderr


def test_too_long_lines_fail_or_are_truncated(tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("hello\n" + "hello " * 100 + "\n")
    p = run("embed", "--model", TINY, "--file", str(f), check=False)
    assert p.returncode != 0 and "line 2 has 102 tokens" in p.stderr and "--truncate" in p.stderr
    vs = vectors(run("embed", "--model", TINY, "--file", str(f), "--truncate").stdout)
    assert len(vs) == 2


def test_a_generation_model_is_refused(tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("hello\n")
    p = run("embed", "--model", os.path.join(ROOT, "Tests", "ModelTests", "Fixtures", "tiny", "qwen2.tiny.gguf"),
            "--file", str(f), check=False)
    assert p.returncode != 0 and "embedding model" in p.stderr and "qwen2" in p.stderr


def test_nomic_matches_llama_cpp(tmp_path):
    if not os.path.exists(os.path.join(MODELS, "nomic-embed-text-v1.5.f16.gguf")):
        pytest.skip("nomic-embed-text-v1.5 not downloaded (jeton pull nomic-embed-text-v1.5)")
    fixture = os.path.join(ROOT, "Tests", "ModelTests", "Fixtures", "nomic", "llama_cpp_embeddings.jsonl")
    rows = [json.loads(l) for l in open(fixture, encoding="utf-8")]
    rows = [r for r in rows if r["text"] and len(r["ids"]) <= 64]
    # Where llama.cpp's WordPiece departs from the model's own (Hugging Face) tokenizer, Jeton follows
    # Hugging Face (Tests/TokenizerTests/WordPieceTests): Indic and Korean letters, words over 100 characters.
    def departs(text):
        return any(0x0900 <= ord(c) <= 0x0DFF or 0xAC00 <= ord(c) <= 0xD7AF for c in text) or any(len(w) > 100 for w in text.split())
    kept = [r for r in rows if not departs(r["text"])]
    assert len(rows) - len(kept) == 1
    rows = kept
    f = tmp_path / "in.txt"
    f.write_text("".join(r["text"] + "\n" for r in rows), encoding="utf-8")
    vs = vectors(run("embed", "--model", "nomic-embed-text-v1.5", "--file", str(f)).stdout)
    assert len(vs) == len(rows)
    for r, v in zip(rows, vs):
        ref = np.frombuffer(base64.b64decode(r["embedding_f16"]), dtype="<f2").astype(np.float64)
        assert float(v @ ref / np.linalg.norm(v) / np.linalg.norm(ref)) >= 0.9999, r["text"]


def test_serve_warns_when_the_context_asked_is_longer_than_trained():
    # The tiny nomic-bert was trained for 64 positions: 256 asked is 64 used, and the log says so.
    p = subprocess.Popen([JETON, "serve", "--model", TINY, "--context-length", "256", "--port", "0", "--host", "127.0.0.1"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    import threading
    timer = threading.Timer(30, p.kill)  # the log ends there at the latest
    timer.start()
    lines = []
    try:
        for line in p.stdout:
            lines.append(line)
            if "longer than" in line or "error" in line or len(lines) > 40:
                break
    finally:
        timer.cancel()
        p.kill()
        p.wait()
    log = "".join(lines)
    assert "context_length 256 is longer than the model was trained for; using 64" in log, log
