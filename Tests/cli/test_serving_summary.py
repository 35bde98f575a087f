"""The serving benchmark's interleaved summary (benchmarks/serving/scenarios.py): the goal ratios
round by round, and the checks on its arguments. No server is needed: the record is written
here, with figures chosen so each median and verdict is known."""
import json
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "serving" / "scenarios.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def a_result(tok_s, ttft, itl_ratio=1.5):
    return {"clients": 16, "rounds": 1, "max_tokens": 64, "prompt_tokens_mean": 130.0, "output_tokens": 1024,
            "wall_s": 1024 / tok_s if tok_s else 0.0, "output_tok_s": tok_s, "ttft_p50_s": ttft, "ttft_p99_s": 2 * ttft,
            "itl_p50_ms": 100.0, "itl_p99_ms": 100.0 * itl_ratio, "itl_p99_over_p50": itl_ratio, "errors": {}}


def b_result(tok_s):
    return {"requests": 2, "max_tokens": 128, "prompt_tokens_mean": 130.0, "output_tok_s": tok_s,
            "decode_tok_s": tok_s, "ttft_p50_s": 0.5, "errors": {}}


def c_result(ttft, gap, covered=True):
    return {"streams": 4, "stream_tokens": 256, "long_max_tokens": 16, "long_prompt_tokens": 4096,
            "long_ttft_s": ttft, "long_prefill_tok_s": 4096 / ttft, "long_error": None,
            "clients": [{"max_gap_s": gap, "covered": covered, "tokens_in_window": 9}] * 4,
            "worst_gap_s": gap, "all_covered": covered, "errors": {}}


def record(tmp_path, results, rounds):
    scen = list(results)
    rec = {"interleaved": True, "rounds": rounds, "arms": ["jeton", "llama"], "scenarios": scen,
           "results": results, "load": {s: {"jeton": ["0.5"] * rounds, "llama": ["0.5"] * rounds} for s in scen}}
    path = tmp_path / "rounds.json"
    path.write_text(json.dumps(rec))
    return path


def test_three_rounds_give_the_median_ratio_and_its_range(tmp_path):
    path = record(tmp_path, {
        "a": {"jeton": [a_result(30, 1.0), a_result(20, 1.0), a_result(45, 1.0)],
              "llama": [a_result(10, 4.0), a_result(10, 1.0), a_result(15, 1.0)]},
        "b": {"jeton": [b_result(11), b_result(12), b_result(9)],
              "llama": [b_result(10), b_result(10), b_result(10)]},
        "c": {"jeton": [c_result(40, 0.7), c_result(60, 0.9), c_result(50, 0.8)],
              "llama": [c_result(100, 40), c_result(100, 40), c_result(100, 40)]},
    }, 3)
    r = run("--compare", str(path), "-")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    # Each round printed as the two-engine comparison does.
    assert out.count("-- round ") == 3
    assert "output tok/s 3.00x" in out and "output tok/s 2.00x" in out
    # Ratios 3, 2, 3: median 3 (goal >= 3 met); TTFT 0.25, 1, 1: median 1 (goal <= 0.5 not met).
    assert "(a) output tok/s: 3.00x (2.00-3.00; 3 rounds), goal >= 3: met" in out
    assert "(a) TTFT p50: 1.00x (0.25-1.00; 3 rounds), goal <= 0.5: NOT met" in out
    assert "(a) jeton's ITL p99/p50: 1.50 (1.50-1.50), goal <= 3: met" in out
    # 1.1, 1.2, 0.9: median 1.10, which meets 1.10 as printed.
    assert "(b) tok/s: 1.10x (0.90-1.20; 3 rounds), goal >= 1.1: met" in out
    assert "(c) long-prompt TTFT: 0.50x (0.40-0.60; 3 rounds), goal <= 0.5: met" in out
    assert "(c) jeton's worst stream gap: 0.90 s over the rounds, goal none over 1 s: met" in out


def test_an_even_count_of_rounds_takes_the_mean_of_the_middle_two(tmp_path):
    path = record(tmp_path, {"b": {"jeton": [b_result(12), b_result(16)], "llama": [b_result(10), b_result(10)]}}, 2)
    r = run("--compare", str(path), "-")
    assert r.returncode == 0, r.stderr
    assert "(b) tok/s: 1.40x (1.20-1.60; 2 rounds), goal >= 1.1: met" in r.stdout
    assert "(a)" not in r.stdout.split("round by round")[1]


def test_a_stall_or_an_early_end_fails_the_gap_goal(tmp_path):
    stall = record(tmp_path, {"c": {"jeton": [c_result(40, 1.3)], "llama": [c_result(100, 40)]}}, 1)
    out = run("--compare", str(stall), "-").stdout
    assert "goal none over 1 s: NOT met" in out
    early = record(tmp_path, {"c": {"jeton": [c_result(40, 0.5, covered=False)], "llama": [c_result(100, 40)]}}, 1)
    out = run("--compare", str(early), "-").stdout
    assert "goal none over 1 s: unproven: a stream ended early" in out


