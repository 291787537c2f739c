"""Alerts in every shape, bad input, and the join to the rule set (silent, noisy, unknown) by hand."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from falco_coverage import load_rules
from falco_coverage.alerts import AlertsError, load_alerts
from falco_coverage.alerts.read import read_bytes
from falco_coverage.analysis.observed import observed

# Written from the formats' documentation, not copied from real payloads.
FALCO = {"time": "2026-11-01T10:00:00.123456789Z", "rule": "Shell in container", "priority": "Notice",
         "source": "syscall", "hostname": "node-1", "tags": ["container", "T1059"], "output": "shell",
         "output_fields": {"proc.name": "bash"}}
SIDEKICK = {**FALCO, "uuid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "hostname": "node-2",
            "output_fields": {"proc.name": "bash", "environment": "prod"}}
ELASTIC = {**FALCO, "@timestamp": "2026-11-01T10:05:00Z", "time": "2026-11-01T10:05:00Z", "tags": "container,T1059",
           "output_fields": {"proc_name": "bash"}}
LOKI = {"streams": [{"stream": {"rule": "Read secrets", "priority": "Warning", "source": "syscall",
                                "hostname": "node-3", "tags": "T1555,filesystem"},
                     "values": [["1793527200000000000", "line one"], ["1793527260000000000", "line two"]]}]}
SNAPSHOT = {"time": "2026-11-01T11:00:00Z", "rule": "Falco internal: metrics snapshot", "source": "internal",
            "priority": "Informational", "hostname": "node-1",
            "output_fields": {"falco.rules.matches_total": 4, "falco.rules.Read_secrets": 4}}
DROP = {"time": "2026-11-01T11:00:00Z", "rule": "Falco internal: syscall event drop", "source": "internal",
        "output_fields": {}}
PROMETHEUS = b"""# HELP falcosecurity_falco_rules_matches_total Number of times rules match
# TYPE falcosecurity_falco_rules_matches_total counter
falcosecurity_falco_rules_matches_total{hostname="node-4",priority="4",rule_name="Read secrets",source="syscall",tag_T1555="true"} 3 1793527200000
falcosecurity_falco_rules_matches_total{hostname="node-4",priority="4",rule_name="Read secrets",source="syscall",tag_T1555="true"} 10 1793530800000
falcosecurity_falco_outputs_queue_num_drops{hostname="node-4"} 0
"""

RULES = """\
- rule: Shell in container
  desc: a shell
  condition: evt.type = execve and proc.name = bash
  output: shell
  priority: NOTICE
  tags: [container, mitre_execution, T1059]
- rule: Read secrets
  desc: secrets read
  condition: evt.type = openat and fd.name = /etc/shadow
  output: read
  priority: WARNING
  tags: [filesystem, mitre_credential_access, T1555]
- rule: Quiet one
  desc: never fires
  condition: evt.type = openat and fd.name = /nothing
  output: quiet
  priority: WARNING
  tags: [T1005]
- rule: Disabled one
  desc: off
  condition: evt.type = openat and fd.name = /off
  output: off
  priority: WARNING
  enabled: false
