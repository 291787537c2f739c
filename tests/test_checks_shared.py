"""Integration: the checker on the upstream checker's own fixture and on the real Falco rules."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from falco_coverage import load_attack, load_rules
from falco_coverage.analysis.tags.checks import check
from falco_coverage.codes import REGISTRY

CHECKS = REGISTRY.codes("tag")
from falco_coverage.config import CheckConfig

from .conftest import shared_path
from .cli import run_cli

UPSTREAM = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]


@pytest.fixture(scope="module")
def peer_findings() -> pd.DataFrame:
    # the peer fixture's conditions name macros it never defines: those load errors are tested apart
    rs = load_rules(shared_path("peer", "falco_mitre_checker_test_rules.yaml"))
    return check(rs, load_attack(shared_path("attack", "enterprise-attack-13.1.json")), config=CheckConfig(),
                 include_load=False)


@pytest.fixture(scope="module")
def upstream_findings() -> pd.DataFrame:
    rs = load_rules(*(shared_path("falco-rules", "main", n) for n in UPSTREAM))
    return check(rs, load_attack(shared_path("attack", "enterprise-attack-18.1.json")), config=CheckConfig())


def _serious(f: pd.DataFrame, rule: str) -> pd.DataFrame:
    return f[(f["rule"] == rule) & f["severity"].isin(["error", "warning"])]


def test_peer_expected_mistakes_are_found(peer_findings: pd.DataFrame) -> None:
    f = peer_findings
    wrong = _serious(f, "wrong mitre rule")
    assert ("tactic-mismatch", "T1610") in set(zip(wrong["code"].astype(str), wrong["tag"]))
    missing = _serious(f, "wrong mitre rule multiple techniques and missing one tactic")
    hit = missing[missing["code"] == "tactic-mismatch"]
    assert list(hit["technique_id"]) == ["T1020"] and list(hit["suggestion"]) == ["mitre_exfiltration"]
    too_many = _serious(f, "too many tactics tags with multiple techniques")
    assert list(zip(too_many["code"].astype(str), too_many["tag"])) == [("unsupported-tactic", "mitre_execution")]


def test_peer_correct_rules_are_clean(peer_findings: pd.DataFrame) -> None:
    for name in ("correct mitre rule", "correct mitre rule tactics tags with multiple techniques", "not a mitre rule"):
        assert _serious(peer_findings, name).empty, name


def test_upstream_real_inconsistencies(upstream_findings: pd.DataFrame) -> None:
    f = upstream_findings
    ids = f[f["code"] == "tactic-id-mismatch"]
    assert sorted(ids["rule"]) == sorted(["Unexpected UDP Traffic", "Interpreted procs inbound network activity",
                                          "Interpreted procs outbound network activity"])
    assert set(ids["tag"]) == {"TA0011"} and set(ids["suggestion"]) == {"TA0010"}
    mismatch = f[f["code"] == "tactic-mismatch"]
    assert len(mismatch) >= 5  # several rules put a technique under the wrong tactic
    assert ("Launch Disallowed Container", "T1610") in set(zip(mismatch["rule"], mismatch["tag"]))
    assert f[f["code"].isin(["unknown-technique", "revoked-technique", "malformed-tag"])].empty
    # independent check of every tactic-mismatch against the raw ATT&CK rows
    attack = load_attack(shared_path("attack", "enterprise-attack-18.1.json"))
    rules = load_rules(*(shared_path("falco-rules", "main", n) for n in UPSTREAM)).rules.set_index("name")
    for rec in mismatch.to_dict("records"):
        tactics = set(attack.technique(rec["technique_id"])["tactics"])
        tagged = {t.removeprefix("mitre_").replace("_", "-") for t in rules.loc[rec["rule"], "tactic_tags"]}
        assert not tactics & tagged, rec


def test_plugin_rules_malformed_tags() -> None:
    rs = load_rules(*(shared_path("falco-plugin-rules", n) for n in
                      ("aws_cloudtrail_rules.yaml", "gcp_auditlog_rules.yaml", "github.yaml", "okta_rules.yaml")))
    f = check(rs, load_attack(shared_path("attack", "enterprise-attack-18.1.json")), config=CheckConfig())
    malformed = dict(zip(f[f["code"] == "malformed-tag"]["tag"], f[f["code"] == "malformed-tag"]["suggestion"]))
    assert malformed.get("T1562-impair-defenses") == "T1562"
    assert malformed.get("TA0005-defense-evasion") == "TA0005"


def test_cli_exit_codes_and_formats() -> None:
    peer = str(shared_path("peer", "falco_mitre_checker_test_rules.yaml"))
    attack = str(shared_path("attack", "enterprise-attack-13.1.json"))
    assert run_cli("check", peer, "--attack", attack).returncode == 1
    assert run_cli("check", peer, "--attack", attack, "--fail-on", "never").returncode == 0
    r = run_cli("check", peer, "--attack", attack, "--format", "sarif")
    log = json.loads(r.stdout)
    run = log["runs"][0]
    assert log["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "falco-coverage"
    assert [d["id"] for d in run["tool"]["driver"]["rules"]] == REGISTRY.codes("load") + list(CHECKS)
    res = run["results"]
    load_errors = [r_ for r_ in res if r_["ruleId"] == "ERROR_UNDEFINED_MACRO"]
    assert len(load_errors) == 34 and all(r_["level"] == "error" for r_ in load_errors)  # undefined macros
    # a macro written `condition: true` is a boolean to the rules-file schema: one schema warning
    assert [r_["message"]["text"] for r_ in res if r_["ruleId"] == "schema"] == [
        "not a rule: schema: condition: must be string"]
    assert len(res) == 42 and {r_["level"] for r_ in res} == {"error", "warning", "note"}
    loc = res[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("falco_mitre_checker_test_rules.yaml")
    assert loc["region"]["startLine"] >= 1
    r = run_cli("check", peer, "--attack", attack, "--format", "github")
    assert "::notice file=" in r.stdout and "::error file=" in r.stdout
    r = run_cli("check", peer, "--attack", attack, "--format", "json")
    assert len(json.loads(r.stdout)) == 42  # the same findings as SARIF
    assert "Falco would refuse these rules: 34 load error(s)" in r.stderr
    bad = run_cli("check", str(shared_path("peer", "falco_mitre_checker_not_rules.yaml")), "--attack", attack)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "not a readable Falco rules file" in bad.stderr.splitlines()[-1]
