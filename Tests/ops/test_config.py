"""Config/jeton.yaml documents every setting with its default; layers override in order."""
import json
import os
import platform
import sys
import subprocess

import pytest
import yaml

from jeton_process import JETON, ROOT

CONFIG = os.path.join(ROOT, "Config", "jeton.yaml")


def print_config(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
    e.update(env or {})
    p = subprocess.run([JETON, "serve", "--print-config", *args], capture_output=True, text=True, env=e)
    return p.returncode, p.stdout, p.stderr


def settings(text):
    """The sections' settings; the `models:` list is no section (see models_list)."""
    return {f"{s}.{k}": v for s, sec in yaml.safe_load(text).items() if s != "models" for k, v in sec.items()}


def models_list(text):
    return yaml.safe_load(text)["models"]


def test_file_lists_every_setting_with_its_default():
    rc, defaults, _ = print_config()
    assert rc == 0
    rc, from_file, err = print_config("--config", CONFIG)
    assert rc == 0, err
    # The same keys, and the file changes nothing: it holds the defaults.
    assert settings(defaults) == settings(from_file)
    with open(CONFIG) as f:
        text = f.read()
        assert set(settings(text)) == set(settings(defaults))
    assert models_list(text) == models_list(defaults) == models_list(from_file) == []


def test_layers_override_in_order(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("server:\n  port: 9001\n  host: 0.0.0.0\nengine:\n  max_sequences: 7\n")
    rc, out, err = print_config("--config", str(f), "--max-sequences", "9",
                                env={"JETON_SERVER_PORT": "9002", "JETON_ENGINE_MAX_SEQUENCES": "8"})
    assert rc == 0, err
    s = settings(out)
    assert s["server.port"] == 9002          # env over file
    assert s["server.host"] == "0.0.0.0"     # file over default
    assert s["engine.max_sequences"] == 9    # flag over env


def test_unknown_key_and_bad_value_stop_startup(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("server:\n  prot: 1\n")
    rc, _, err = print_config("--config", str(f))
    assert rc != 0 and "server.prot" in err
    f.write_text("engine:\n  cache_tokens: lots\n")
    rc, _, err = print_config("--config", str(f))
    assert rc != 0 and "engine.cache_tokens" in err
    # A value left out is a mistake named, not the default labelled as the file's (found by a user's test).
    f.write_text("server:\n  port:\n")
    rc, _, err = print_config("--config", str(f))
    assert rc == 2 and "server.port has no value" in err, err
    f.write_text("auth:\n  api_keys:\n")
    rc, _, err = print_config("--config", str(f))
    assert rc == 0, err
    # Errors quote what was written (they quoted YAML's reading of it: "8080.0", "false"), and a
    # number with a leading zero is that number.
    for text, needle in (("server:\n  drain_timeout: 1e400\n", 'got "1e400"'),
                         ("speculative:\n  method: off\n", 'got "off"')):
        f.write_text(text)
        rc, _, err = print_config("--config", str(f))
        assert rc == 2 and needle in err, (text, err)
    f.write_text("server:\n  port: 08080\n")
    rc, text, err = print_config("--config", str(f))
    assert rc == 0 and settings(text)["server.port"] == 8080, err
    # Invalid YAML is one line.
    f.write_text("server: [\n  port: 1\n")
    rc, _, err = print_config("--config", str(f))
    assert rc == 2 and "is not valid YAML" in err and len(err.strip().splitlines()) == 1, err
    rc, _, err = print_config(env={"JETON_LOGGING_FORMAT": "xml"})
    assert rc != 0 and "logging.format" in err


def test_file_is_generated_from_the_typed_keys(tmp_path):
    # Config/jeton.yaml is written from the ConfigKeys declarations: regenerated, it is the same.
    out = tmp_path / "jeton.yaml"
    subprocess.run(["python3", os.path.join(ROOT, "scripts", "make-config-yaml.py"), str(out)], check=True)
    with open(CONFIG) as f:
        assert out.read_text() == f.read()


def test_unknown_key_names_the_setting_it_likely_meant(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("engine:\n  max_sequence: 3\n")
    rc, out, err = print_config("--config", str(f))
    assert rc == 2 and out == ""
    assert "unknown setting engine.max_sequence (did you mean engine.max_sequences?)" in err
    f.write_text("sever:\n  port: 1\n")
    rc, _, err = print_config("--config", str(f))
    assert rc == 2 and "no section sever (did you mean server?)" in err


def test_misspelt_environment_variable_warns_and_is_ignored():
    rc, out, err = print_config(env={"JETON_SERVER_PROT": "9000", "JETON_KERNELS": "portable"})
    assert rc == 0
    assert "warning: JETON_SERVER_PROT is not a setting (did you mean JETON_SERVER_PORT?); ignored" in err
    assert "JETON_KERNELS" not in err  # not a settings section: another part of Jeton reads it
    assert settings(out)["server.port"] == 8080


def test_secrets_are_masked():
    rc, out, _ = print_config("--api-key", "team-a:sk-secret-1", "--api-key", "sk-bare")
    assert rc == 0
    assert "sk-secret-1" not in out and "sk-bare" not in out
    assert "team-a:****" in out


def test_broken_chat_template_stops_startup(tmp_path):
    bad = tmp_path / "bad.jinja"
    bad.write_text("{% for m in messages %")
    p = subprocess.run([JETON, "serve", "--port", "0", "--chat-template", str(bad)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "bad.jinja" in p.stderr and "chat template" in p.stderr


def test_a_kv_cache_larger_than_the_memory_stops_startup_with_a_message():
    # The engine writes its whole cache at start: one that cannot fit is refused before it is
    # allocated, naming the setting, instead of the process being killed while writing it.
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
    e["JETON_ENGINE_CACHE_TOKENS"] = "16777216"  # SmolLM2: 22.5 KiB a token, 360 GiB
    p = subprocess.run([JETON, "serve", "--port", "0"], capture_output=True, text=True, timeout=120, env=e)
    assert p.returncode != 0, p.stderr[-600:]
    assert "engine.cache_tokens 16777216" in p.stderr and "lower engine.cache_tokens" in p.stderr, p.stderr[-600:]


def test_models_list_from_file_and_flags(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("models:\n  - path: default\n    name: chat\n    aliases: [c, talk]\n    cache_tokens: 2048\n"
                 "  - nomic-embed-text-v1.5\nengine:\n  max_waiting: 9\n")
    rc, out, err = print_config("--config", str(f))
    assert rc == 0, err
    models = models_list(out)
    assert models[0] == {"path": "default", "name": "chat", "aliases": ["c", "talk"], "cache_tokens": 2048}
    assert models[1] == {"path": "nomic-embed-text-v1.5"}
    assert settings(out)["engine.max_waiting"] == 9
    # Repeated --model flags replace the file's list; a single one is model.path, as ever.
    rc, out, err = print_config("--config", str(f), "--model", "a.gguf", "--model", "b.gguf")
    assert rc == 0, err
    assert models_list(out) == [{"path": "a.gguf"}, {"path": "b.gguf"}]
    rc, out, err = print_config("--config", str(f), "--model", "a.gguf")
    assert rc == 0, err
    assert models_list(out) == [] and settings(out)["model.path"] == "a.gguf"


def test_bad_models_entries_stop_startup(tmp_path):
    f = tmp_path / "c.yaml"
    for text, needle in [("models:\n  - name: x\n", "models[0] needs a path"),
                         ("models:\n  - path: a\n    thread: 2\n", "unknown field thread (did you mean threads?)"),
                         ("models:\n  - path: a\n    cache_tokens: 3\n", "engine.cache_tokens"),
                         ("models: {path: a}\n", "models must be a list"),
                         ("models:\n  - path: a\n    name: ''\n", "models[0].name is empty"),
                         ("models:\n  - path: a\n    aliases: [x, '']\n", "models[0].aliases holds an empty name")]:
        f.write_text(text)
        rc, out, err = print_config("--config", str(f))
        assert rc == 2 and out == "" and needle in err, (text, err)
    rc, _, err = print_config("--model", "a", "--model", "b", "--served-model-name", "x")
    assert rc == 2 and "name: in the models: list" in err


def test_an_alias_that_reaches_another_model_stops_startup(tmp_path):
    # Ids win over aliases and the first model is `default`: such an alias never reaches its model.
    f = tmp_path / "c.yaml"
    # The last: the first model's catalog name, which it answers to without being told.
    for aliases, taken in [("[chat]", "chat"), ("[default]", "chat"), ("[c]", "chat"), ("[smollm2-135m-instruct]", "chat")]:
        f.write_text("models:\n  - path: default\n    name: chat\n    aliases: [c]\n"
                     f"  - path: nomic-embed-text-v1.5\n    aliases: {aliases}\n")
        p = subprocess.run([JETON, "serve", "--port", "0", "--config", str(f)], capture_output=True, text=True, timeout=300)
        # Found before anything loads (it was found after both models had loaded).
        assert p.returncode == 2 and "listening" not in p.stdout + p.stderr, (aliases, p.stderr[-600:])
        assert f"already reaches `{taken}`" in p.stderr + p.stdout, (aliases, p.stderr[-600:])
    # A later model's catalog name given to an earlier one, as an alias or its name: requests for
    # the later model would silently reach the earlier.
    for first in ("name: gemma3-270m", "aliases: [gemma3-270m]"):
        f.write_text(f"models:\n  - path: default\n    {first}\n  - path: gemma3-270m\n")
        p = subprocess.run([JETON, "serve", "--port", "0", "--config", str(f)], capture_output=True, text=True, timeout=300)
        assert p.returncode == 2 and "listening" not in p.stdout + p.stderr, (first, p.stderr[-600:])
        assert "`gemma3-270m` is also the file or catalog name of models[1]" in p.stderr, (first, p.stderr[-600:])
    # `default` is the first model of each kind's: a later one of that kind named so would take it.
    f.write_text("models:\n  - path: default\n  - path: gemma3-270m\n    name: default\n")
    p = subprocess.run([JETON, "serve", "--port", "0", "--config", str(f)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "models[1]: `default` names the first model of each kind" in p.stderr, p.stderr[-600:]
    # An earlier model's catalog name as a later one's name: the id would win over the alias.
    f.write_text("models:\n  - path: gemma3-270m\n  - path: default\n    name: gemma3-270m\n")
    p = subprocess.run([JETON, "serve", "--port", "0", "--config", str(f)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "`gemma3-270m` is also the file or catalog name of models[0]" in p.stderr, p.stderr[-600:]
    # The same file twice, the first named as its file is: that name reaches it anyway.
    from jeton_process import JetonProcess
    f.write_text("models:\n  - path: default\n    name: SmolLM2-135M-Instruct.Q4_1\n  - path: default\n    name: b\n")
    s = JetonProcess("--config", str(f))
    try:
        ids = [m["id"] for m in json.loads(s.request("GET", "/v1/models")[2])["data"]]
        assert ids == ["SmolLM2-135M-Instruct.Q4_1", "b"], ids
    finally:
        s.stop()


def test_missing_files_stop_startup_before_listening(tmp_path):
    """A model, template, draft or adapter file that is not there (or not GGUF) stops start-up before the port opens
    (the models load after listening, so this was found only after /health had answered)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("root:x:0:0:root:/root:/bin/bash\n" * 100)
    for args, needle in [(["--model", "/nonexistent.gguf"], "model.path: no file /nonexistent.gguf"),
                         (["--model", str(tmp_path)], "is a directory"),
                         # A mistyped catalog name: the catalog's names are given.
                         (["--model", "gemma-3-270m"], "no file gemma-3-270m, nor a catalog model of that name (smollm2-135m-instruct, gemma3-270m"),
                         (["--chat-template", "/nonexistent.jinja"], "model.chat_template: no file"),
                         (["--speculative", "draft"], "needs speculative.draft_model"),
                         (["--draft-model", "/nonexistent-draft.gguf"], "speculative.draft_model: no file"),
                         # A draft that cannot draft for its target: found from the files' headers.
                         (["--model", "qwen2.5-coder-0.5b", "--draft-model", "default"],
                          "its tokenizer differs: pre-tokenizer smollm (the target's is qwen2)"),
                         (["--draft-model", "nomic-embed-text-v1.5"], "is an embedding model"),
                         # A file that is not GGUF, and an adapter that is not name=path (both were
                         # found only after "listening").
                         (["--model", str(not_gguf)], "not a GGUF file"),
                         (["--lora", "foo"], "lora.adapters: \"foo\" is not name=path"),
                         (["--model", "nomic-embed-text-v1.5", "--lora", f"a={not_gguf}"], "every served model is an embedding model"),
                         # Settings that would do nothing, or refuse every request, found before listening too.
                         (["--model", "nomic-embed-text-v1.5", "--speculative", "ngram"],
                          "speculative.method ngram: every served model is an embedding model"),
                         (["--lora", f"a={not_gguf}", "--lora", f"a={not_gguf}"], "lora.adapters: the name a is given twice")]:
        p = subprocess.run([JETON, "serve", "--port", "0", *args], capture_output=True, text=True, timeout=60, env=e)
        assert p.returncode == 2, (args, p.returncode, p.stderr[-500:])
        assert needle in p.stderr and "listening" not in p.stdout + p.stderr, (args, p.stderr[-500:])


def test_two_models_of_one_name_stop_startup_before_loading(tmp_path):
    # Found before the port opens (both were loaded first, then refused).
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
    f = tmp_path / "c.yaml"
    for text, needle in [("models:\n  - path: default\n  - path: default\n",
                          "models[0] and models[1] are both named `SmolLM2-135M-Instruct.Q4_1`"),
                         ("models:\n  - path: default\n    name: m\n  - path: nomic-embed-text-v1.5\n    name: m\n",
                          "models[0] and models[1] are both named `m`")]:
        f.write_text(text)
        p = subprocess.run([JETON, "serve", "--port", "0", "--config", str(f)], capture_output=True, text=True,
                           timeout=60, env=e)
        assert p.returncode == 2, (text, p.returncode, p.stderr[-500:])
        assert needle in p.stderr and "listening" not in p.stdout + p.stderr, (text, p.stderr[-500:])
    # An adapter named like the model, and a short admin key (read when the models load): refused before listening.
    f.write_text('auth:\n  admin_keys: ["admin:short"]\n')
    for args, needle in [(["--lora", "SmolLM2-135M-Instruct.Q4_1=/tmp/a.gguf"], "is a name of the served model"),
                         (["--lora", "my adapter=/tmp/a.gguf"], "must be 1 to 256 letters"),
                         (["--config", str(f)], "auth.admin_keys: ")]:
        p = subprocess.run([JETON, "serve", "--port", "0", *args], capture_output=True, text=True, timeout=60, env=e)
        assert p.returncode == 2 and needle in p.stderr and "listening" not in p.stdout + p.stderr, (args, p.stderr[-500:])


def test_config_file_mistakes_are_named(tmp_path):
    rc, _, err = print_config("--config", str(tmp_path / "missing.yaml"))
    assert rc == 2 and "does not exist" in err, err
    rc, _, err = print_config("--config", str(tmp_path))
    assert rc == 2 and "is a directory" in err, err
    f = tmp_path / "c.yaml"
    f.write_text("server:\n  # port: 9000\nengine:\n  max_waiting: 5\n")  # a section with every setting commented out
    rc, out, err = print_config("--config", str(f))
    assert rc == 0 and settings(out)["engine.max_waiting"] == 5, err
    rc, _, err = print_config("--config", str(f), "--config", str(f))
    assert rc == 2 and "give one file" in err, err


def startup_log(args, needle, env=None, timeout=60):
    """The server's log up to the first line holding `needle` (or its first 60 lines, or the timeout)."""
    import threading
    p = subprocess.Popen([JETON, "serve", "--port", "0", "--host", "127.0.0.1", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=env)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    lines = []
    try:
        for line in p.stdout:
            lines.append(line)
            if needle in line or len(lines) > 60:
                break
    finally:
        timer.cancel()
        p.kill()
        p.wait()
    return "".join(lines)


def test_speculation_settings_that_cannot_take_effect_are_said_at_startup():
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
    # A method named, `none` too, wins over a draft model, which is then said to be unused.
    for args, method, summary in [(["--speculative", "none"], "none", "speculative decoding: off"),
                                  (["--speculative", "ngram"], "ngram", "speculative decoding: prompt lookup")]:
        log = startup_log(["--model", "default", "--draft-model", "default", *args], "is not used", env=e)
        assert f"speculative.draft_model default is not used: speculative.method is {method}" in log, log[-800:]
        assert summary in log, log[-800:]
    log = startup_log(["--model", "default", "--draft-model", "default"], "speculative decoding:", env=e)
    assert "speculative decoding: draft model" in log, log[-800:]
    # The same from the environment, as an operator would turn it off.
    log = startup_log(["--model", "default", "--draft-model", "default"], "is not used",
                      env=dict(e, JETON_SPECULATIVE_METHOD="none"))
    assert "is not used: speculative.method is none" in log and "speculative decoding: off" in log, log[-800:]
    # Settings under which nothing is ever proposed: off, and why.
    log = startup_log(["--model", "default", "--speculative", "ngram"], "leaves no room",
                      env=dict(e, JETON_SPECULATIVE_MAX_BATCH_TOKENS="1"))
    assert "speculative.max_batch_tokens 1 leaves no room for a proposal: speculative decoding is off" in log, log[-800:]
    log = startup_log(["--model", "gemma3-270m", "--speculative", "ngram"], "do not speculate", env=e)
    assert "has sliding-window layers, which do not speculate: speculative decoding is off" in log, log[-800:]
    # A draft's common part: below its part of the vocabulary it is used (SmolLM2 has 49,152
    # tokens); not below it (the default part, 100,000, is the whole vocabulary), said so.
    # (No line holds the needle: the whole start-up log, notes after the summary included.)
    log = startup_log(["--model", "default", "--draft-model", "default"], "(no such line)", timeout=8,
                      env=dict(e, JETON_SPECULATIVE_DRAFT_VOCABULARY="40000", JETON_SPECULATIVE_DRAFT_COMMON_VOCABULARY="16000"))
    assert "proposing among its first 16000 or 40000 tokens and each sequence's own" in log, log[-800:]
    assert "draft_common_vocabulary" not in log, log[-800:]
    log = startup_log(["--model", "default", "--draft-model", "default"], "draft_common_vocabulary",
                      env=dict(e, JETON_SPECULATIVE_DRAFT_COMMON_VOCABULARY="16000"))
    assert ("speculative.draft_common_vocabulary 16000 is not below speculative.draft_vocabulary (49152 of 49152 tokens): "
            "the draft scores its first 49152 for every sequence") in log, log[-800:]
    log = startup_log(["--model", "default", "--draft-model", "default"], "(no such line)", timeout=8, env=e)
    assert "speculative decoding: draft model" in log, log[-800:]
    assert "draft_common_vocabulary" not in log and "proposing among" not in log, log[-800:]


def test_a_model_without_a_chat_template_is_said_at_startup(tmp_path):
    # The Gemma 3 270M file has none: chat falls back to ChatML, which it does not end its turns in.
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
    log = startup_log(["--model", "gemma3-270m"], "no chat template", env=e)
    assert "gemma-3-270m-q4_k_m: the file has no chat template: chat uses ChatML" in log, log[-800:]
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    log = startup_log(["--model", "gemma3-270m", "--chat-template", str(template)], "loaded in", env=e)
    assert "no chat template" not in log, log[-800:]
    log = startup_log(["--model", "default"], "loaded in", env=e)
    assert "no chat template" not in log, log[-800:]


def test_a_draft_is_read_as_q4_0_unless_told_to_keep_the_files_matrices():
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
    # SmolLM2's Q4_1 matrices are wider than Q4_0: copied by default, kept with `file`.
    log = startup_log(["--model", "default", "--draft-model", "default"], "speculative decoding:", env=e)
    assert "its wider matrices read as Q4_0" in log, log[-800:]
    log = startup_log(["--model", "default", "--draft-model", "default"], "speculative decoding:",
                      env=dict(e, JETON_SPECULATIVE_DRAFT_QUANTIZATION="file"))
    assert "speculative decoding: draft model" in log and "Q4_0" not in log, log[-800:]
    rc, text, err = print_config(env={"JETON_SPECULATIVE_DRAFT_QUANTIZATION": "q8"})
    assert rc != 0 and "speculative.draft_quantization" in err and "q4_0" in err and "file" in err, err


def test_the_start_up_log_names_an_unsure_draft_stop_when_one_is_set():
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
    rc, text, err = print_config()
    assert rc == 0 and settings(text)["speculative.draft_min_probability"] == 0, text
    log = startup_log(["--model", "default", "--draft-model", "default"], "speculative decoding:",
                      env=dict(e, JETON_SPECULATIVE_DRAFT_MIN_PROBABILITY="0.5"))
    assert "stopping after a greedy guess below probability 0.5" in log, log[-800:]
    log = startup_log(["--model", "default", "--draft-model", "default"], "speculative decoding:", env=e)
    assert "speculative decoding: draft model" in log and "stopping after" not in log, log[-800:]


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64", reason="reads x86-64 Linux's cpu flags")
def test_the_start_up_log_names_the_kernels_the_cpu_gets():
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
    with open("/proc/cpuinfo") as f:
        flags = set(next(l for l in f if l.startswith("flags")).split(":", 1)[1].split())
    avx2 = {"avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "abm", "popcnt", "movbe", "cx16", "lahf_lm"} <= flags
    avx512 = avx2 and {"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni"} <= flags
    want = "AVX-512 VNNI" if avx512 else "AVX2 kernels" if avx2 else "portable kernels (the CPU or the OS offers no AVX2)"
    log = startup_log(["--model", "default"], "loaded in", env=e)
    assert f" threads, {want}" in log, log[-800:]
    # JETON_KERNELS asks for a path (the comparisons' switch): the log says which one runs.
    log = startup_log(["--model", "default"], "loaded in", env=dict(e, JETON_KERNELS="portable"))
    assert " threads, portable kernels" in log, log[-800:]


def test_print_config_shows_the_method_a_draft_model_implies():
    rc, text, err = print_config("--draft-model", "qwen2.5-coder-0.5b")
    assert rc == 0, err
    assert settings(text)["speculative.method"] == "draft", text
    assert "implied by speculative.draft_model" in text
    rc, text, err = print_config("--draft-model", "qwen2.5-coder-0.5b", "--speculative", "ngram")
    assert rc == 0 and settings(text)["speculative.method"] == "ngram", text
    rc, text, err = print_config()
    assert rc == 0 and settings(text)["speculative.method"] == "none", text


def test_a_slow_reader_timeout_not_below_the_write_timeout_is_warned_about():
    rc, text, err = print_config(env={"JETON_SERVER_SLOW_READER_TIMEOUT": "90"})
    assert rc == 0 and "slow_reader_timeout" in err and "write_timeout" in err, err
    rc, text, err = print_config()
    assert rc == 0 and "slow_reader_timeout" not in err, err
    assert settings(text)["server.slow_reader_timeout"] < settings(text)["server.write_timeout"]


def test_settings_a_probe_found_accepted_are_refused(tmp_path):
    # Negative numbers reach the setting's own check (the flag parser took them for options:
    # "Missing value for '--port <port>'").
    for args, needle in [(["--port", "-1"], "server.port must be between 0 and 65535"),
                         (["--cache-tokens", "-5"], "engine.cache_tokens must be between"),
                         (["--drain-timeout", "-1"], "server.drain_timeout must be between"),
                         (["-t", "-2"], "model.threads must be between")]:
        rc, out, err = print_config(*args)
        assert rc == 2 and needle in err, (args, err)
    f = tmp_path / "c.yaml"
    f.write_text("models:\n  - path: default\n    aliases: {a: 1}\n")
    rc, _, err = print_config("--config", str(f))
    assert rc == 2 and "models[0].aliases must be a list of names (or one name), not a mapping" in err, err
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}
    for text, needle in [('lora:\n  allowed_dirs: ["/nonexistent-adapters"]\n', "lora.allowed_dirs: /nonexistent-adapters is not a directory"),
                         # One key under two names: the first name would never be seen.
                         ('auth:\n  api_keys: ["a:abcdefghij", "b:abcdefghij"]\n', "API key b (configured key 2) is the same key as a")]:
        f.write_text(text)
        p = subprocess.run([JETON, "serve", "--port", "0", "--config", str(f)], capture_output=True, text=True, timeout=60, env=e)
        assert p.returncode != 0 and needle in p.stderr and "listening" not in p.stdout + p.stderr, (text, p.stderr[-500:])


def test_check_config_runs_the_checks_serve_runs(tmp_path):
    """`serve --check-config` (as `nginx -t`): 0 for a configuration serve starts with, 2 with serve's own
    message for one it refuses at start (--print-config passes these: it checks types and ranges only)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("JETON_") or k == "JETON_MODELS"}

    def check(*args):
        p = subprocess.run([JETON, "serve", "--check-config", *args], capture_output=True, text=True, timeout=120, env=e)
        return p.returncode, p.stdout + p.stderr

    rc, out = check("--port", "0")
    assert rc == 0 and "the configuration is good" in out, out
    cors = tmp_path / "cors.yaml"
    cors.write_text('cors:\n  allowed_origins: ["not an origin"]\n')
    keyfile = tmp_path / "keys.yaml"
    keyfile.write_text("auth:\n  key_file: /nonexistent/keys\n")
    for args, needle in [(["--config", str(cors)], "cors.allowed_origins"), (["--api-key", "short"], "shorter than 8"),
                         (["--config", str(keyfile)], "/nonexistent/keys"), (["--host", "999.1.1.1"], "999.1.1.1"),
                         (["--tls-cert", str(cors), "--tls-key", str(cors)], "TLS"), (["--model", "nonexistent"], "nonexistent")]:
        rc, out = check(*args)
        assert rc == 2 and needle in out, (args, rc, out)
        if args[0] != "--model":
            assert print_config(*args)[0] == 0, args  # what --print-config alone lets through
