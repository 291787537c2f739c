"""Every check code: a rule that triggers it and a near-miss that must not (mini ATT&CK fixture).

Fixture facts used below: T1059 execution (Linux, Windows, macOS); T1059.004 its sub-technique;
T1053 execution+persistence+privilege-escalation (Linux, Windows, Containers); T1529 impact
(Linux, Windows, IaaS); T1000 revoked -> T1059.004; T1002 deprecated; tactics TA0002 execution,
TA0003 persistence, TA0004 privilege-escalation, TA0040 impact.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from falco_coverage import load_attack, load_rules
from falco_coverage.analysis.tags.checks import check
from falco_coverage.codes import REGISTRY

CHECKS = REGISTRY.codes("tag")
from falco_coverage.columns import columns
from falco_coverage.config import CheckConfig, ConfigError, load_config


@pytest.fixture(scope="module")
def attack():
    return load_attack(Path(__file__).parent / "fixtures" / "mini-attack-2.1.json", cache=False)


def rule(name: str, tags: list[str], source: str = "syscall", desc: str = "d", enabled: bool = True) -> str:
    src = f"  source: {source}\n" if source != "syscall" else ""
    return (f"- rule: {name}\n  desc: {desc}\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"
            f"  tags: [{', '.join(tags)}]\n  enabled: {str(enabled).lower()}\n{src}")


def run(tmp_path: Path, attack, *rules: str, config: CheckConfig | None = None) -> pd.DataFrame:
    p = tmp_path / "rules.yaml"
    p.write_text("".join(rules))
    return check(load_rules(p), attack, config=config or CheckConfig())


def codes_of(findings: pd.DataFrame, rule_name: str = "R") -> list[str]:
    return sorted(str(c) for c in findings[findings["rule"] == rule_name]["code"])


def one(findings: pd.DataFrame, code: str) -> pd.Series:
    hit = findings[findings["code"] == code]
    assert len(hit) == 1, findings[["rule", "code", "tag"]].to_string()
    return hit.iloc[0]


# (tags of a rule that triggers the code, tags of a near-miss, expected suggestion or None)
CASES = {
    "unknown-technique": (["mitre_execution", "T9999"], ["mitre_execution", "T1059"], None),
    "revoked-technique": (["mitre_execution", "T1000"], ["mitre_execution", "T1059.004"], "T1059.004"),
    "deprecated-technique": (["mitre_persistence", "T1002"], ["mitre_persistence", "T1053"], None),
    "unknown-tactic": (["mitre_executoin", "T1059"], ["mitre_execution", "T1059"], "mitre_execution"),
    "tactic-mismatch": (["mitre_impact", "T1059"], ["mitre_execution", "T1059"], "mitre_execution"),
    "malformed-tag": (["mitre_execution", "t1059"], ["mitre_execution", "T1059"], "T1059"),
    "missing-tactic": (["T1059"], ["mitre_execution", "T1059"], "mitre_execution"),
    "unsupported-tactic": (["mitre_execution", "mitre_impact", "T1059"],
                           ["mitre_execution", "mitre_impact", "T1059", "T1529"], None),
    "tactic-id-mismatch": (["mitre_execution", "TA0040", "T1059"], ["mitre_execution", "TA0002", "T1059"], "TA0002"),
    "partial-tactics": (["mitre_execution", "T1053"],
                        ["mitre_execution", "mitre_persistence", "mitre_privilege_escalation", "T1053"],
                        "mitre_persistence, mitre_privilege_escalation"),
    "tactic-only": (["mitre_execution"], ["mitre_execution", "T1059"], None),
    "redundant-parent": (["mitre_execution", "T1059", "T1059.004"], ["mitre_execution", "T1059.004"], None),
    "no-mitre-tags": (["host"], ["host", "t1059"], None),
    "data-source-tag": (["mitre_execution", "T1059", "DS0017"], ["mitre_execution", "T1059", "DSL0017"], None),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_code_triggers_and_near_miss_does_not(tmp_path: Path, attack, code: str) -> None:
    bad, good, suggestion = CASES[code]
    f = run(tmp_path, attack, rule("R", bad), rule("Near", good))
    hit = one(f[f["rule"] == "R"], code)
    assert hit["severity"] == REGISTRY[code].severity.value
    assert (None if pd.isna(hit["suggestion"]) else hit["suggestion"]) == suggestion
    assert hit["message"] and "\n" not in hit["message"]
    assert code not in codes_of(f, "Near")


def test_every_registered_code_is_tested() -> None:
    # these need more than a tag list (a source, a description, a key, two releases, a detection model); each has
    # tests of its own (analytic-mismatch: tests/test_observability.py)
    assert set(CHECKS) == set(CASES) | {"platform-mismatch", "untagged-technique-mention", "tags-key-typo",
                                        "retired-tactic", "tactic-renamed", "other-release-tag", "analytic-mismatch"}


def test_findings_frame_columns(tmp_path: Path, attack) -> None:
    f = run(tmp_path, attack, rule("R", ["mitre_impact", "T1059"]))
    assert list(f.columns) == columns("findings")
    assert isinstance(f["severity"].dtype, pd.CategoricalDtype) and f["severity"].cat.ordered


def test_tactic_mismatch_messages_name_attack_objects(tmp_path: Path, attack) -> None:
    hit = one(run(tmp_path, attack, rule("R", ["mitre_impact", "T1059"])), "tactic-mismatch")
    assert "T1059 (Command and Scripting Interpreter) belongs to Execution" in hit["message"]
    assert "name Impact" in hit["message"]
    multi = one(run(tmp_path, attack, rule("R", ["mitre_impact", "T1053"])), "tactic-mismatch")
    assert pd.isna(multi["suggestion"])  # three possible tactics: not unambiguous
    assert "mitre_execution or mitre_persistence or mitre_privilege_escalation" in multi["message"]


def test_malformed_meaning_is_used_by_other_checks(tmp_path: Path, attack) -> None:
    f = run(tmp_path, attack, rule("R", ["tactic=impact", "technique_id=T1529"]))
    assert codes_of(f) == ["malformed-tag", "malformed-tag"]  # no missing-tactic, no tactic-mismatch
    f = run(tmp_path, attack, rule("R", ["Mitre_Impact", "T1059"]))
    assert "tactic-mismatch" in codes_of(f)  # Mitre_Impact counts as the impact tactic


def test_unknown_tactic_is_not_a_tactic_for_other_checks(tmp_path: Path, attack) -> None:
    f = run(tmp_path, attack, rule("R", ["mitre_data_destruction", "T1529"]))
    assert codes_of(f) == ["missing-tactic", "unknown-tactic"]
    assert pd.isna(one(f, "unknown-tactic")["suggestion"])  # nothing close enough
    f = run(tmp_path, attack, rule("R", ["TA9999", "T1529"]))
    assert "TA9999 is not a tactic ID" in one(f, "unknown-tactic")["message"]


def test_unsupported_tactic_needs_an_active_technique(tmp_path: Path, attack) -> None:
    f = run(tmp_path, attack, rule("R", ["mitre_impact", "T1000"]))  # only a revoked technique
    assert "unsupported-tactic" not in codes_of(f)


def test_platform_mismatch_by_source_and_config(tmp_path: Path, attack) -> None:
    f = run(tmp_path, attack, rule("R", ["mitre_execution", "T1059"], source="aws_cloudtrail"),
            rule("Near", ["mitre_impact", "T1529"], source="aws_cloudtrail"),
            rule("Unknown", ["mitre_execution", "T1059"], source="my_plugin"))
    hit = one(f, "platform-mismatch")
    assert hit["rule"] == "R" and "a aws_cloudtrail rule observes IaaS" in hit["message"]
    cfg = CheckConfig()
    cfg.source_platforms["my_plugin"] = ["IaaS"]
    f = run(tmp_path, attack, rule("Unknown", ["mitre_execution", "T1059"], source="my_plugin"), config=cfg)
    # a source the field catalogue does not cover: said once, as information, besides the tag finding
    assert codes_of(f, "Unknown") == ["platform-mismatch", "unchecked-source"]
    assert f.loc[f["code"] == "unchecked-source", "severity"].astype(str).tolist() == ["info"]


def test_untagged_technique_mention(tmp_path: Path, attack) -> None:
    f = run(tmp_path, attack,
            rule("R", ["mitre_execution", "T1059"], desc="Shell started, see T1529 and T1059"),
            rule("Near", ["mitre_execution", "T1059"], desc="Shell (T1059) not XT1529 nor T15290"))
    hit = one(f, "untagged-technique-mention")
    assert (hit["rule"], hit["technique_id"], hit["suggestion"]) == ("R", "T1529", "T1529")


def test_disabled_rules_are_checked_and_flagged(tmp_path: Path, attack) -> None:
    f = run(tmp_path, attack, rule("R", ["mitre_impact", "T1059"], enabled=False))
    assert bool(one(f, "tactic-mismatch")["enabled"]) is False


def test_checks_run_on_resolved_tags(tmp_path: Path, attack) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(rule("R", ["mitre_impact", "T1059"]))
    local = tmp_path / "local.yaml"
    local.write_text("- rule: R\n  tags: [mitre_execution, T1000]\n  override:\n    tags: replace\n")
    f = check(load_rules(base, local), attack, config=CheckConfig())
    assert codes_of(f) == ["revoked-technique"]
    assert (one(f, "revoked-technique")["file"], one(f, "revoked-technique")["line"]) == (str(local), 2)


def test_finding_lines_point_at_the_tag(tmp_path: Path, attack) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"
                 "  tags:\n    - mitre_impact\n    - T1059\n")
    f = check(load_rules(p), attack, config=CheckConfig())
    assert one(f, "tactic-mismatch")["line"] == 8
    assert one(f, "unsupported-tactic")["line"] == 7


# --- configuration -------------------------------------------------------------------------------


def test_config_disable_severity_exclude(tmp_path: Path, attack) -> None:
    rules = (rule("R", ["mitre_impact", "T1059"]), rule("K8s thing", ["mitre_impact", "T1059"]),
             rule("Plain", ["host"]))
    cfg = CheckConfig.from_mapping({"disable": ["no-mitre-tags"], "severity": {"tactic-mismatch": "warning"},
                                    "exclude": {"unsupported-tactic": ["K8s *"]}}, set(CHECKS))
    f = run(tmp_path, attack, *rules, config=cfg)
    assert "no-mitre-tags" not in set(f["code"].astype(str))
    assert set(f[f["code"] == "tactic-mismatch"]["severity"].astype(str)) == {"warning"}
    assert "unsupported-tactic" in codes_of(f, "R") and "unsupported-tactic" not in codes_of(f, "K8s thing")
    cfg = CheckConfig.from_mapping({"disable": ["all"], "enable": ["tactic-mismatch"]}, set(CHECKS))
    assert set(run(tmp_path, attack, *rules, config=cfg)["code"].astype(str)) == {"tactic-mismatch"}


def test_config_files_are_found_and_validated(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.falco-coverage]\ndisable = ["tactic-only"]\n')
    assert load_config(None, set(CHECKS), tmp_path).disabled == {"tactic-only"}
    (tmp_path / ".falco-coverage.yaml").write_text("severity:\n  partial-tactics: warning\n")
    assert load_config(None, set(CHECKS), tmp_path).severity == {"partial-tactics": "warning"}
    other = tmp_path / "other"
    other.mkdir()
    (other / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert load_config(None, set(CHECKS), other).disabled == set()
    for text, msg in [("disable: [no-such-code]\n", "unknown code"), ("colour: red\n", "unknown key"),
                      ("severity: {tactic-only: loud}\n", "severity"), ("[1, 2]\n", "mapping"),
                      ("disable: [\n", "invalid YAML")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=msg):
            load_config(bad, set(CHECKS))
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml", set(CHECKS))


def test_pre_commit_hook_entry_is_a_real_command(tmp_path: Path) -> None:
    import shlex

    import yaml

    from falco_coverage.run.cli import build_parser

    hooks = yaml.safe_load((Path(__file__).parents[1] / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    program, *args = shlex.split(hook["entry"])
    assert program == "falco-coverage" and hook["pass_filenames"] is True
    ns = build_parser().parse_args([*args, "rules.yaml"])
    assert ns.func.__name__ == "cmd_check"


def test_load_diagnostics_are_findings_of_the_same_registry(tmp_path: Path) -> None:
    from falco_coverage.analysis.tags.load_findings import load_findings

    p = tmp_path / "r.yaml"
    p.write_text("- macro: unused\n  condition: proc.name = x\n"
                 "- rule: Broken\n  desc: d\n  condition: nope\n  output: o\n  priority: NOTICE\n")
    rs = load_rules(p)
    found = load_findings(rs, config=CheckConfig())
    assert list(found.columns) == columns("findings")
    by_code = {c: (s, ln) for c, s, ln in zip(found["code"].astype(str), found["severity"].astype(str), found["line"])}
    # findings carry the finest code: the undefined macro, not every LOAD_ERR_VALIDATE
    assert by_code == {"ERROR_UNDEFINED_MACRO": ("error", 5), "LOAD_UNUSED_MACRO": ("warning", 1)}
    assert rs.errors.loc[0, "code"] == "LOAD_ERR_VALIDATE"
    cfg = CheckConfig.from_mapping({"disable": ["LOAD_UNUSED_MACRO"],
                                    "severity": {"ERROR_UNDEFINED_MACRO": "warning"}},
                                   set(REGISTRY.codes()))
    again = load_findings(rs, config=cfg)
    assert again["code"].astype(str).tolist() == ["ERROR_UNDEFINED_MACRO"]
    assert again["severity"].astype(str).tolist() == ["warning"]
    excluded = CheckConfig.from_mapping({"exclude": {"*": ["Brok*"]}}, set(REGISTRY.codes()))
    assert load_findings(rs, config=excluded)["rule"].tolist() == ["unused"]
