"""Lint diagnostics with file:line:column, the rules frame's condition analysis, and real-data acceptance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from falco_coverage import load_rules
from falco_coverage.rules.condition import parse
from falco_coverage.rules.nodes import macro_refs
from falco_coverage.config import CheckConfig
from falco_coverage.analysis.tags.lint import lint
from falco_coverage.codes import REGISTRY

LINTS = REGISTRY.codes("lint")

from .conftest import shared_names, shared_path

RULE = "- rule: {name}\n  desc: d\n  condition: {cond}\n  output: o\n  priority: INFO\n"


def run(tmp_path: Path, text: str, **kw) -> pd.DataFrame:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return lint(load_rules(p), config=CheckConfig(), **kw)


def where(f: pd.DataFrame, code: str) -> list[tuple[str, int, int]]:
    hit = f[f["code"] == code]
    return [(r, int(line), int(col)) for r, line, col in zip(hit["rule"], hit["line"], hit["column"])]


def test_parse_error_and_unknown_operator_positions(tmp_path: Path) -> None:
    f = run(tmp_path, RULE.format(name="A", cond="evt.type = open and (proc.name = x")
            + RULE.format(name="B", cond="evt.type = open and proc.name equals bash"))
    assert where(f, "parse-error") == [("A", 3, 48)]  # just past the last token, where ")" is missing
    assert where(f, "unknown-operator") == [("B", 8, 44)]
    assert "unknown operator 'equals'" in f[f["code"] == "unknown-operator"]["message"].iloc[0]


def test_undefined_macro_and_visibility(tmp_path: Path) -> None:
    text = ("- macro: early\n  condition: evt.type = open and later\n"
            "- macro: later\n  condition: proc.name = x\n"
            + RULE.format(name="R", cond="early and missing_one"))
    f = run(tmp_path, text)
    got = where(f, "undefined-macro")
    assert ("early", 2, 34) in got and ("R", 7, 24) in got
    msg = f[(f["code"] == "undefined-macro") & (f["rule"] == "early")]["message"].iloc[0]
    assert "defined later" in msg


def test_macro_loop(tmp_path: Path) -> None:
    f = run(tmp_path, "- macro: a\n  condition: evt.type = open\n- macro: b\n  condition: a\n"
                      "- macro: a\n  condition: b\n" + RULE.format(name="R", cond="a"))
    assert {r for r, _, _ in where(f, "macro-loop")} == {"a", "b"}


def test_unused_macro_and_list(tmp_path: Path) -> None:
    f = run(tmp_path, "- list: lonely\n  items: [x]\n- list: used\n  items: [y]\n"
                      "- macro: idle\n  condition: proc.name = z\n"
                      + RULE.format(name="R", cond="evt.type = open and proc.name in (used)"))
    assert where(f, "unused-list") == [("lonely", 1, 1)]
    assert where(f, "unused-macro") == [("idle", 5, 1)]


def test_no_evttype(tmp_path: Path) -> None:
    f = run(tmp_path, RULE.format(name="All", cond="proc.name = bash")
            + RULE.format(name="Neg", cond="evt.type != open and proc.name = bash")
            + RULE.format(name="Ok", cond="evt.type in (open, openat) and proc.name = bash")
            + RULE.format(name="OptOut", cond="proc.name = bash") + "  warn_evttypes: false\n"
            + RULE.format(name="K8s", cond="ka.verb = create") + "  source: k8s_audit\n")
    assert [r for r, _, _ in where(f, "no-evttype")] == ["All", "Neg"]


def test_inline_list(tmp_path: Path) -> None:
    many = ", ".join(f"bin{i}" for i in range(9))
    f = run(tmp_path, "- list: known\n  items: [a]\n"
            + RULE.format(name="Long", cond=f"evt.type = execve and proc.name in ({many})")
            + RULE.format(name="Short", cond="evt.type = execve and proc.name in (a, b, c)")
            + RULE.format(name="Types", cond="evt.type in (a1, a2, a3, a4, a5, a6, a7, a8, a9, a10)")
            + RULE.format(name="Named", cond="evt.type = execve and proc.name in (known, b, c, d, e, f, g, h)"))
    assert where(f, "inline-list") == [("Long", 5, 36)]
    assert where(run(tmp_path, RULE.format(name="Long", cond=f"evt.type = execve and proc.name in ({many})"),
                     inline_list_min=20), "inline-list") == []


def test_position_in_an_appended_condition_in_another_file(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(RULE.format(name="R", cond="evt.type = open"))
    local = tmp_path / "local.yaml"
    local.write_text("# local\n- rule: R\n  condition: and proc.name equals x\n  override:\n    condition: append\n")
    f = lint(load_rules(base, local), config=CheckConfig())
    hit = f[f["code"] == "unknown-operator"].iloc[0]
    assert (hit["file"], hit["line"], hit["column"]) == (str(local), 3, 28)


def test_block_scalar_positions(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- rule: R\n  desc: d\n  condition: >\n    evt.type = open\n    and undefined_thing\n"
                 "  output: o\n  priority: INFO\n")
    f = lint(load_rules(p), config=CheckConfig())
    assert where(f, "undefined-macro") == [("R", 5, 9)]


def test_config_and_registry(tmp_path: Path) -> None:
    cfg = CheckConfig.from_mapping({"disable": ["no-evttype"]}, set(LINTS))
    p = tmp_path / "r.yaml"
    p.write_text(RULE.format(name="All", cond="proc.name = bash"))
    assert lint(load_rules(p), config=cfg).empty
    assert set(LINTS) == {"parse-error", "unknown-operator", "undefined-macro", "macro-loop", "unused-macro",
                          "unused-list", "no-evttype", "inline-list"}


def test_rules_frame_analysis(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- list: shells\n  items: [bash, sh]\n- macro: spawned\n  condition: evt.type in (execve, execveat)\n"
                 "- macro: shell\n  condition: spawned and proc.name in (shells)\n"
                 + RULE.format(name="R", cond="shell and not evt.type = execveat and tolower(fd.name) exists"))
    r = load_rules(p).rule("R")
    assert r["evt_types"] == ["execve"]
    assert r["macros_used"] == ["shell", "spawned"] and r["lists_used"] == ["shells"]
    assert r["fields"] == ["evt.type", "proc.name", "fd.name"]
    assert r["expanded_condition"] == ("evt.type in (execve, execveat) and proc.name in (bash, sh) and not "
                                       "evt.type = execveat and tolower(fd.name) exists")


def test_cli_lint(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(RULE.format(name="R", cond="evt.type = open and missing"))
    r = subprocess.run([sys.executable, "-m", "falco_coverage", "lint", str(p), "--format", "sarif"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    log = json.loads(r.stdout)
    assert [d["id"] for d in log["runs"][0]["tool"]["driver"]["rules"]] == list(LINTS)
    region = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 3, "startColumn": 34}
    r = subprocess.run([sys.executable, "-m", "falco_coverage", "lint", str(p), "--fail-on", "never"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and f"{p.name}:3:34: error: [undefined-macro]" in r.stdout


# --- real data -----------------------------------------------------------------------------------

def _real_files() -> list[tuple[str, ...]]:
    return [("falco-rules", "main", n) for n in shared_names("falco-rules", "main")] + \
        [("falco-rules", "releases", n) for n in shared_names("falco-rules", "releases")] + \
        [("falco-plugin-rules", n) for n in shared_names("falco-plugin-rules", exclude="gke")]


@pytest.mark.parametrize("parts", _real_files(), ids=lambda p: "/".join(p))
def test_every_real_condition_parses_and_expands(parts: tuple[str, ...]) -> None:
    rs = load_rules(shared_path(*parts))
    f = lint(rs, config=CheckConfig())
    assert f[f["severity"] == "error"].empty, f.to_string()
    assert rs.rules["expanded_condition"].notna().all()
    for text in rs.rules["expanded_condition"]:  # every macro expanded: no reference is left
        assert macro_refs(parse(text)) == [], text[:200]
    syscall = rs.rules[rs.rules["source"] == "syscall"]
    bounded = syscall["evt_types"].map(lambda e: e is not None and 0 < len(e) <= 100)
    # an empty set only for a rule switched off by the never_true placeholder (evt.num = 0 never matches)
    never = syscall["expanded_condition"].str.contains("evt.num = 0", regex=False)
    assert (bounded | (never & syscall["evt_types"].map(lambda e: e == []))).all()