"""


def lines(*docs: dict) -> bytes:
    return b"\n".join(json.dumps(d).encode() for d in docs) + b"\n"


def test_every_json_shape() -> None:
    a = read_bytes(lines(FALCO, SIDEKICK, ELASTIC, LOKI, SNAPSHOT, DROP))
    df = a.alerts
    assert list(df["shape"].astype(str)) == ["falco", "sidekick", "elasticsearch", "loki", "loki", "falco"]
    assert list(df["kind"].astype(str)) == ["alert"] * 5 + ["counter"]
    assert df.loc[2, "tags"] == ["container", "T1059"]  # comma-joined tags split
    assert df.loc[3, "tags"] == ["T1555", "filesystem"] and df.loc[3, "hostname"] == "node-3"
    assert str(df.loc[3, "time"]) == "2026-11-01 10:00:00+00:00"  # Loki's nanoseconds
    assert df.loc[5, "rule"] == "Read_secrets" and df.loc[5, "count"] == 4
    assert a.n_internal == 1 and a.problems.empty  # the drop alert is skipped, not a problem
    assert str(df.loc[0, "priority"]) == "Notice" and df.loc[0, "line"] == 1


def test_prometheus_counters() -> None:
    a = read_bytes(PROMETHEUS)
    df = a.alerts
    assert list(df["count"]) == [3, 10] and set(df["shape"].astype(str)) == {"prometheus"}
    assert df.loc[0, "tags"] == ["T1555"] and str(df.loc[0, "priority"]) == "Warning"  # Falco's number 4
    assert df.loc[1, "line"] == 4 and a.problems.empty


def test_files_directories_and_gzip(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.jsonl").write_bytes(lines(FALCO))
    (tmp_path / "d" / "b.gz").write_bytes(gzip.compress(lines(SIDEKICK, SIDEKICK)))
    a = load_alerts(tmp_path / "d")
    assert len(a.alerts) == 3 and a.files == {str(tmp_path / "d" / "a.jsonl"): 1, str(tmp_path / "d" / "b.gz"): 2}


def test_bad_lines_are_counted_never_fatal(tmp_path: Path) -> None:
    data = lines(FALCO) + b"{not json\n" + b'{"no": "rule"}\n' + b"plain text\n" + lines(SIDEKICK)
    a = read_bytes(data)
    assert len(a.alerts) == 2  # the good lines are all kept
    assert list(a.problems["line"]) == [2, 3, 4]
    assert "not valid JSON" in a.problems.loc[0, "reason"] and "no known alert shape" in a.problems.loc[1, "reason"]


def test_truncated_gzip_keeps_the_lines_before(tmp_path: Path) -> None:
    blob = gzip.compress(lines(*[{**FALCO, "hostname": f"node-{i}", "output": f"x{i * 7919 % 10007}"}
                                 for i in range(20000)]))
    p = tmp_path / "cut.gz"
    p.write_bytes(blob[: len(blob) // 2])
    a = load_alerts(p)
    assert 0 < len(a.alerts) < 20000 and "ends early" in a.problems["reason"].iloc[-1]


@pytest.mark.parametrize("content", [b"- rule: x\n  condition: y\n", b"hello\nworld\n", b'{"a": 1}\n',
                                     b"# a rules file's header comment\n- rule: x\n  condition: y\n"])
def test_a_file_of_another_kind_is_one_error(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "other.txt"
    p.write_bytes(content)
    with pytest.raises(AlertsError) as info:
        load_alerts(p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(AlertsError, match="no such file"):
        load_alerts(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AlertsError, match="no files"):
        load_alerts(tmp_path / "empty")


def test_window() -> None:
    a = load_alerts("-", stdin=__import__("io").BytesIO(lines(FALCO, ELASTIC)), since="2026-11-01T10:01:00Z")
    assert list(a.alerts["shape"].astype(str)) == ["elasticsearch"]


def test_join_by_hand(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    rs = load_rules(rules)
    alerts = read_bytes(lines(FALCO, SIDEKICK, ELASTIC, SNAPSHOT, {**FALCO, "rule": "Not in the set",
                                                                   "tags": ["T1611"]}) + PROMETHEUS).alerts
    o = observed(rs, alerts, noisy_share=0.3)
    per = o.rules.set_index("rule")
    # Shell: 3 alerts. Read secrets: snapshot 4 (one sample) + Prometheus 10 - 3 = 7 -> 11. Not in the set: 1.
    assert per.loc["Shell in container", "fires"] == 3
    assert per.loc["Read secrets", "fires"] == 11
    assert per.loc["Not in the set", "fires"] == 1 and not per.loc["Not in the set", "in_ruleset"]
    assert per.loc["Not in the set", "tags"] == ["T1611"]  # the alert's own tags, flagged as such
    assert per.loc["Shell in container", "tags"] == ["container", "mitre_execution", "T1059"]  # the rule set's
    assert per.loc["Shell in container", "hosts"] == ["node-1", "node-2"]
    assert abs(per.loc["Read secrets", "share"] - 11 / 15) < 1e-9
    assert list(o.silent["rule"]) == ["Quiet one"]  # the disabled rule is not silent, it is off
    assert list(o.noisy["rule"]) == ["Read secrets"]  # 73% of fires; Shell is 20%
    assert list(o.unknown["rule"]) == ["Not in the set"]
    # 3 + 11 + 1 fires; of the 3 rules that could fire (the disabled one is off) 2 fired
    assert o.summary() == {"fires": 15, "rules": 3, "rules_fired": 2, "unknown": 1, "silent": 1, "noisy": 1}
    assert pd.api.types.is_datetime64_any_dtype(o.rules["first_seen"])


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from falco_coverage.run.cli import main

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_bytes(lines(FALCO, SIDEKICK) + b"{broken\n")
    assert main(["alerts", str(rules), "--alerts", str(alerts)]) == 0
    out, err = capsys.readouterr()
    assert "Shell in container" in out and "silent (enabled, no fire): 2 rule(s)" in out
    assert f"{alerts}:3: not valid JSON" in err and "Traceback" not in err
    assert main(["alerts", str(rules), "--alerts", str(alerts), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["fires"] == 2 and doc["summary"]["unreadable_lines"] == 1
    assert doc["summary"]["rules_fired"] == 1 and doc["summary"]["rules"] == 3  # Shell fired; Disabled one is off
    other = tmp_path / "other.txt"
    other.write_text("hello\n")
    assert main(["alerts", str(rules), "--alerts", str(other)]) == 2
    err = capsys.readouterr().err
    assert len([x for x in err.splitlines() if "error" in x]) == 1 and str(other) in err
    assert main(["alerts", str(rules), "--alerts", str(alerts), "--since", "yesterday-ish"]) == 2
    assert "is not a time" in capsys.readouterr().err


def test_four_way_view(tmp_path: Path) -> None:
    from falco_coverage import load_attack
    from falco_coverage.analysis.coverage import coverage
    from falco_coverage.analysis.observed import observed_techniques

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    rs = load_rules(rules)
    cov = coverage(rs, load_attack(version="19.1"))
    t = observed_techniques(cov, observed(rs, read_bytes(lines(FALCO)).alerts)).set_index("technique_id")
    assert t.loc["T1059", "view"] == "fired" and t.loc["T1059", "fires"] == 1
    assert t.loc["T1555", "view"] == "detected, silent" and t.loc["T1005", "view"] == "detected, silent"
    assert set(t["view"].astype(str)) <= {"fired", "detected, silent", "observable", "partly observable", "not observable"}


def test_time_that_is_not_text_is_missing_not_epoch() -> None:
    a = read_bytes(lines(FALCO, {**FALCO, "time": 1793527200}, {**FALCO, "tags": ["x", 1]}))
    df = a.alerts
    assert len(df) == 3 and pd.isna(df.loc[1, "time"]) and df.loc[0, "time"].year == 2026
    assert df.loc[2, "tags"] == ["x"] and df.loc[0, "tags"] == FALCO["tags"]
    assert list(df["count"]) == [1, 1, 1] and list(df["kind"].astype(str)) == ["alert"] * 3
