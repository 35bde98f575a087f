"""The `jeton` commands as a user runs them, against reference data from other engines."""
import json
import re
import os
import shutil
import subprocess
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JETON = os.environ.get("JETON_BIN", os.path.join(ROOT, ".build", "debug", "jeton"))
FIXTURES = os.path.join(ROOT, "Tests", "ModelTests", "Fixtures")
MODELS = os.environ.get("JETON_MODELS", os.path.expanduser("~/.cache/jeton/models"))
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def run(*args, env=None, check=True):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([JETON, *args], capture_output=True, text=True, env=e, timeout=600)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_tokenize_matches_reference(tmp_path):
    with open(os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures", "tokenize.jsonl")) as f:
        cases = [json.loads(l) for l in f if l.strip()]
    for i, c in enumerate(cases):
        path = tmp_path / f"t{i}.txt"
        path.write_bytes(c["text"].encode())
        out = run("tokenize", "--model", "default", "--file", str(path)).stdout
        assert json.loads(out) == c["ids"], c["text"]


def test_a_file_that_is_not_a_model_is_named(tmp_path):
    # generate --lora with a bad adapter said only "not a GGUF file": model or adapter?
    bad = tmp_path / "notes.gguf"
    bad.write_text("root:x:0:0:root:/root:/bin/bash\n" * 100)
    for args in (["generate", "--model", str(bad), "--prompt", "hi", "-n", "2"],
                 ["tokenize", "--model", str(bad), "--file", str(bad)],
                 ["bench", "--model", str(bad), "-p", "8", "-n", "2", "-r", "1"]):
        p = run(*args, check=False)
        assert p.returncode == 1 and f"{bad}: not a GGUF file" in p.stderr, (args, p.stderr)
    p = run("generate", "--model", "default", "--prompt", "hi", "-n", "2", "--lora", str(bad), check=False)
    assert p.returncode == 1 and f"LoRA adapter {bad}: not a GGUF file" in p.stderr, p.stderr


def test_perplexity_of_a_file_too_short_is_a_plain_error(tmp_path):
    # It printed the root command's usage, as if the command line were wrong.
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    p = run("perplexity", "--model", "default", "--file", str(empty), check=False)
    assert p.returncode == 1 and "must give at least two tokens" in p.stderr and "Usage" not in p.stderr, p.stderr


def test_tokenize_reads_stdin_and_a_missing_file_is_a_plain_error(tmp_path):
    with open(os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures", "tokenize.jsonl")) as f:
        case = next(json.loads(l) for l in f if l.strip())
    p = subprocess.run([JETON, "tokenize", "--model", "default", "--file", "-"], input=case["text"].encode(),
                       capture_output=True, timeout=600)
    assert p.returncode == 0 and json.loads(p.stdout) == case["ids"], p.stderr
    missing = run("tokenize", "--model", "default", "--file", str(tmp_path / "none.txt"), check=False)
    assert missing.returncode == 1, (missing.returncode, missing.stderr)  # not the usage error's 64
    assert "cannot read" in missing.stderr and "no such file" in missing.stderr and "Usage" not in missing.stderr
    # A pipe (bash's <(…) is /dev/fd/N) is read to its end; a directory is a plain error, not a crash.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(case["text"].encode()))
    writer.start()
    piped = run("tokenize", "--model", "default", "--file", str(fifo))
    writer.join()
    assert json.loads(piped.stdout) == case["ids"]
    folder = run("tokenize", "--model", "default", "--file", str(tmp_path), check=False)
    assert folder.returncode == 1 and "not a readable file" in folder.stderr, (folder.returncode, folder.stderr[-300:])


def test_perplexity_within_one_percent(tmp_path):
    with open(os.path.join(FIXTURES, "perplexity.json")) as f:
        ref = json.load(f)
    path = tmp_path / "text.txt"
    path.write_bytes(ref["text"].encode())
    out = run("perplexity", "--model", "default", "--file", str(path)).stdout
    ppl = float(out.strip().split("ppl:")[1])
    assert abs(ppl - ref["ppl"]) <= 0.01 * ref["ppl"], (ppl, ref["ppl"])
    # llama-perplexity's short option names the same file.
    assert run("perplexity", "--model", "default", "-f", str(path)).stdout == out


def test_generate_greedy_ids_and_text():
    with open(os.path.join(FIXTURES, "greedy.jsonl")) as f:
        case = json.loads(f.readline())
    ids = json.loads(run("generate", "--model", "default", "--prompt", case["prompt"], "-n", "8",
                         "--output", "ids", "--ignore-eos").stdout)
    assert len(ids) == 8
    # At least as many leading tokens agree with the float64 reference as llama.cpp's do.
    agree = next((i for i, (a, b) in enumerate(zip(ids, case["greedy_ids"])) if a != b), 8)
    assert agree >= min(8, case["llama_cpp_agrees_for"])
    text = run("generate", "--model", "default", "--prompt", case["prompt"], "-n", "8", "--ignore-eos").stdout
    assert text.startswith(case["greedy_text"][:6])


def test_generate_is_reproducible_with_a_seed():
    args = ("generate", "--model", "default", "--prompt", "Once upon a time", "-n", "12", "--temperature", "1",
            "--seed", "7", "--output", "ids", "--ignore-eos")
    assert run(*args).stdout == run(*args).stdout


def test_bench_refuses_zero_repetitions():
    p = run("bench", "--model", "default", "-p", "8", "-n", "4", "-r", "0", check=False)
    assert p.returncode != 0 and "-r must be at least 1" in p.stderr, p.stderr
    p = run("bench", "--model", "default", "-p", "0", "-n", "0", check=False)
    assert p.returncode != 0 and "nothing to measure" in p.stderr, p.stderr
    p = run("bench", "--model", "default", "-p", "0", "-n", "4", "--parallel", "2", check=False)
    assert p.returncode == 64 and "--parallel needs -p of at least 1" in p.stderr, p.stderr  # a usage error, not a crash
    # A KV cache past the machine's memory is refused before it is allocated (it aborted with a trace).
    p = run("bench", "--model", "default", "-p", "4000", "-n", "8", "-r", "1", "--parallel", "4096", "-t", "1", check=False)
    assert p.returncode == 1 and "needs a" in p.stderr and "KV cache" in p.stderr and "Fatal" not in p.stderr, p.stderr
    p = run("bench", "--model", "default", "-p", "16", "-n", "8", "--parallel", "100000", check=False)
    assert p.returncode == 64 and "--parallel must be at most 4096" in p.stderr, p.stderr
    p = run("bench", "--model", "default", "-p", "16", "-n", "0", "--ubatch", "0", check=False)
    assert p.returncode == 64 and "--ubatch must be at least 1" in p.stderr, p.stderr


def test_threads_zero_is_all_cores_and_negative_is_refused_with_the_command_usage():
    p = run("generate", "--model", "default", "-t", "0", "-n", "2", "--prompt", "Hello", check=False)
    assert p.returncode == 0, p.stderr
    # Negative or past serve's 1024 (a typo started tens of thousands of threads): refused.
    for t in ("-1", "30000"):
        p = run("generate", "--model", "default", f"--threads={t}", "-n", "2", "--prompt", "Hello", check=False)
        assert p.returncode != 0 and "--threads must be between 0 (all cores) and 1024" in p.stderr and "jeton generate" in p.stderr, p.stderr
        p = run("embed", "--model", "default", f"--threads={t}", "--file", "-", check=False)
        assert p.returncode != 0 and "--threads must be between 0 (all cores) and 1024" in p.stderr, p.stderr


def test_generate_takes_the_api_ranges():
    # A penalty of 0 divided logits by 0 (one token repeated); -1 is no seed, as in llama.cpp.
    for bad in ("0", "-1", "11"):
        p = run("generate", "--model", "default", f"--repeat-penalty={bad}", "-n", "2", "--prompt", "Hello", check=False)
        assert p.returncode == 64 and "--repeat-penalty must be between 0.01 and 10" in p.stderr, p.stderr
    outs = {run("generate", "--model", "default", "--prompt", "Once upon a time", "-n", "12", "--temperature", "1",
                "--seed=-1", "--output", "ids", "--ignore-eos").stdout for _ in range(4)}
    assert len(outs) > 1
    p = run("generate", "--model", "default", "--seed=-2", "-n", "2", "--prompt", "Hello", check=False)
    assert p.returncode == 64 and "--seed must be -1" in p.stderr, p.stderr
    # A negative number as its own argument is the option's value, not another option ("Missing value").
    for args, needle in [(("generate", "--seed", "-2", "-n", "2", "--prompt", "Hello"), "--seed must be -1"),
                         (("generate", "-t", "-1", "-n", "2", "--prompt", "Hello"), "--threads must be between 0"),
                         (("bench", "-p", "8", "-n", "4", "-r", "-1"), "-r must be at least 1"),
                         (("bench", "-p", "8", "-n", "4", "--ubatch", "-1"), "--ubatch must be at least 1"),
                         # Far past any context: refused, not an overflow trap or gigabytes of tokens.
                         (("bench", "-p", "9223372036854775807", "-n", "0"), "-p and -n must be at most")]:
        p = run(*args[:1], "--model", "default", *args[1:], check=False)
        assert p.returncode != 0 and needle in p.stderr and "Missing value" not in p.stderr, (args, p.stderr)
    p = run("generate", "--model", "default", "--seed", "-1", "-n", "2", "--prompt", "Hello", check=False)
    assert p.returncode == 0, p.stderr
    # An empty prompt (SmolLM2 adds no BOS) printed nothing and succeeded.
    p = run("generate", "--model", "default", "-n", "2", "--prompt", "", check=False)
    assert p.returncode == 1 and "the prompt is empty" in p.stderr, p.stderr


def test_bench_measures_one_side_alone():
    # -p 0: a 16-token warm-up, then one token (more than -n 4 alone would size the cache for).
    out = run("bench", "--model", "default", "-p", "0", "-n", "4", "-r", "1").stdout
    assert out.startswith("tg4 ") and "pp" not in out, out
    out = run("bench", "--model", "default", "-p", "8", "-n", "0", "-r", "1", "--parallel", "2").stdout
    assert "pp8x2 " in out and "tg" not in out, out
    # A prompt cut into forward passes of --ubatch tokens, as the server cuts one beside streams.
    out = run("bench", "--model", "default", "-p", "40", "-n", "0", "-r", "1", "--ubatch", "16").stdout
    assert out.startswith("pp40 ") and float(out.split()[1]) > 0, out
    # Several prompts, each longer than --ubatch: 120 tokens in passes of 16 (a pass ends one prompt
    # and starts the next), Gemma's sliding-window layers through their rings too.
    for model in ("default", "gemma3-270m"):
        p = run("bench", "--model", model, "-p", "40", "-n", "2", "-r", "1", "--parallel", "3", "--ubatch", "16")
        assert "pp40x3 " in p.stdout and "tg2x3 " in p.stdout, p.stdout
        assert "prompts: 120 tokens in 8 forward passes of at most 16" in p.stderr, p.stderr


def test_bench_prints_llama_bench_names():
    out = run("bench", "--model", "default", "-p", "16", "-n", "4", "-r", "1", "-t", "2").stdout.split("\n")
    assert out[0].startswith("pp16 ") and float(out[0].split()[1]) > 0
    rest = out[1:]
    # With AVX2 or AVX-512 VNNI the int8 peak probe's line follows pp (as the share of it pp reached).
    assert not rest[0].startswith("f32 peak "), "SmolLM2's matrices are quantized: " + rest[0]
    if rest[0].startswith("int8 peak "):
        m = re.match(r"int8 peak (\d+) GMAC/s \(2 threads\), [\d.]+ GMAC per prompt token: limit \d+ t/s, pp16 at \d+%$", rest[0])
        assert m and int(m.group(1)) > 0, rest[0]
        rest = rest[1:]
        # With AMX tiles, their peak too.
        if rest[0].startswith("amx int8 peak "):
            m = re.match(r"amx int8 peak (\d+) GMAC/s \(2 threads\): limit \d+ t/s, pp16 at \d+%$", rest[0])
            assert m and int(m.group(1)) > 0, rest[0]
            rest = rest[1:]
    assert rest[0].startswith("tg4 ") and float(rest[0].split()[1]) > 0
    assert rest[1].startswith("bandwidth ") and "tg4 at" in rest[1]


def test_bench_measures_float_weights_against_the_float_peak():
    # The tiny qwen2's matrices are F32: its prompts run on float FMAs, so pp's share is of that peak.
    tiny = os.path.join(FIXTURES, "tiny", "qwen2.tiny.gguf")
    out = run("bench", "--model", tiny, "-p", "16", "-n", "0", "-r", "1", "-t", "2").stdout.split("\n")
    assert out[0].startswith("pp16 "), out
    assert not any(line.startswith("int8 peak ") or line.startswith("amx ") for line in out), out
    with open("/proc/cpuinfo") as f:
        avx2 = " avx2 " in f.read().replace("\n", " ")
    if avx2 and os.environ.get("JETON_KERNELS", "") not in ("portable", "float"):
        m = re.match(r"f32 peak (\d+) GMAC/s \(2 threads\), [\d.]+ GMAC per prompt token: limit \d+ t/s, pp16 at \d+%$", out[1])
        assert m and int(m.group(1)) > 0, out[1]


def test_bad_input_is_one_clear_sentence(tmp_path):
    p = run("generate", "--model", str(tmp_path / "missing.gguf"), "--prompt", "x", check=False)
    assert p.returncode != 0 and "missing.gguf" in p.stderr
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
    p = run("tokenize", "--model", str(junk), "--file", str(junk), check=False)
    assert p.returncode != 0 and "GGUF" in p.stderr and "Fatal" not in p.stderr


def test_pull_is_idempotent_and_verifies(tmp_path):
    # Already there: nothing is downloaded.
    p = run("pull", "default")
    assert p.stdout.strip().endswith(MODEL_FILE) and "already" in p.stderr
    # A corrupted copy is noticed by its checksum and fetched again.
    models = tmp_path / "models"
    models.mkdir()
    (models / MODEL_FILE).write_bytes(b"not a model")
    p = run("pull", "default", env={"JETON_MODELS": str(models)})
    assert "wrong checksum" in p.stderr
    assert os.path.getsize(models / MODEL_FILE) == os.path.getsize(os.path.join(MODELS, MODEL_FILE))
    assert sorted(os.listdir(models)) == [MODEL_FILE]


def test_pull_without_pip_fails_cleanly(tmp_path):
    # A PATH with no python3: one sentence, non-zero exit, no half-written file.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("env",):
        os.symlink(shutil.which(tool), bindir / tool)
    models = tmp_path / "models"
    p = run("pull", "default", env={"JETON_MODELS": str(models), "PATH": str(bindir)}, check=False)
    assert p.returncode != 0
    lines = [l for l in p.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and "pip" in lines[0]
    assert not os.path.exists(models / MODEL_FILE)
    assert not [f for f in os.listdir(models) if not f.startswith(".")] if models.exists() else True
    p = run("pull", "no-such-model", env={"JETON_MODELS": str(models)}, check=False)
    assert p.returncode != 0 and "unknown model" in p.stderr
