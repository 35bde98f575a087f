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


def summarize(tmp_path, rounds, planned=None):
    """rounds: [{figure: (jeton, llama, share)}]; a None value is a failed run (null). planned:
    the rounds the run was asked for (default: as many as given)."""
    lines = []
    for r, figs in enumerate(rounds, 1):
        lines.append({"round": r, "rounds": planned or len(rounds), "load": "0.1 0.1 0.1",
                      "first": "llama" if r % 2 else "jeton"})
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
    assert line(out, "tg128:").endswith("goal >= 1.1x: met")


def test_no_share_at_all_fails_the_share_goal(tmp_path):
    out = summarize(tmp_path, [{"tg128": (20.0, 10.0, None)}, {"tg128": (20.0, 10.0, None)}])
    assert line(out, "tg128:").endswith("goal >= 1.1x: met")
    assert line(out, "tg128 share") == "tg128 share of the limit: n/a (no round printed one), goal >= 90%: NOT met"


def test_an_interrupted_run_counts_its_missing_rounds(tmp_path):
    figs = {"pp512": (100.0, 40.0, 40.0)}
    out = summarize(tmp_path, [figs, figs], planned=3)
    assert line(out, "pp512:") == "pp512: 2.50x (2.50-2.50; 2 rounds, 1 round(s) without a figure), goal >= 2x: NOT met"
    assert "== round 3:" in out


def test_verdicts_at_the_goal_follow_the_printed_figure(tmp_path):
    out = summarize(tmp_path, [{"pp512": (80.16, 40.0, 40.0)}])  # 2.004x prints 2.00x
    assert line(out, "pp512:").endswith("goal >= 2x: met")
    out = summarize(tmp_path, [{"pp512": (79.76, 40.0, 40.0)}])  # 1.994x prints 1.99x
    assert line(out, "pp512:").endswith("goal >= 2x: NOT met")


def test_issue_13s_sequence_goal_only_for_16_sequences(tmp_path):
    out = summarize(tmp_path, [{"tg64x32": (90.0, 30.0, None), "tg64x16": (60.0, 30.0, None)}])
    assert line(out, "tg64x32:") == "tg64x32: 3.00x (3.00-3.00; 1 rounds)"
    assert line(out, "tg64x16:").endswith("goal >= 2x: met")


def test_bad_record_is_refused_without_a_traceback(tmp_path):
    path = tmp_path / "bad.jsonl"
    twice = '{"round": 1, "engine": "jeton", "figure": "pp512", "value": 1}\n'
    for text, message in [("{not json\n", "not JSON"), ('{"engine": "jeton"}\n', "no round number"),
                          ("[1]\n", "not a JSON object"), ('{"round": true}\n', "no round number"),
                          (twice * 2, "twice"),
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


STUB_JETON = r"""#!/usr/bin/env bash
echo "jeton $*" >> "$CALLS"
case " $* " in
  *" --parallel "*) echo "pp128x16 89.12"; echo "tg64x16 60.91" ;;
  *" -p 512 "*) echo "pp512 100.50"
                echo "${STUB_PEAK:-int8} peak 300 GMAC/s (2 threads), 0.10 GMAC per prompt token: limit 3000 t/s, pp512 at 40%"
                [ -n "${STUB_AMX:-}" ] && echo "amx int8 peak 1200 GMAC/s (2 threads): limit 12000 t/s, pp512 at 10%" ;;
  *" -p 0 "*) [ -n "${JETON_TG_FAILS:-}" ] && { echo "boom" >&2; exit 1; }
              echo "tg128 20.00"
              echo "bandwidth 21.5 GB/s (2 threads), 990 MB read per token: limit 21.7 t/s, tg128 at 92%" ;;
esac
"""
STUB_BENCH = r"""#!/usr/bin/env bash
echo "llama-bench $*" >> "$CALLS"
echo "build_commit,n_prompt,n_gen,avg_ts"
case " $* " in
  *" -p 512 "*) echo "abc,512,0,50.250000" ;;
  *) echo "abc,0,128,16.000000" ;;
esac
"""
STUB_BATCHED = r"""#!/usr/bin/env bash
echo "llama-batched-bench $*" >> "$CALLS"
echo "|    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |"
echo "|-------|--------|------|--------|----------|----------|----------|----------|----------|----------|"
echo "|   128 |     64 |   16 |   3072 |   40.452 |    50.62 |   42.135 |    24.30 |   82.587 |    37.20 |"
"""


def stub_run(tmp_path, **env):
    bins = tmp_path / "bin"
    bins.mkdir(exist_ok=True)
    for name, text in [("jeton", STUB_JETON), ("llama-bench", STUB_BENCH), ("llama-batched-bench", STUB_BATCHED)]:
        (bins / name).write_text(text)
        (bins / name).chmod(0o755)
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    calls, record = tmp_path / "calls", tmp_path / "record.jsonl"
    calls.write_text("")
    p = subprocess.run(["bash", str(RUN), "--model", str(model)], capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "ROUNDS": "2", "PARALLEL": "1", "RECORD": str(record),
                            "JETON": str(bins / "jeton"), "LLAMA_CPP_BIN": str(bins), "CALLS": str(calls), **env})
    assert p.returncode == 0, p.stderr
    rows = [json.loads(l) for l in record.read_text().splitlines()]
    order = [" ".join(c.split()[:1]) + (" pp" if " -p 512 " in c + " " else " tg" if " -p 0 " in c + " " else " par")
             for c in calls.read_text().splitlines()]
    return p.stdout, rows, order


