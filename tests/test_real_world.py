"""Rule sets users really bring: third-party packs, custom rules over upstream, plugins, tactic-only tags.

One test (or more) per defect found by trying the tool on public third-party rule sets.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from falco_coverage import fix, load_attack, load_rules
from falco_coverage.analysis.tags.checks import check
from falco_coverage.analysis.coverage import coverage
from falco_coverage.config import CheckConfig
from falco_coverage.errors import FalcoCoverageError
from falco_coverage.run.cli import build_parser, main

from .conftest import MINI_21, REPO, SHARED, shared_path


def rule(name: str, tags: list[str], *, desc: str = "d", source: str = "syscall", extra: str = "",
         priority: str = "INFO") -> str:
    src = f"  source: {source}\n" if source != "syscall" else ""
    return (f"- rule: {name}\n  desc: {desc}\n  condition: evt.type = open\n  output: o\n  priority: {priority}\n"
            f"  tags: [{', '.join(tags)}]\n{src}{extra}")


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def mini() -> object:
    return load_attack(MINI_21, cache=False)


@pytest.fixture(scope="module")
def attack18() -> object:
    return load_attack(shared_path("attack", "enterprise-attack-18.1.json"))


# 1 -------------------------------------------------------------------------------------------------
def test_layer_of_a_set_that_covers_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, rule("R", ["mitre_execution"]))
    out = tmp_path / "layer.json"
    code, _, err = run(capsys, "layer", str(p), "--attack", str(MINI_21), "-o", str(out))
    assert code == 0, err
    layer = json.loads(out.read_text())
    assert layer["techniques"] == [] and "0 technique cells" in err


# 2 -------------------------------------------------------------------------------------------------
REFUSED = rule("Good", ["mitre_execution", "T1059"]) + rule("Bad priority", ["T1059"], priority="HIGH") + (
    "- rule: Bad operator\n  desc: d\n  condition: proc.name ends_with sh\n  output: o\n  priority: INFO\n")


@pytest.mark.parametrize("command", ["check", "coverage", "fix", "layer", "lint"])
def test_rules_falco_refuses_are_never_green(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              command: str) -> None:
    p = write(tmp_path, REFUSED)
    extra = ["-o", str(tmp_path / "l.json")] if command == "layer" else []
    attack = ["--attack", str(MINI_21)] if command != "lint" else []
    code, out, err = run(capsys, command, str(p), *attack, *extra)
    assert code == 1, (out, err)
    assert "Falco would refuse these rules: 2 load error(s)" in err and "2 rule(s) invalid or dropped" in err


def test_load_errors_are_findings_of_check(tmp_path: Path, mini: object) -> None:
    rs = load_rules(write(tmp_path, REFUSED))
    f = check(rs, mini, config=CheckConfig())  # type: ignore[arg-type]
    errors = f[f["severity"] == "error"]
    assert sorted(zip(errors["code"].astype(str), errors["line"])) == [
        ("LOAD_ERR_COMPILE_CONDITION", 15), ("LOAD_ERR_YAML_VALIDATE", 11)]
    assert rs.rejected_rules == ["Bad operator", "Bad priority"]


# 3 -------------------------------------------------------------------------------------------------
BASE = ("- macro: spawned\n  condition: evt.type = execve\n"
        + rule("Upstream wrong", ["mitre_impact", "T1059"])
        + rule("Upstream tagless", ["host"]))
OWN = ("- rule: Upstream tagless\n  tags: [mitre_execution, T1059]\n  override:\n    tags: append\n"
       "- rule: Mine\n  desc: mine\n  condition: spawned and proc.name = x\n  output: o\n  priority: INFO\n"
       "  tags: [mitre_execution, T1059]\n")


def test_base_files_resolve_but_only_own_findings_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, own = write(tmp_path, BASE, "upstream.yaml"), write(tmp_path, OWN, "custom.yaml")
    code, out, err = run(capsys, "check", str(own), "--base", str(base), "--attack", str(MINI_21))
    assert code == 0, out + err  # upstream's tactic-mismatch is not the user's
    assert "upstream.yaml" not in out
    code, out, _ = run(capsys, "check", str(base), str(own), "--attack", str(MINI_21))
    assert code == 1 and "Upstream wrong" in out  # without --base it is reported
    rs = load_rules(own, base=[base])
    assert rs.rules.set_index("name")["origin"].astype(str).to_dict() == {
        "Upstream wrong": "base", "Upstream tagless": "own", "Mine": "own"}
    assert rs.base_files == [str(base)] and not rs.has_errors  # 'spawned' resolved from the base


def test_base_rule_changed_by_the_user_is_the_users(tmp_path: Path, mini: object) -> None:
    base = write(tmp_path, rule("Up", ["host"]), "upstream.yaml")
    own = write(tmp_path, "- rule: Up\n  tags: [mitre_impact, T1059]\n  override:\n    tags: append\n", "custom.yaml")
    f = check(load_rules(own, base=[base]), mini, config=CheckConfig())  # type: ignore[arg-type]
    assert set(f["file"]) == {str(own)} and "tactic-mismatch" in set(f["code"].astype(str))


def test_fix_never_edits_base_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write(tmp_path, rule("Up", ["mitre_execution", "t1059"]), "upstream.yaml")
    own = write(tmp_path, rule("Mine", ["mitre_execution", "t1059"]), "custom.yaml")
    before = base.read_text()
    code, _, err = run(capsys, "fix", str(own), "--base", str(base), "--attack", str(MINI_21), "--write")
    assert code == 0 and "custom.yaml: 1 tag edit(s) written" in err
    assert base.read_text() == before and "T1059]" in own.read_text()


def test_readme_ci_recipe_uses_base() -> None:
    readme = (REPO / "README.md").read_text()
    assert "falco-coverage check" in readme and "--base" in readme.split("## Checking ATT&CK tags")[1]


# 4 -------------------------------------------------------------------------------------------------
def test_unknown_source_is_named_with_the_config_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, rule("Azure", ["mitre_impact", "T1529"], source="azureaudit"))
    code, out, err = run(capsys, "coverage", str(p), "--attack", str(MINI_21))
    assert code == 0 and "source 'azureaudit' is not one falco-coverage knows" in err and "source_platforms" in err
    assert "platforms: none" in out
    cfg = write(tmp_path, "source_platforms:\n  azureaudit: [IaaS]\n", ".falco-coverage.yaml")
    code, out, err = run(capsys, "coverage", str(p), "--attack", str(MINI_21), "--config", str(cfg))
    assert code == 0 and "platforms: IaaS" in out and "1 of 1 applicable" in out and "azureaudit" not in err


def test_registry_plugin_sources_are_known(tmp_path: Path, mini: object) -> None:
    p = write(tmp_path, rule("G", ["mitre_impact", "T1529"], source="gitlab")
              + rule("N", ["mitre_impact", "T1529"], source="nginx"))
    cov = coverage(load_rules(p), mini)  # type: ignore[arg-type]
    assert cov.scope.platforms == ("SaaS",)
    assert [n for n in cov.scope.notes if "nginx" in n] and not [n for n in cov.scope.notes if "gitlab" in n]


# 5 -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("option", "value", "message"), [
    ("--platform", "Linx", "unknown ATT&CK platform 'Linx'; choose from"),
    ("--maturity", "stabel", "unknown maturity 'stabel'; choose from"),
    ("--min-priority", "HIGH", "unknown priority 'HIGH'; choose from"),
    ("--source", "sycall", "unknown source 'sycall'; choose from"),
])
def test_scope_typos_are_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str,
                                      message: str) -> None:
    p = write(tmp_path, rule("R", ["mitre_execution", "T1059"]))
    code, out, err = run(capsys, "coverage", str(p), "--attack", str(MINI_21), option, value)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""


def test_scope_values_are_canonicalised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, rule("R", ["mitre_execution", "T1059", "maturity_stable"]))
    code, out, _ = run(capsys, "coverage", str(p), "--attack", str(MINI_21), "--platform", "linux",
                       "--maturity", "STABLE", "--min-priority", "info")
    assert code == 0 and "platforms: Linux" in out and "maturity: stable" in out and ">= Informational" in out


# 6 -------------------------------------------------------------------------------------------------
def test_report_options_swallow_no_positionals_and_match_the_other_commands() -> None:
    args = build_parser().parse_args(["report", "--compare-with", "old.yaml", "mine.yaml", "--source", "syscall",
                                      "--include-disabled", "--no-cache", "--config", "c.yaml", "--base", "up.yaml"])
    assert (args.compare_with, args.rules, args.base) == (["old.yaml"], ["mine.yaml"], ["up.yaml"])
    assert args.source == ["syscall"] and args.include_disabled and args.no_cache and args.config == "c.yaml"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("falco-coverage 0.")


def test_example_rules_are_announced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from falco_coverage.rules import paths

    monkeypatch.setattr(paths, "INSTALLED_RULES", [tmp_path / "nothing.yaml"])
    assert paths.uses_example_rules([]) and not paths.uses_example_rules(["x.yaml"])
    from falco_coverage.run.report import ReportResult, write_index

    result = ReportResult(tmp_path, tmp_path / "index.html", example=True, load_errors=2)
    write_index(result, ["ex.yaml"], "18.1", None)
    page = (tmp_path / "index.html").read_text()
    assert "Example rules:" in page and "Falco would refuse these rules:" in page


# 7 -------------------------------------------------------------------------------------------------
def test_tag_key_instead_of_tags(tmp_path: Path, mini: object) -> None:
    p = write(tmp_path, "- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n"
                        "  tag: [mitre_execution, T1059, host]\n")
    f = check(load_rules(p), mini, config=CheckConfig())  # type: ignore[arg-type]
    hit = f[f["code"] == "tags-key-typo"].iloc[0]
    assert hit["line"] == 6 and hit["severity"] == "warning" and hit["suggestion"] == "tags"
    assert "key 'tag'" in hit["message"] and "mitre_execution, T1059" in hit["message"]
    assert "host" not in hit["message"]  # only the ATT&CK-looking values are named


# 8 -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("tag", "canonical"), [
    ("credential_access", "mitre_credential_access"), ("privilege-escalation", "mitre_privilege_escalation"),
    ("persistence", "mitre_persistence"), ("TA0005-defense-evasion", "TA0005"),
])
def test_bare_tactic_names_are_malformed_tags(tmp_path: Path, attack18: object, tag: str, canonical: str) -> None:
    f = check(load_rules(write(tmp_path, rule("R", [tag, "T1098"]))), attack18, config=CheckConfig())  # type: ignore
    hit = f[f["code"] == "malformed-tag"]
    assert list(hit["suggestion"]) == [canonical], f[["code", "tag", "suggestion"]]


@pytest.mark.parametrize(("tag", "suggestion"), [
    ("mitre_remote_service", "T1021"), ("mitre_data_destruction", "T1485"),
    ("mitre_discovery_system_service_discovery", "T1007, mitre_discovery"),
    ("mitre account_manipulation", "T1098"),
])
def test_technique_names_written_as_tactics(tmp_path: Path, attack18: object, tag: str, suggestion: str) -> None:
    f = check(load_rules(write(tmp_path, rule("R", [tag]))), attack18, config=CheckConfig())  # type: ignore
    hit = f[f["code"] == "unknown-tactic"]
    assert list(hit["suggestion"]) == [suggestion], f[["code", "tag", "suggestion"]]
    assert "malformed-tag" not in set(f["code"].astype(str))  # no canonical form of a tag that names nothing


# 9 -------------------------------------------------------------------------------------------------
def test_data_source_ids_are_not_techniques(tmp_path: Path, mini: object) -> None:
    f = check(load_rules(write(tmp_path, rule("R", ["mitre_execution", "DS0015"]))), mini,  # type: ignore[arg-type]
              config=CheckConfig())
    hit = f[f["code"] == "data-source-tag"].iloc[0]
    assert hit["tag"] == "DS0015" and "data source" in hit["message"]


# 10 ------------------------------------------------------------------------------------------------
def test_rule_defined_twice_in_one_file(tmp_path: Path, mini: object) -> None:
    p = write(tmp_path, rule("R", ["mitre_execution", "T1059"]) + rule("Other", ["mitre_impact", "T1529"])
              + rule("R", ["mitre_impact", "T1529"]))
    rs = load_rules(p)
    d = rs.diagnostics[rs.diagnostics["code"] == "duplicate-definition"]
    assert list(d["line"]) == [13] and "first at line 1" in d["message"].iloc[0]
    f = check(rs, mini, config=CheckConfig())  # type: ignore[arg-type]
    assert "duplicate-definition" in set(f["code"].astype(str))
    across = load_rules(write(tmp_path, rule("R", ["x"]), "a.yaml"), write(tmp_path, rule("R", ["y"]), "b.yaml"))
    assert "duplicate-definition" not in set(across.diagnostics["code"])  # across files it is how overriding works


# 11 ------------------------------------------------------------------------------------------------
def test_technique_named_in_the_description(tmp_path: Path, attack18: object) -> None:
    text = (rule("R", ["mitre_execution", "T1059"], desc="Detects Event-Triggered Execution via shell profiles")
            + rule("Tagged", ["mitre_persistence", "T1546.004"], desc="an event triggered execution through bashrc")
            + rule("Plain", ["mitre_execution", "T1059"], desc="a shell was spawned in a container"))
    f = check(load_rules(write(tmp_path, text)), attack18, config=CheckConfig())  # type: ignore[arg-type]
    hits = f[f["code"] == "untagged-technique-mention"]
    assert list(zip(hits["rule"], hits["suggestion"])) == [("R", "T1546")]


def test_name_mentions_do_not_flood_upstream(attack18: object) -> None:
    rs = load_rules(*(shared_path("falco-rules", "main", n) for n in
                      ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")))
    f = check(rs, attack18, config=CheckConfig())  # type: ignore[arg-type]
    assert (f["code"] == "untagged-technique-mention").sum() <= 0.15 * len(rs.rules)


# 12 ------------------------------------------------------------------------------------------------
def test_fix_never_writes_another_wrong_tag(tmp_path: Path, attack18: object) -> None:
    p = write(tmp_path, rule("R", ["Mitre_discovery_system_service_discovery", "host"]))
    rs = load_rules(p)
    edits = fix.plan(check(rs, attack18, config=CheckConfig()), rs, attack=attack18)  # type: ignore[arg-type]
    fix.apply(edits, write=True)
    after = check(load_rules(p), attack18, config=CheckConfig())  # type: ignore[arg-type]
    assert load_rules(p).rule("R")["tags"] == ["T1007", "host", "mitre_discovery"]
    assert after[after["severity"].isin(["error", "warning"])].empty, after[["code", "tag"]]


def test_an_edit_that_would_draw_a_finding_is_dropped(tmp_path: Path, mini: object) -> None:
    # T1000 is revoked in favour of T1059.004, whose tactic the rule does not tag: the replacement is
    # still made (the finding it draws is on another tag), but a replacement that is itself wrong is not.
    p = write(tmp_path, rule("R", ["mitre_impact", "t1529"]))
    rs = load_rules(p)
    findings = check(rs, mini, config=CheckConfig())  # type: ignore[arg-type]
    bogus = findings.copy()
    bogus.loc[bogus["code"] == "malformed-tag", "suggestion"] = "T9999"  # a fix that would be unknown
    assert fix.plan(bogus, rs) and not fix.plan(bogus, rs, attack=mini)  # type: ignore[arg-type]
    assert [e.new for e in fix.plan(findings, rs, attack=mini)] == ["T1529"]  # type: ignore[arg-type]


# 13 ------------------------------------------------------------------------------------------------
def test_tactic_mismatch_is_applied_only_when_named(tmp_path: Path, mini: object) -> None:
    p = write(tmp_path, rule("R", ["mitre_impact", "T1059"]))
    rs = load_rules(p)
    findings = check(rs, mini, config=CheckConfig())  # type: ignore[arg-type]
    hit = findings[findings["code"] == "tactic-mismatch"].iloc[0]
    assert "tag mitre_execution, or pick a technique of the tagged tactic" in hit["message"]  # both remedies
    assert fix.plan(findings, rs) == []
    edits = fix.plan(findings, rs, ["tactic-mismatch"])
    assert [(e.action, e.old, e.new) for e in edits] == [("replace", "mitre_impact", "mitre_execution")]


# 14 ------------------------------------------------------------------------------------------------
def test_diff_of_an_absolute_path_applies_with_git(tmp_path: Path, mini: object, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    p = write(tmp_path, rule("R", ["mitre_execution", "t1059"]))
    monkeypatch.chdir(REPO)  # the rules file lies outside the working directory
    rs = load_rules(p)
    diff = fix.unified_diff(fix.apply(fix.plan(check(rs, mini, config=CheckConfig()), rs), write=False))  # type: ignore
    assert diff.startswith(f"--- a/{str(p).lstrip('/')}") and "a//" not in diff
    patch = tmp_path / "fix.patch"
    patch.write_text(diff)
    done = subprocess.run(["git", "apply", "-p1", str(patch)], cwd="/", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "T1059]" in p.read_text()


# tactic-only rule sets ----------------------------------------------------------------------------
def test_tactic_only_sets_say_why_the_matrix_is_grey(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, rule("A", ["mitre_execution"]) + rule("B", ["mitre_execution", "mitre_persistence"])
              + rule("C", ["mitre_impact", "T1529"]))
    code, out, err = run(capsys, "coverage", str(p), "--attack", str(MINI_21))
    assert code == 0 and "2 of 3 rules carry only tactic tags" in err
    assert "rules with only tactic tags, per tactic: Execution 2, Persistence 1" in out
    cov = coverage(load_rules(p), load_attack(MINI_21, cache=False))
    assert sorted(map(tuple, cov.tactic_only.astype(str).to_numpy())) == [
        ("A", "execution"), ("B", "execution"), ("B", "persistence")]


# no exit 3 anywhere --------------------------------------------------------------------------------
def _all_rule_files() -> list[Path]:
    if not SHARED.exists():
        return []
    return sorted(p for p in SHARED.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


@pytest.mark.slow
def test_no_command_exits_3_on_any_shared_rule_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = _all_rule_files() or [shared_path("falco-rules")]
    assert len(files) > 200
    bugs = []
    for path in files:
        for command in (["check"], ["coverage"], ["fix"], ["lint"], ["layer", "-o", str(tmp_path / "l.json")]):
            attack = ["--attack", str(MINI_21)] if command[0] != "lint" else []
            code = main([*command, str(path), *attack])
            capsys.readouterr()
            if code == 3:
                bugs.append(f"{command[0]} {path}")
    assert bugs == []


def test_frames_keep_their_dtypes_with_base_files(tmp_path: Path) -> None:
    rs = load_rules(write(tmp_path, OWN, "custom.yaml"), base=[write(tmp_path, BASE, "up.yaml")])
    assert isinstance(rs.rules["origin"].dtype, pd.CategoricalDtype) and rs.files["base"].tolist() == [True, False]
    with pytest.raises(FalcoCoverageError):
        coverage(rs, load_attack(MINI_21, cache=False), platforms=["Lnux"])


def test_lint_reports_only_own_files(tmp_path: Path) -> None:
    from falco_coverage.analysis.tags.lint import lint

    inline = "proc.name in (a, b, c, d, e, f, g, h, i)"
    base = write(tmp_path, f"- macro: up\n  condition: {inline}\n", "upstream.yaml")
    own = write(tmp_path, f"- macro: mine\n  condition: up and {inline}\n", "custom.yaml")
    found = lint(load_rules(own, base=[base]), config=CheckConfig())
    assert set(found["file"]) == {str(own)} and "inline-list" in set(found["code"].astype(str))
    assert str(base) in set(lint(load_rules(base, own), config=CheckConfig())["file"])
