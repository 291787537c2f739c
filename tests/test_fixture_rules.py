"""A team's rules over an upstream-like base, on small fixtures (what the shared-data tests check on
the real upstream files): Falco's append/override resolved across files, origins, and the gate."""

from __future__ import annotations

from falco_coverage import check, coverage, load_attack, load_rules
from falco_coverage.config import CheckConfig

from .conftest import FIXTURES

BASE = FIXTURES / "rules" / "base.yaml"
OWN = FIXTURES / "rules" / "own.yaml"


def test_appends_and_overrides_resolve_across_files() -> None:
    rs = load_rules(BASE, OWN, base=[BASE])
    assert rs.errors.empty
    assert rs.lists.set_index("name").loc["shell_binaries", "items"] == ["bash", "sh", "zsh", "fish"]
    shell = rs.rule("Terminal shell in container")
    assert shell["condition"].endswith("and not proc.pname = sshd")
    assert "proc.pname = sshd" in shell["compiled_condition"]
    origin = dict(zip(rs.rules["name"], rs.rules["origin"]))
    # a base rule the team changed is theirs; one they left alone stays upstream's
    assert origin["Terminal shell in container"] == "own" and origin["Netcat remote shell"] == "own"
    assert origin["Schedule cron jobs"] == "base"


def test_findings_are_only_the_teams_and_name_file_and_line() -> None:
    rs = load_rules(BASE, OWN, base=[BASE])
    found = check(rs, load_attack(), config=CheckConfig(), suggest=False)
    assert set(found["file"].map(lambda f: f.rsplit("/", 1)[-1])) == {"own.yaml"}
    errors = found[found["severity"] == "error"]
    assert sorted(zip(errors["rule"], errors["code"], errors["line"])) == [
        ("Crontab edited", "unknown-tactic", 24), ("Netcat remote shell", "tactic-mismatch", 17)]


def test_coverage_counts_each_tagged_technique_once() -> None:
    cov = coverage(load_rules(BASE, OWN), load_attack())
    covered = set(cov.techniques.loc[cov.techniques["covered"], "technique_id"])
    assert {"T1059", "T1059.004", "T1053.003", "T1555", "T1053"} <= covered  # a sub-technique covers its parent
    assert "T1611" not in covered
