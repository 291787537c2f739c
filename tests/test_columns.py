"""Every frame the package returns has exactly the documented columns and dtypes, empty ones too."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from falco_coverage import load_attack, load_rules
from falco_coverage.analysis.tags.checks import check
from falco_coverage.analysis.coverage.compare import attack_drift, tactic_change, tactic_moves, technique_change
from falco_coverage.analysis.coverage import coverage
from falco_coverage.analysis.tags.lint import lint
from falco_coverage.columns import SCHEMAS, columns, conform, dtypes
from falco_coverage.alerts.read import read_bytes
from falco_coverage.analysis.tags.detection_fit import rule_detections
from falco_coverage.analysis.observed import observed, observed_techniques
from falco_coverage.analysis.coverage.observability import observability, reference_verdicts
from falco_coverage.analysis.coverage.sensors import profile_frame
from falco_coverage.analysis.suggest import suggest
from falco_coverage.config import CheckConfig

from .detection_fixture import write_bundle

RULES = """\
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve and proc.name in (shells)
- macro: lonely
  condition: proc.name = x
- rule: Shell
  desc: a shell, see T1059.004
  condition: spawned and not user.name = root
  output: "shell %proc.name"
  priority: NOTICE
  tags: [mitre_execution, T1059.004, maturity_stable]
- rule: Revoked
  desc: old tag
  condition: proc.name = y
  output: "y"
  priority: WARNING
  tags: [mitre_persistence, T1000, t1529]
"""


def _frames(rules: Path, attack: Path, detection: Path) -> dict[str, list[pd.DataFrame]]:
    rs = load_rules(rules)
    a = load_attack(attack)
    cov = coverage(rs, a)
    cov_all = coverage(rs, a, platforms=["Linux", "Windows", "IaaS"])
    d = load_attack(detection)  # with a detection model
    shell = {"time": "2026-11-01T10:00:00Z", "rule": "Shell", "priority": "Notice", "source": "syscall",
             "hostname": "h", "tags": ["T1059.004"]}
    alerts = read_bytes(json.dumps(shell).encode() + b"\nnot json\n")
    no_alerts = read_bytes(b"")
    cov_d = coverage(rs, d)
    return {
        "attack.detection_strategies": [a.detection_strategies, d.detection_strategies],
        "attack.analytics": [a.analytics, d.analytics], "attack.data_components": [a.data_components,
                                                                                  d.data_components],
        "attack.detections": [a.detections, d.detections],
        "coverage.observability": [cov_d.observability, observability(d, [], ["Linux"])],
        "coverage.references": [cov_d.references, reference_verdicts(d, [], ["Linux"]), cov.references],
        "coverage.rule_detections": [rule_detections(rs.rules, d)],
        "sensors.profile": [profile_frame(), profile_frame({})],
        "alerts.alerts": [alerts.alerts, no_alerts.alerts], "alerts.problems": [alerts.problems, no_alerts.problems],
        "observed.rules": [observed(rs, alerts.alerts).rules, observed(rs, no_alerts.alerts).rules],
        "observed.techniques": [observed_techniques(cov_d, observed(rs, alerts.alerts)),
                                observed_techniques(cov, observed(rs, no_alerts.alerts))],
        "rules.rules": [rs.rules], "rules.macros": [rs.macros], "rules.lists": [rs.lists],
        "rules.diagnostics": [rs.diagnostics], "rules.files": [rs.files],
        "attack.tactics": [a.tactics], "attack.techniques": [a.techniques],
        "attack.technique_tactics": [a.technique_tactics],
        "coverage.techniques": [cov.techniques, cov_d.techniques], "coverage.tactics": [cov.tactics, cov_d.tactics],
        "coverage.gaps": [cov.gaps, cov_d.gaps],
        "coverage.rule_tactics": [cov.rule_tactics], "coverage.tactic_only": [cov.tactic_only],
        "compare.tactics": [tactic_change(cov, cov_all)], "compare.techniques": [technique_change(cov, cov_all)],
        "compare.drift": [attack_drift(rs, a, a)],
        "compare.tactic_moves": [tactic_moves(a, a), tactic_moves(load_attack(version="18.1"),
                                                                  load_attack(version="19.1"))],
        "findings": [check(rs, a, config=CheckConfig()), lint(rs, config=CheckConfig())],
        "attack.technique_text": [a.technique_text, d.technique_text],
        "suggest.suggestions": [suggest(rs, a, builtin=False), suggest(rs, d, only=[])],
    }


@pytest.fixture(params=["full", "empty"])
def frames(request: pytest.FixtureRequest, tmp_path: Path, mini21: Path) -> dict[str, list[pd.DataFrame]]:
    p = tmp_path / "rules.yaml"
    p.write_text(RULES if request.param == "full" else "# no items\n")
    return _frames(p, mini21, write_bundle(tmp_path / "enterprise-attack-18.9.json"))


def test_every_schema_is_exercised(frames: dict[str, list[pd.DataFrame]]) -> None:
    assert set(frames) == set(SCHEMAS)


def test_every_frame_has_its_documented_columns_and_dtypes(frames: dict[str, list[pd.DataFrame]]) -> None:
    for name, dfs in frames.items():
        for df in dfs:
            assert list(df.columns) == columns(name), name
            got = {c: str(t) for c, t in df.dtypes.items()}
            assert got == dtypes(name), name


def test_the_full_fixture_is_not_trivially_empty(tmp_path: Path, mini21: Path) -> None:
    p = tmp_path / "rules.yaml"
    p.write_text(RULES)
    frames = _frames(p, mini21, write_bundle(tmp_path / "enterprise-attack-18.9.json"))
    empty = sorted(n for n, dfs in frames.items() if all(df.empty for df in dfs))
    # nothing is lost or drifts when a release is compared with itself
    assert empty == ["compare.drift", "compare.techniques", "coverage.tactic_only"]


def test_missing_values_follow_one_rule(tmp_path: Path, mini21: Path) -> None:
    p = tmp_path / "rules.yaml"
    p.write_text(RULES)
    rs = load_rules(p)
    a = load_attack(mini21)
    revoked = a.technique("T1000")
    assert pd.isna(a.technique("T1059")["parent_id"]) and pd.isna(a.technique("T1059")["replaced_by"])
    assert not pd.isna(revoked["replaced_by"])
    findings = check(rs, a, config=CheckConfig())
    assert findings["column"].isna().all() and findings["line"].notna().all()  # tag findings have no column
    assert findings.loc[findings["code"] == "malformed-tag", "tag"].tolist() == ["t1529"]
    assert all(isinstance(v, list) for v in rs.rules["tags"]) and all(isinstance(v, list) for v in rs.lists["items"])
    assert pd.isna(rs.rule("Revoked")["maturity"]) and rs.rule("Shell")["maturity"] == "stable"


def test_conform_casts_and_orders() -> None:
    df = pd.DataFrame({"n_lists": [1], "file": ["f"], "loaded": [1], "base": [0], "n_rules": [0], "n_macros": [0],
                       "constructs": [[]]})
    out = conform(df, "rules.files")
    assert list(out.columns) == columns("rules.files")
    assert str(out["loaded"].dtype) == "bool" and str(out["file"].dtype) == "str"
