"""The Grafana dashboard (deploy/grafana/jeton.json) queries only metric families that GET /metrics
has, and covers what an operator watches; the answer-confidence histograms count answers."""
import json
import math
import os
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jeton_process import ROOT, JetonProcess

DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "jeton.json")
METRIC = re.compile(r"\bjeton_[a-z0-9_]+\b")


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def queries(dash):
    """Every PromQL expression in the dashboard: panel targets and template variable queries."""
    out = []
    for p in all_panels(dash["panels"]):
        out += [t["expr"] for t in p.get("targets", []) if "expr" in t]
    for v in dash["templating"]["list"]:
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v["type"] == "query" and q:
            out.append(q)
    return out


def sample_names(text):
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


@pytest.fixture(scope="module")
def server():
    s = JetonProcess("--model", "default", "--cache-tokens", "4096")
    yield s
    s.stop()


def scrape(server):
    status, _, text = server.request("GET", "/metrics")
    assert status == 200
    return text


def test_dashboard_is_valid_grafana_json():
    dash = json.load(open(DASHBOARD))
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 30
    names = [v["name"] for v in dash["templating"]["list"]]
    assert "datasource" in names and "model" in names
    ids = [p["id"] for p in all_panels(dash["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in all_panels(dash["panels"]):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] != "row":
            assert p["targets"], p["title"]
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
    for q in queries(dash):
        for a, b in ["()", "{}", "[]"]:
            assert q.count(a) == q.count(b), f"unbalanced {a}{b}: {q}"
        if "jeton_" in q and "label_values" not in q:
            assert 'model=~"$model"' in q, f"not filtered by the model variable: {q}"


def test_every_queried_metric_exists(server):
    # One answer of each kind, so that labelled series (requests by status) exist too.
    for body in [{"model": "default", "prompt": "Hello", "max_tokens": 4},
                 {"model": "default", "prompt": "Hello", "max_tokens": 4, "confidence": True}]:
        status, _, _ = server.request("POST", "/v1/completions", body)
        assert status == 200
    assert server.request("GET", "/" + "x" * 9000)[0] == 414  # a refusal of the HTTP layer, charted too
    have = sample_names(scrape(server))
    wanted = set()
    for q in queries(json.load(open(DASHBOARD))):
        wanted |= set(METRIC.findall(q))
    missing = sorted(wanted - have)
    assert not missing, f"the dashboard queries metrics /metrics does not have: {missing}"
    # What the issue asks the dashboard to show.
    for m in ["jeton_requests_total", "jeton_time_to_first_token_seconds_bucket", "jeton_inter_token_latency_seconds_bucket",
              "jeton_generation_tokens_total", "jeton_requests_waiting", "jeton_kv_cache_usage_ratio",
              "jeton_prefix_cache_hits_total", "jeton_prefix_cache_queries_total",
              "jeton_answer_mean_logprob_bucket", "jeton_answer_low_confidence_ratio_bucket"]:
        assert m in wanted, f"the dashboard does not chart {m}"


def histogram(text, name):
    count = total = None
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name + "_count":
                count = s.value
            if s.name == name + "_sum":
                total = s.value
    return count or 0, total or 0


def test_answer_histograms_count_every_answer_by_default(server):
    before = histogram(scrape(server), "jeton_answer_mean_logprob")
    ratio_before = histogram(scrape(server), "jeton_answer_low_confidence_ratio")
    status, _, body = server.request("POST", "/v1/completions", {"model": "default", "prompt": ["One", "Two"], "max_tokens": 5,
                                                                 "temperature": 0, "confidence": True})
    assert status == 200
    confs = [c["confidence"] for c in json.loads(body)["choices"]]
    # Without `confidence` the answer is still measured (confidence.measure_all) and counted.
    status, _, _ = server.request("POST", "/v1/chat/completions", {"model": "default", "max_tokens": 3,
                                                                   "messages": [{"role": "user", "content": "Hi"}]})
    assert status == 200
    text = scrape(server)
    after = histogram(text, "jeton_answer_mean_logprob")
    assert after[0] - before[0] == 3, "one observation per answer (choice)"
    ratio_after = histogram(text, "jeton_answer_low_confidence_ratio")
    assert ratio_after[0] - ratio_before[0] == 3
    # The two completions' observations are their reported means (the chat one adds a third).
    assert after[1] - before[1] <= sum(c["mean_logprob"] for c in confs) + 1e-9
    assert all(math.isfinite(c["mean_logprob"]) for c in confs)


def test_measure_all_off_counts_only_requests_that_ask():
    s = JetonProcess("--model", "default", "--cache-tokens", "4096", env={"JETON_CONFIDENCE_MEASURE_ALL": "false"})
    try:
        chat = {"model": "default", "max_tokens": 3, "messages": [{"role": "user", "content": "Hi"}]}
        assert s.request("POST", "/v1/chat/completions", chat)[0] == 200
        assert histogram(scrape(s), "jeton_answer_mean_logprob")[0] == 0
        status, _, body = s.request("POST", "/v1/chat/completions", dict(chat, confidence=True))
        assert status == 200
        count, total = histogram(scrape(s), "jeton_answer_mean_logprob")
        assert count == 1
        assert total == pytest.approx(json.loads(body)["choices"][0]["confidence"]["mean_logprob"], abs=1e-9)
    finally:
        s.stop()


def test_no_series_that_falls_is_read_as_a_counter(server):
    """rate() and increase() take every fall of a series as a counter reset: a series /metrics
    lowers between two scrapes (a histogram's _sum of log-probabilities) must not be read so."""
    def values(text):
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(text) for s in fam.samples}
    before = values(scrape(server))
    status, _, _ = server.request("POST", "/v1/completions", {"model": "default", "prompt": "Once upon", "max_tokens": 8,
                                                             "temperature": 0})
    assert status == 200
    after = values(scrape(server))
    fell = {name for (name, labels), v in after.items() if (name, labels) in before and v < before[(name, labels)]}
    assert "jeton_answer_mean_logprob_sum" in fell, "the test needs a series that falls"
    as_counter = set()
    for q in queries(json.load(open(DASHBOARD))):
        as_counter |= set(re.findall(r"\b(?:rate|irate|increase)\(\s*(jeton_[a-z0-9_]+)", q))
    assert not fell & as_counter, f"the dashboard reads falling series as counters: {sorted(fell & as_counter)}"