def test_a_gap_judged_as_printed_in_both_summaries(tmp_path):
    # 1.004 s prints as 1.00: the round's line and the summary both call it met; 1.006 s (1.01) neither.
    for gap, verdict in [(1.004, "met"), (1.006, "NOT met")]:
        path = record(tmp_path, {"c": {"jeton": [c_result(40, gap)], "llama": [c_result(100, 40)]}}, 1)
        r = run("--compare", str(path), "-")
        assert r.returncode == 0, r.stderr
        rounds, summary = r.stdout.split("round by round")
        assert f"(goal: none over 1 s: {verdict});" in rounds
        assert f"goal none over 1 s: {verdict}" in summary


def test_a_missing_figure_is_reported_not_divided(tmp_path):
    failed = c_result(40, 0.5)
    failed["long_ttft_s"] = None
    path = record(tmp_path, {"c": {"jeton": [failed], "llama": [c_result(100, 40)]}}, 1)
    r = run("--compare", str(path), "-")
    assert r.returncode == 0, r.stderr
    assert "(c) long-prompt TTFT: n/a" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["--arm", "x", "http://127.0.0.1:1", "--arm", "x", "http://127.0.0.1:2"], "labels must differ"),
    (["--arm", "x", "http://127.0.0.1:1", "--c-url", "y", "http://127.0.0.1:2"], "no --arm has"),
    (["--arm", "x", "http://127.0.0.1:1", "--interleave-rounds", "0"], "positive count"),
    (["--arm", "x", "http://10.0.0.1:1"], "only 127.0.0.1"),
    (["--c-url", "x", "http://127.0.0.1:2"], "go with --arm"),
    (["--arm", "x", "http://127.0.0.1:1", "--scenarios", "a,a"], "each once"),
    (["--arm", "x", "http://127.0.0.1:1", "--scenarios", "d"], "takes a, b, c"),
])
def test_bad_arguments_are_refused_before_any_request(args, message):
    r = run(*args)
    assert r.returncode != 0
    assert message in r.stderr


def test_failed_rounds_never_count_as_met(tmp_path):
    # Round 2's Jeton run failed (no tokens: a zero rate, NaN percentiles): its ratio is 0, so the
    # median of 3.0 and 0 cannot meet 3x; a None ITL ratio and gap are reported, not compared.
    dead = a_result(0.0, float("nan"), itl_ratio=float("nan"))
    dead["itl_p99_over_p50"] = None
    dead["errors"] = {"HTTP 503": 16}
    gapless = c_result(40, 0.5)
    gapless["worst_gap_s"] = None
    path = record(tmp_path, {
        "a": {"jeton": [a_result(30, 1.0), dead], "llama": [a_result(10, 4.0), a_result(10, 4.0)]},
        "c": {"jeton": [c_result(40, 0.5), gapless], "llama": [c_result(100, 40), c_result(float("nan"), 40)]},
    }, 2)
    r = run("--compare", str(path), "-")
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("round by round")[1]
    assert "(a) output tok/s: 1.50x (0.00-3.00; 2 rounds; 1 result(s) with errors), goal >= 3: NOT met" in out
    assert "(a) TTFT p50: 0.25x (0.25-0.25; 1 rounds, 1 round(s) without a figure; 1 result(s) with errors)" \
           ", goal <= 0.5: NOT met" in out
    assert "(a) jeton's ITL p99/p50: n/a" in out
    assert "(c) long-prompt TTFT: 0.40x (0.40-0.40; 1 rounds, 1 round(s) without a figure), goal <= 0.5: NOT met" in out
    assert "(c) jeton's worst stream gap: n/a" in out
    assert "nan" not in out


def test_each_round_has_its_own_prompts_and_the_servers_share_them(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    import argparse
    import scenarios
    a = argparse.Namespace(prompt_tokens=20, clients=3, single_requests=2, rounds=1, streams=2,
                           long_prompt_tokens=60, prompts=str(tmp_path / "p.json"))
    dead = "http://127.0.0.1:9"  # nothing listens: sizes from the word estimate
    first, again, other = (scenarios.make_prompts(dead, a, salt=k) for k in (0, 0, 1))
    assert first == again  # the same set for every server of a round
    flat = lambda p: p["a"][0] + p["b"] + p["c_streams"] + [p["c_long"]]
    assert len(set(flat(first) + flat(other))) == 2 * len(flat(first))  # no prompt repeats across rounds
    # Another round's prompts differ within their first words (a common head would be a cached prefix).
    for x, y in zip(flat(first), flat(other)):
        assert x.split()[:4] != y.split()[:4]
    assert not (tmp_path / "p.json").exists() or json.loads((tmp_path / "p.json").read_text())["c_long"] == first["c_long"]
