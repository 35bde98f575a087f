"""The kernel benchmark's interleaved summary (benchmarks/kernels/summary.py): ratios round by
round, Jeton's shares of the machine's limits and issue 13's verdicts. No engine runs: each record
is written here with figures chosen so every median and verdict is known."""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "kernels" / "summary.py"
RUN = ROOT / "benchmarks" / "kernels" / "run.sh"


def summarize(tmp_path, rounds):
    """rounds: [{figure: (jeton, llama, share)}]; a None value is a failed run (null)."""
    lines = []
    for r, figs in enumerate(rounds, 1):
        lines.append({"round": r, "load": "0.1 0.1 0.1", "first": "llama" if r % 2 else "jeton"})
        for fig, (j, l, share) in figs.items():
            limit = 250.0 if fig.startswith("pp") else 20.0
            lines.append({"round": r, "engine": "jeton", "figure": fig, "value": j,
                          "limit": limit if share is not None else None, "share": share})
            lines.append({"round": r, "engine": "llama", "figure": fig, "value": l, "limit": None, "share": None})
    path = tmp_path / "record.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    p = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def line(out, start):
    hits = [l.strip() for l in out.splitlines() if l.strip().startswith(start)]
    assert hits, f"no line starting {start!r} in:\n{out}"
    return hits[-1]


def test_medians_ranges_and_verdicts(tmp_path):
    out = summarize(tmp_path, [
        {"pp512": (90.0, 45.0, 40.0), "tg128": (20.0, 19.0, 92.0)},   # 2.00x, 1.05x
        {"pp512": (84.0, 40.0, 38.0), "tg128": (18.0, 15.0, 88.0)},   # 2.10x, 1.20x
        {"pp512": (76.0, 40.0, 36.0), "tg128": (19.0, 16.0, 91.0)},   # 1.90x, 1.1875x
    ])
    assert line(out, "pp512:") == "pp512: 2.00x (1.90-2.10; 3 rounds), goal >= 2x: met"
    assert line(out, "tg128:") == "tg128: 1.19x (1.05-1.20; 3 rounds), goal >= 1.1x: met"
    assert line(out, "tg128 share").endswith("91% (88-92%; limit 20.0-20.0 GB/s read bandwidth), goal >= 90%: met")
    assert "goal" not in line(out, "pp512 share")
    # The best of each engine may pair different rounds: 90/45 here.
    assert "pp512 90.0 against 45.0 (2.00x)" in line(out, "== best of each engine")


def test_even_count_median_and_missed_goals(tmp_path):
    out = summarize(tmp_path, [
        {"pp512": (70.0, 40.0, 30.0), "tg128": (14.0, 14.0, 85.0), "tg64x16": (60.0, 30.0, None)},  # 1.75, 1.0, 2.0
        {"pp512": (80.0, 40.0, 32.0), "tg128": (15.0, 14.0, 89.0), "tg64x16": (57.0, 30.0, None)},  # 2.0, 1.07, 1.9
    ])
    assert line(out, "pp512:") == "pp512: 1.88x (1.75-2.00; 2 rounds), goal >= 2x: NOT met"
    assert line(out, "tg128:").endswith("goal >= 1.1x: NOT met")
    assert line(out, "tg128 share").endswith("goal >= 90%: NOT met")  # median 87%
    assert line(out, "tg64x16:") == "tg64x16: 1.95x (1.90-2.00; 2 rounds), goal >= 2x: NOT met"


def test_a_failed_run_is_never_met(tmp_path):
    out = summarize(tmp_path, [
        {"pp512": (100.0, 40.0, 40.0), "tg128": (20.0, 10.0, 95.0)},
        {"pp512": (None, 40.0, None), "tg128": (20.0, None, None)},
        {"pp512": (100.0, 40.0, 40.0), "tg128": (20.0, 0.0, 95.0)},  # a zero peak figure is no ratio
    ])
    assert line(out, "pp512:") == "pp512: 2.50x (2.50-2.50; 2 rounds, 1 round(s) without a figure), goal >= 2x: NOT met"
    assert line(out, "tg128:") == "tg128: 2.00x (2.00-2.00; 1 rounds, 2 round(s) without a figure), goal >= 1.1x: NOT met"
    assert line(out, "tg128 share").endswith("goal >= 90%: NOT met")  # a round without its share
    assert "ratio n/a" in out


def test_no_round_with_both(tmp_path):
    out = summarize(tmp_path, [{"pp512": (None, 40.0, None), "tg128": (20.0, 15.0, 91.0)}])
    assert line(out, "pp512:") == "pp512: n/a (no round measured both)"
    assert line(out, "tg128:").endswith("met")


def test_bad_record_is_refused_without_a_traceback(tmp_path):
    path = tmp_path / "bad.jsonl"
    for text, message in [("{not json\n", "not JSON"), ('{"engine": "jeton"}\n', "no round number"),
                          ('{"round": 1, "engine": "other", "figure": "pp512"}\n', "engine jeton|llama")]:
        path.write_text(text)
        p = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert message in p.stderr and "Traceback" not in p.stderr


def test_run_sh_checks_rounds_before_anything_runs():
    for bad in ["0", "x", "-1", "2.5", "02"]:
        p = subprocess.run(["bash", str(RUN)], capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "ROUNDS": bad, "LLAMA_CPP_BIN": "/nonexistent"})
        assert p.returncode == 2 and "ROUNDS must be a positive integer" in p.stderr
