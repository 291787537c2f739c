"""One request, one session: what to analyse is chosen once and answered from one place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from falco_coverage import FalcoCoverageError, Request, RequestError, Scope, Session

from .cli import run_cli
from .conftest import FIXTURES

BASE = str(FIXTURES / "rules" / "base.yaml")
OWN = str(FIXTURES / "rules" / "own.yaml")


def test_a_request_round_trips_as_json_and_refuses_what_it_does_not_know() -> None:
    r = Request.from_dict({"rules": [OWN], "base": BASE, "scope": {"maturities": ["stable"], "include_disabled": True},
                           "attack_version": "18.1", "alerts": [], "cache": False})
    assert r.rules == (OWN,) and r.base == (BASE,) and r.scope == Scope(maturities=("stable",), include_disabled=True)
    assert Request.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    for bad, needle in (({"rulez": []}, "unknown request key(s) 'rulez'"),
                        ({"scope": {"platform": ["Linux"]}}, "unknown scope key(s) 'platform'"),
                        ({"rules": [1]}, "rules must be a list of strings"),
                        ({"scope": {"include_disabled": "yes"}}, "include_disabled must be true or false"),
                        ({"attack": 3}, "attack must be a string")):
        with pytest.raises(RequestError) as err:
            Request.from_dict(bad)
        assert needle in str(err.value) and "\n" not in str(err.value)


def test_resolved_paths_are_absolute_and_the_configuration_is_found_once(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # no falco-coverage table: not a config
    assert Request.build(search_dir=tmp_path).config is None
    (tmp_path / ".falco-coverage.yaml").write_text("disable: [no-mitre-tags]\n")
    monkeypatch.chdir(tmp_path)
    r = Request.build(rules=["own.yaml"], alerts=["a.json"])
    assert r.config == str(tmp_path / ".falco-coverage.yaml")
    resolved = r.resolved()
    assert resolved.rules == (str(tmp_path / "own.yaml"),) and resolved.alerts == (str(tmp_path / "a.json"),)


def test_a_session_loads_once_and_answers_from_the_same_data() -> None:
    s = Session(rules=[OWN], base=[BASE], scope={"min_priority": "WARNING"})
    assert s.coverage() is s.coverage() and s.check() is s.check()
    assert s.coverage().scope.n_rules == 2 and s.coverage().scope.min_priority == "Warning"
    wide = s.with_scope(min_priority=None)
    assert wide.ruleset is s.ruleset and wide.attack is s.attack  # nothing loaded again
    assert wide.coverage().scope.n_rules == 6
    summary = s.summary(name="x", generated="2026-01-01T00:00:00Z")
    cov = s.coverage().summary()
    top = [t for tid, t in summary["techniques"].items() if "." not in tid]
    assert sum(t["detected"] for t in top) == cov["covered"] and len(top) == cov["applicable"]
    assert summary["load_errors"] == 0 and summary["scope"]["rules"] == 2


def test_the_compare_side_keeps_the_base_and_the_scope() -> None:
    s = Session(rules=[OWN], base=[BASE], compare_attack_version="18.1", scope={"sources": ["syscall"]})
    before = s.compare_side()
    assert before.attack.version == "18.1" and s.attack.version != "18.1"
    assert before.ruleset is s.ruleset  # the same rules under another release: loaded once
    assert before.request.scope == s.request.scope and before.request.base == (BASE,)
    with pytest.raises(FalcoCoverageError, match="nothing to compare"):
        Session(rules=[OWN]).compare_side()


def test_unreadable_input_is_one_error_in_the_order_it_is_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: [unclosed\n")
    with pytest.raises(FalcoCoverageError, match="LOAD_ERR_YAML_PARSE"):
        Session(rules=[str(bad)], attack=str(tmp_path / "missing.json")).load()  # the rules first
    (tmp_path / "empty").mkdir()
    with pytest.raises(FalcoCoverageError, match="no rule files found"):
        Session(rules=[str(tmp_path / "empty")]).load()


def test_the_command_line_and_a_session_give_the_same_numbers() -> None:
    r = run_cli("coverage", OWN, "--base", BASE, "--min-priority", "WARNING", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    s = Session(rules=[OWN], base=[BASE], scope={"min_priority": "WARNING"})
    assert doc["summary"] == s.coverage().summary()