def test_run_sh_records_each_engines_figures_in_turn(tmp_path):
    out, rows, order = stub_run(tmp_path)
    # Round 1: llama.cpp first for pp, last for tg; round 2 the other way round.
    assert order == ["llama-bench pp", "jeton pp", "jeton tg", "llama-bench tg", "llama-batched-bench par", "jeton par",
                     "jeton pp", "llama-bench pp", "llama-bench tg", "jeton tg", "jeton par", "llama-batched-bench par"]
    got = {(x["round"], x["engine"], x["figure"]): x for x in rows if "engine" in x}
    assert got[(1, "jeton", "pp512")]["value"] == 100.5 and got[(1, "jeton", "pp512")]["limit"] == 300
    assert got[(1, "jeton", "pp512")]["share"] == 40
    assert got[(2, "jeton", "tg128")]["value"] == 20.0 and got[(2, "jeton", "tg128")]["limit"] == 21.5
    assert got[(2, "jeton", "tg128")]["share"] == 92
    assert got[(1, "llama", "pp512")]["value"] == 50.25 and got[(1, "llama", "tg128")]["value"] == 16.0
    assert got[(2, "llama", "pp128x16")]["value"] == 50.62 and got[(2, "llama", "tg64x16")]["value"] == 24.30
    assert got[(2, "jeton", "tg64x16")]["value"] == 60.91
    assert [x["first"] for x in rows if "first" in x] == ["llama", "jeton"]
    assert line(out, "pp512:") == "pp512: 2.00x (2.00-2.00; 2 rounds), goal >= 2x: met"
    assert line(out, "tg128:") == "tg128: 1.25x (1.25-1.25; 2 rounds), goal >= 1.1x: met"
    assert line(out, "tg64x16:") == "tg64x16: 2.51x (2.51-2.51; 2 rounds), goal >= 2x: met"


def test_run_sh_records_a_failed_run_as_null_and_goes_on(tmp_path):
    out, rows, order = stub_run(tmp_path, JETON_TG_FAILS="1")
    assert len(order) == 12
    tg = [x for x in rows if x.get("engine") == "jeton" and x.get("figure") == "tg128"]
    assert [x["value"] for x in tg] == [None, None]
    assert "boom" in (tmp_path / "record.jsonl.log").read_text()
    assert line(out, "tg128:") == "tg128: n/a (no round measured both)"
    assert line(out, "tg128 share").endswith("NOT met")
    assert line(out, "pp512:").endswith("met")


def test_run_sh_takes_the_amx_peak_where_jeton_bench_prints_one(tmp_path):
    out, rows, _ = stub_run(tmp_path, STUB_AMX="1")
    pp = [x for x in rows if x.get("engine") == "jeton" and x.get("figure") == "pp512"]
    assert [(x["limit"], x["share"], x["limit_kind"]) for x in pp] == [(1200, 10, "amx"), (1200, 10, "amx")]
    assert "10% of 1200.0 GMAC/s AMX int8 peak" in out, out


def test_run_sh_names_the_peak_a_share_is_of(tmp_path):
    # A model of float weights: `jeton bench` prints an f32 FMA peak, which the record and summary name.
    out, rows, _ = stub_run(tmp_path, STUB_PEAK="f32")
    pp = [x for x in rows if x.get("engine") == "jeton" and x.get("figure") == "pp512"]
    assert [(x["limit"], x["share"], x["limit_kind"]) for x in pp] == [(300, 40, "f32"), (300, 40, "f32")]
    assert "40% of 300.0 GMAC/s f32 FMA peak" in out, out
    assert line(out, "pp512 share").endswith("limit 300.0-300.0 GMAC/s f32 FMA peak)"), out
    out, rows, _ = stub_run(tmp_path)
    assert {x["limit_kind"] for x in rows if x.get("figure") == "pp512" and x.get("engine") == "jeton"} == {"int8"}
    assert {x["limit_kind"] for x in rows if x.get("figure") == "tg128" and x.get("engine") == "jeton"} == {None}
    assert "40% of 300.0 GMAC/s int8 peak" in out, out
