"""Coverage on the mini ATT&CK fixture, every number worked out by hand (see the rules below).

ATT&CK fixture (active): T1059 execution [Linux, Windows, macOS]; T1059.004 (sub of T1059) execution
[Linux, macOS]; T1053 execution+persistence+privilege-escalation [Linux, Windows, Containers];
T1053.003 (sub of T1053) same tactics [Linux]; T1529 impact [Linux, Windows, IaaS] (1 group, 0 software).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from falco_coverage import load_attack, load_rules
from falco_coverage.columns import columns
from falco_coverage.analysis.coverage import coverage
from falco_coverage.errors import FalcoCoverageError

MINI = Path(__file__).parent / "fixtures" / "mini-attack-2.1.json"


def rule(name: str, tags: list[str], *, maturity: str | None = None, priority: str = "WARNING",
         enabled: bool = True, source: str = "syscall") -> str:
    tags = tags + ([f"maturity_{maturity}"] if maturity else [])
    return (f"- rule: {name}\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: {priority}\n"
            f"  tags: [{', '.join(tags)}]\n  enabled: {str(enabled).lower()}\n  source: {source}\n")


RULES = "".join([
    rule("A", ["mitre_execution", "T1059.004"], maturity="stable"),
    rule("B", ["mitre_persistence", "T1053"], maturity="incubating", priority="NOTICE"),
    rule("C", ["mitre_impact", "T1529"], enabled=False),
    rule("D", ["mitre_execution", "t1059"], maturity="sandbox", priority="ERROR"),  # malformed: still counts
    rule("E", ["T1000", "T9999"]),  # revoked and unknown: count for nothing
    rule("F", ["mitre_impact", "T1529"], source="aws_cloudtrail"),
])


@pytest.fixture(scope="module")
def attack():
    return load_attack(MINI, cache=False)


@pytest.fixture
def ruleset(tmp_path: Path):
    p = tmp_path / "rules.yaml"
    p.write_text(RULES)
    return load_rules(p)


def cell(cov, tactic: str, tid: str) -> pd.Series:
    t = cov.techniques
    hit = t[(t["tactic"] == tactic) & (t["technique_id"] == tid)]
    assert len(hit) == 1, (tactic, tid)
    return hit.iloc[0]


def test_default_scope(attack, ruleset) -> None:
    cov = coverage(ruleset, attack)
    assert list(cov.techniques.columns) == columns("coverage.techniques")
    assert list(cov.tactics.columns) == columns("coverage.tactics")
    assert list(cov.gaps.columns) == columns("coverage.gaps")
    assert cov.scope.platforms == ("Containers", "IaaS", "Linux")  # syscall + aws_cloudtrail
    assert (cov.scope.n_rules, cov.scope.n_rules_total) == (5, 6)  # C is disabled
    t1059 = cell(cov, "execution", "T1059")
    assert (t1059["n_rules"], t1059["rules"], t1059["covered_via"]) == (2, ["A", "D"], "direct")
    assert cell(cov, "execution", "T1059.004")["rules"] == ["A"]
    # a multi-tactic technique is counted in each of its columns
    for tactic in ("execution", "persistence", "privilege-escalation"):
        assert cell(cov, tactic, "T1053")["rules"] == ["B"]
        assert cell(cov, tactic, "T1053.003")["n_rules"] == 0  # a parent tag does not cover sub-techniques
    assert cell(cov, "impact", "T1529")["rules"] == ["F"]
    tac = cov.tactics.set_index("tactic")
    assert tac.loc["execution", ["applicable", "covered", "n_rules"]].tolist() == [2, 2, 3]
    assert tac.loc["persistence", ["applicable", "covered", "coverage", "n_rules"]].tolist() == [1, 1, 1.0, 1]
    assert tac.loc["impact", ["applicable", "covered", "n_rules"]].tolist() == [1, 1, 1]
    assert cov.gaps.empty
    assert cov.summary() == {"applicable": 3, "covered": 3, "coverage": 1.0, "rules": 5}
    rt = cov.rule_tactics
    assert sorted(zip(rt["rule"], rt["tactic"].astype(str))) == sorted([
        ("A", "execution"), ("B", "execution"), ("D", "execution"), ("B", "persistence"),
        ("B", "privilege-escalation"), ("F", "impact")])


def test_sub_technique_rolls_up_to_parent(attack, ruleset) -> None:
    cov = coverage(ruleset, attack, maturities=["stable"])  # only A, which tags T1059.004
    t1059 = cell(cov, "execution", "T1059")
    assert (t1059["covered"], t1059["covered_via"], t1059["rules"]) == (True, "sub-technique", ["A"])
    tac = cov.tactics.set_index("tactic")
    assert tac.loc["execution", ["applicable", "covered", "coverage"]].tolist() == [2, 1, 0.5]
    assert cov.scope.platforms == ("Containers", "Linux")  # only syscall rules in scope


def test_parent_tag_alone(attack, ruleset) -> None:
    cov = coverage(ruleset, attack, min_priority="error")  # only D (t1059 -> T1059)
    assert cell(cov, "execution", "T1059")["covered_via"] == "direct"
    assert not cell(cov, "execution", "T1059.004")["covered"]


def test_disabled_and_source_filters(attack, ruleset) -> None:
    cov = coverage(ruleset, attack, include_disabled=True)
    assert cell(cov, "impact", "T1529")["rules"] == ["C", "F"]
    cov = coverage(ruleset, attack, sources=["syscall"])
    assert cov.scope.platforms == ("Containers", "Linux")
    assert list(cov.gaps["technique_id"]) == ["T1529"]  # Linux applies; F (cloudtrail) is out of scope
    gap = cov.gaps.iloc[0]
    assert (gap["n_groups"], gap["n_software"], gap["tactics"]) == (1, 0, ["impact"])


def test_platforms_change_the_denominator(attack, ruleset) -> None:
    cov = coverage(ruleset, attack, platforms=["Windows"])
    assert set(cov.techniques["technique_id"]) == {"T1059", "T1053", "T1529"}  # no Windows sub-techniques
    cov = coverage(ruleset, attack, platforms=["Containers"])
    assert set(cov.techniques["technique_id"]) == {"T1053"}
    assert cov.tactics.set_index("tactic").loc["impact", "applicable"] == 0


def test_gaps_ranked_by_group_use(attack, tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(rule("Only", ["mitre_persistence", "T1053.003"]))
    cov = coverage(load_rules(p), attack)
    # T1059 (1 group, 1 software) before T1529 (1 group, 0 software)
    assert list(cov.gaps["technique_id"]) == ["T1059", "T1529"]
    assert cov.gaps.set_index("technique_id").loc["T1059", "n_subtechniques"] == 1


def test_bad_priority(attack, ruleset) -> None:
    with pytest.raises(FalcoCoverageError, match="unknown priority 'LOUD'"):
        coverage(ruleset, attack, min_priority="LOUD")


def test_scope_describe(attack, ruleset) -> None:
    text = coverage(ruleset, attack, maturities=["stable"], min_priority="NOTICE").scope.describe()
    assert text == ("ATT&CK 1.2 enterprise · platforms: Containers, Linux · 1 of 6 rules (enabled) · "
                    "maturity: stable · priority >= Notice")  # canonicalised


# --- figures and layers --------------------------------------------------------------------------


def test_figures_build_and_escape_rule_text(attack, tmp_path: Path) -> None:
    from falco_coverage import plots

    p = tmp_path / "r.yaml"
    p.write_text(rule("<img src=x onerror=alert(1)>", ["mitre_execution", "T1059"]))
    cov = coverage(load_rules(p), attack)
    fig = plots.matrix_heatmap(cov)
    hover = json.dumps(fig.to_dict()["data"][0]["hovertext"])
    assert "&lt;img src=x onerror=alert(1)&gt;" in hover and "<img" not in hover
    # tactic names wrap onto two lines so 15 columns read in a 1000 px window
    assert fig.data[0].x == ("Execution", "Persistence", "Privilege<br>Escalation", "Impact")
    z = fig.data[0].z
    # top-level cells: execution {T1059, T1053}, persistence {T1053}, privilege-escalation {T1053}, impact {T1529}
    assert sum(v is not None for row in z for v in row) == 2 + 1 + 1 + 1
    full = plots.matrix_heatmap(cov, subtechniques=True)  # + T1059.004, and T1053.003 in each of its 3 columns
    assert sum(v is not None for row in full.data[0].z for v in row) == 4 + 2 + 2 + 1
    for fig in (plots.tactic_bars(cov), plots.breakdown(cov, "maturity"), plots.breakdown(cov, "source"),
                plots.breakdown(cov, "priority"), plots.gaps_table(cov)):
        assert fig.to_dict()["data"]
    with pytest.raises(ValueError):
        plots.breakdown(cov, "colour")


def test_navigator_layer(attack, ruleset, tmp_path: Path) -> None:
    from mitreattack.navlayers import Layer

    from falco_coverage.present.layers import to_navigator

    cov = coverage(ruleset, attack)
    out = tmp_path / "layer.json"
    layer = to_navigator(cov, "test layer", out)
    assert json.loads(out.read_text(encoding="utf-8")) == layer
    assert {"name", "domain", "versions", "techniques", "gradient", "legendItems"} <= layer.keys()
    assert layer["versions"]["layer"] == "4.5" and layer["versions"]["attack"] == "1"
    assert layer["filters"]["platforms"] == ["Containers", "IaaS", "Linux"]
    covered = cov.techniques[cov.techniques["covered"]]
    expected = {(r["technique_id"], str(r["tactic"])): r["n_rules"] for r in covered.to_dict("records")}
    got = {(t["techniqueID"], t["tactic"]): t["score"] for t in layer["techniques"]}
    assert got == expected
    t1059 = next(t for t in layer["techniques"] if t["techniqueID"] == "T1059")
    assert t1059["comment"] == "A; D" and t1059["links"][0]["url"].endswith("/techniques/T1059")
    # written without mitreattack-python (the core install has none), read back by it unchanged
    assert Layer(init_data=layer).to_dict() == layer


def test_layer_with_one_rule_max(attack, tmp_path: Path) -> None:
    from falco_coverage.present.layers import to_navigator

    p = tmp_path / "r.yaml"
    p.write_text(rule("Only", ["mitre_impact", "T1529"]))
    layer = to_navigator(coverage(load_rules(p), attack), "one")  # navlayers' gradient needs a range >= 3
    assert layer["gradient"]["maxValue"] == 3 and layer["techniques"][0]["score"] == 1
