"""Alerts as their producers write them: Falco's JSON output and metrics (snapshot and
``metrics.output_file``), falcosidekick's webhook, Elasticsearch and Loki outputs and its Prometheus
counter, falco-exporter's counter, Elasticsearch ``_search`` responses and ``_bulk`` bodies, Loki
``query_range`` responses. Each shape is written here from the producer's documented format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falco_coverage import load_rules
from falco_coverage.alerts import AlertsError, load_alerts
from falco_coverage.alerts.read import read_bytes
from falco_coverage.alerts.shapes import metric_name
from falco_coverage.analysis.observed import observed

from .test_alerts import FALCO, lines

RULES = """\
- rule: Execution from /dev/shm
  desc: d
  condition: evt.type = execve and proc.exepath startswith /dev/shm/
  output: o
  priority: WARNING
  tags: [T1059]
- rule: Écriture sous /etc
  desc: d
  condition: evt.type = open and fd.name startswith /etc/
  output: o
  priority: WARNING
  tags: [T1565]
- rule: Shell in container
  desc: d
  condition: evt.type = execve
  output: o
  priority: NOTICE
  tags: [T1059]
"""


@pytest.fixture
def ruleset(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = tmp_path / "rules.yaml"
    p.write_text(RULES)
    return load_rules(p)


def fires(ruleset, *paths: Path | str, data: bytes | None = None) -> dict[str, int]:  # type: ignore[no-untyped-def]
    a = read_bytes(data) if data is not None else load_alerts(*paths)
    r = observed(ruleset, a.alerts).rules
    return {k: int(v) for k, v in zip(r["rule"], r["fires"]) if v}


# 1. rule names in metric names
@pytest.mark.parametrize("rule, metric", [
    ("Execution from /dev/shm", "Execution_from_dev_shm"), ("Read sensitive file untrusted", "Read_sensitive_file_untrusted"),
    ("Launch Privileged Container", "Launch_Privileged_Container"), ("a -- b (c)", "a_b_c"), ("x:y", "x:y"),
    ("Écriture sous /etc", "_criture_sous_etc"),  # each byte outside the set, one run
])
def test_metric_names_as_falco_writes_them(rule: str, metric: str) -> None:
    assert metric_name(rule) == metric


def test_snapshot_and_label_names_join_their_rules(ruleset) -> None:  # type: ignore[no-untyped-def]
    snapshot = {"time": "2026-11-01T11:00:00Z", "rule": "Falco internal: metrics snapshot", "source": "internal",
                "output_fields": {"falco.rules.Execution_from_dev_shm": 4, "falco.rules._criture_sous_etc": 2}}
    assert fires(ruleset, data=lines(snapshot)) == {"Execution from /dev/shm": 4, "Écriture sous /etc": 2}
    text = ('falcosecurity_falco_rules_matches_total{priority="4",rule_name="Écriture sous /etc",source="syscall"} 5\n'
            'falcosecurity_falco_rules_matches_total{priority="4",rule_name="Execution from /dev/shm",source="syscall"} 1\n')
    assert fires(ruleset, data=text.encode()) == {"Écriture sous /etc": 5, "Execution from /dev/shm": 1}


# 2. Falco's metrics.output_file
def test_falco_metrics_output_file(ruleset) -> None:  # type: ignore[no-untyped-def]
    doc = {"sample": 3, "output_fields": {"evt.hostname": "node-1", "evt.source": "syscall",
                                          "evt.time": 1793527200123456789, "falco.rules.matches_total": 7,
                                          "falco.rules.Execution_from_dev_shm": 7, "falco.host_num_cpus": 2}}
    a = read_bytes(lines(doc))
    assert a.n_problems == 0 and list(a.alerts["hostname"]) == ["node-1"]
    assert str(a.alerts["time"][0]) == "2026-11-01 10:00:00.123456789+00:00"
    assert fires(ruleset, data=lines(doc, {**doc, "sample": 4})) == {"Execution from /dev/shm": 7}


# 3. Elasticsearch
HIT = {"_index": "falco-2026.11.01", "_id": "x1", "_score": 1.0,
       "_source": {**FALCO, "@timestamp": "2026-11-01T10:00:00Z", "output_fields": {"proc_name": "bash"}}}
SEARCH = {"took": 3, "timed_out": False, "_shards": {"total": 1}, "hits": {"total": {"value": 2}, "max_score": 1.0,
                                                                           "hits": [HIT, {**HIT, "_id": "x2"}]}}


@pytest.mark.parametrize("indent", [None, 2])
def test_elasticsearch_search_response_compact_or_pretty(tmp_path: Path, ruleset, indent: int | None) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "search.json"
    p.write_text(json.dumps(SEARCH, indent=indent))
    a = load_alerts(p)
    assert len(a.alerts) == 2 and a.n_problems == 0 and set(a.alerts["shape"].astype(str)) == {"elasticsearch"}


def test_elasticsearch_hits_one_per_line_and_bulk_bodies(ruleset) -> None:  # type: ignore[no-untyped-def]
    a = read_bytes(lines(HIT, {**HIT, "_id": "x2"}))
    assert len(a.alerts) == 2 and a.n_problems == 0
    bulk = lines({"index": {"_index": "falco"}}, HIT["_source"], {"create": {"_index": "falco"}}, HIT["_source"])
    a = read_bytes(bulk)
    assert len(a.alerts) == 2 and a.n_problems == 0


# 4. the other producers' counters
@pytest.mark.parametrize("text", [
    # falco-exporter
    '# HELP falco_events Number of events\n# TYPE falco_events counter\n'
    'falco_events{hostname="node-1",priority="4",rule="Shell in container",k8s_ns_name="",k8s_pod_name="",source="syscall",tags="container,T1059"} 6\n',
    # falcosidekick
    '# TYPE falcosecurity_falcosidekick_falco_events_total counter\n'
    'falcosecurity_falcosidekick_falco_events_total{hostname="node-1",priority="notice",priority_raw="notice",rule="Shell in container",source="syscall",tags="container,T1059"} 6\n',
])
def test_exporter_and_sidekick_counters(ruleset, text: str) -> None:  # type: ignore[no-untyped-def]
    assert fires(ruleset, data=text.encode()) == {"Shell in container": 6}


def test_prometheus_text_without_a_rule_counter_is_an_error_not_zero(tmp_path: Path) -> None:
    p = tmp_path / "node.prom"
    p.write_text("# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.25\n")
    with pytest.raises(AlertsError, match="without a Falco rule-match counter"):
        load_alerts(p)


# 5. two nodes, two files: two series
def test_scrapes_of_two_nodes_are_two_series(tmp_path: Path, ruleset) -> None:  # type: ignore[no-untyped-def]
    line = 'falcosecurity_falco_rules_matches_total{priority="4",rule_name="Shell in container",source="syscall"} {}\n'
    scrapes = tmp_path / "scrapes"
    scrapes.mkdir()
    (scrapes / "node-a.prom").write_text(line.replace("{}", "13"))
    (scrapes / "node-b.prom").write_text(line.replace("{}", "11"))
    assert fires(ruleset, scrapes) == {"Shell in container": 24}
    # in one file, two samples are one series over the window: 13, then a restart and 2 more = 2 in the window
    (scrapes / "both.txt").write_text(line.replace("{}", "13 1000") + line.replace("{}", "2 2000"))
    assert fires(ruleset, scrapes / "both.txt") == {"Shell in container": 2}


# 6. Loki query_range
QUERY_RANGE = {"status": "success", "data": {"resultType": "streams", "result": [
    {"stream": {"rule": "Shell in container", "priority": "Notice", "source": "syscall", "hostname": "node-1"},
     "values": [["1793527200000000000", "line"], ["1793527260000000000", "line"]]}],
    "stats": {"summary": {"bytesProcessedPerSecond": 1}}}}


@pytest.mark.parametrize("indent", [None, 2])
def test_loki_query_range_response(tmp_path: Path, ruleset, indent: int | None) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "loki.json"
    p.write_text(json.dumps(QUERY_RANGE, indent=indent))
    assert fires(ruleset, p) == {"Shell in container": 2}


# 7. nanoseconds
def test_times_keep_their_nanoseconds(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_bytes(lines({**FALCO, "time": "2026-11-01T10:00:00.123456789Z"}))
    assert len(load_alerts(p, since="2026-11-01T10:00:00.123456789Z").alerts) == 1
    assert len(load_alerts(p, since="2026-11-01T10:00:00.12345679Z").alerts) == 0


# 8. a webhook's custom fields are not Elasticsearch's flattening
def test_a_webhook_whose_first_field_is_custom_stays_a_webhook() -> None:
    hook = {**FALCO, "uuid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "output_fields": {"custom_env": "prod", "proc.name": "bash"}}
    assert list(read_bytes(lines(hook)).alerts["shape"].astype(str)) == ["sidekick"]
    flat = {**FALCO, "output_fields": {"custom_env": "prod", "proc_name": "bash"}}
    assert list(read_bytes(lines(flat)).alerts["shape"].astype(str)) == ["elasticsearch"]


# archives: Parquet (the archives extra)
def _parquet(path: Path, **columns: object) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


def test_a_parquet_archive_reads_like_its_alerts(tmp_path: Path, ruleset) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    times = pd.to_datetime(["2026-11-01T10:00:00.123456789Z", "2026-11-01T11:00:00Z", None], utc=True,
                           format="ISO8601")
    p = _parquet(tmp_path / "a.parquet", time=times, rule=["Shell in container", "Execution from /dev/shm", "Shell in container"],
                 priority=["NOTICE", "warning", None], hostname=["n1", "n2", None],
                 tags=[["container", "T1059"], [], None], output=["x", "y", "z"])
    a = load_alerts(p, since="2026-11-01T10:00:00.123456789Z")
    assert list(a.alerts["rule"]) == ["Shell in container", "Execution from /dev/shm", "Shell in container"]
    assert list(a.alerts["priority"].astype(object).fillna("none")) == ["Notice", "Warning", "none"]
    assert list(a.alerts["tags"]) == [["container", "T1059"], [], []] and set(a.alerts["shape"].astype(str)) == {"parquet"}
    assert fires(ruleset, p) == {"Shell in container": 2, "Execution from /dev/shm": 1}
    # text times, comma-joined tags and a count column, beside JSON lines
    q = _parquet(tmp_path / "b.parquet", time=["2026-11-01T10:00:00Z"], rule=["Shell in container"],
                 tags=["container,T1059"], count=[5])
    j = tmp_path / "c.jsonl"
    j.write_bytes(lines(FALCO))
    assert fires(ruleset, q, j) == {"Shell in container": 6}


def test_bad_parquet_archives_are_one_error(tmp_path: Path) -> None:
    with pytest.raises(AlertsError, match="needs a 'rule' column"):
        load_alerts(_parquet(tmp_path / "norule.parquet", name=["x"]))
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(AlertsError, match="not a readable Parquet file"):
        load_alerts(bad)
