"""Falco's own loader tests as an oracle: run one case of ``falco-tests/expected.json``, judge each check.

A case is a list of rules files and the checks Falco's tests assert about loading them (the
vocabulary is described in that folder's ``SOURCE``). :func:`judge` loads the files with
:func:`falco_coverage.rules.load_rules`, configured like the engine the test ran (which event sources
it had), and returns one :class:`Verdict` per check. Matching is on Falco's kind of message: its code
(or our sub-code, which refines it) and a regular expression of the message's meaning, and error
versus warning. Only Falco's codes count: our own extra diagnostics (lower-case codes) are not
something Falco says, so they neither satisfy nor break a check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from falco_coverage.rules import RuleSet, load_rules

#: checks that cannot be judged by a static loader, whatever it knows
NOT_APPLICABLE = {"na"}


@dataclass(frozen=True)
class Verdict:
    check: dict[str, Any]
    ok: bool
    detail: str = ""


def applicable(check: dict[str, Any]) -> bool:
    """Whether a check says something about loading that this loader must reproduce."""
    return check["t"] not in NOT_APPLICABLE and not check.get("env_dependent")


def engine_sources(case: dict[str, Any], case_id: str) -> list[str]:
    """The event sources the test's engine had loaded.

    Falco's unit-test engine registers ``syscall`` and ``k8s_audit``; the k8saudit regression tests
    load the k8saudit plugin; every other regression test runs Falco with its default
    configuration, whose only source is ``syscall``.
    """
    group = case["group"]
    if group.startswith("falco unit_tests") or group.startswith("testing k8saudit"):
        return ["syscall", "k8s_audit"]
    return ["syscall"]


def case_files(case: dict[str, Any], root: Path) -> list[Path]:
    out = []
    for f in case["files"]:
        out.append(root.parent / f.removeprefix("external:") if f.startswith("external:") else root / f)
    return out


def load_case(case: dict[str, Any], case_id: str, root: Path) -> RuleSet:
    return load_rules(*case_files(case, root), sources=engine_sources(case, case_id))


def _falco_only(d: pd.DataFrame) -> pd.DataFrame:
    return d[d["code"].str.fullmatch(r"[A-Z_]+")]


def _falco_rows(rs: RuleSet, severity: str) -> pd.DataFrame:
    d = _falco_only(rs.diagnostics)
    return d[d["severity"] == "error"] if severity == "error" else d[d["severity"] != "error"]


def _matches(rows: pd.DataFrame, check: dict[str, Any]) -> pd.DataFrame:
    code = check.get("code")
    if code:
        rows = rows[(rows["code"] == code) | (rows["sub_code"] == code)]
    meaning = check.get("meaning")
    if meaning:
        rows = rows[[re.search(meaning, m, re.IGNORECASE) is not None for m in rows["message"]]]
    item = check.get("item")
    if item and check.get("item_type") in ("rule", "macro", "list"):
        rows = rows[rows["item"] == item]
    elif item:
        rows = rows[(rows["item"] == item) | rows["message"].str.contains(item, regex=False)]
    return rows


def _describe(rows: pd.DataFrame) -> str:
    return "; ".join(f"{r.code}/{r.sub_code}: {r.message} [{r.item}]" for r in rows.itertuples()) or "none"


def _rule(rs: RuleSet, name: str) -> pd.Series | None:
    hit = rs.rules[rs.rules["name"] == name]
    return None if hit.empty else hit.iloc[0]


def _running(rs: RuleSet) -> pd.DataFrame:
    """The rules Falco would run: loaded (valid, of a loaded source) and enabled."""
    r = rs.rules
    return r[r["valid"] & r["enabled"]]


def judge_check(rs: RuleSet, check: dict[str, Any], files: list[Path]) -> Verdict:
    t = check["t"]
    errors, warnings = _falco_rows(rs, "error"), _falco_rows(rs, "warning")
    if t == "load":
        ok = errors.empty == check["ok"]
        return Verdict(check, ok, f"errors: {_describe(errors)}")
    if t == "file_ok":
        file = str(files[check["index"]])
        bad = errors[errors["file"] == file]
        return Verdict(check, bad.empty, f"errors in {file}: {_describe(bad)}")
    if t in ("error", "warning"):
        rows = errors if t == "error" else warnings
        return Verdict(check, not _matches(rows, check).empty, f"{t}s: {_describe(rows)}")
    if t == "no_warning":
        hit = _matches(warnings, check)
        return Verdict(check, hit.empty, f"found: {_describe(hit)}")
    if t == "no_warnings":
        return Verdict(check, warnings.empty, f"warnings: {_describe(warnings)}")
    if t in ("error_count", "warning_count"):
        # Falco stops compiling at the first failing item: it prints one compile error where we list all
        rows = _falco_only(rs.falco_errors) if t == "error_count" else warnings
        return Verdict(check, len(rows) == check["n"], f"{len(rows)}: {_describe(rows)}")
    if t in ("compiled", "macro_compiled"):
        kind, name = ("rule", check["rule"]) if t == "compiled" else ("macro", check["macro"])
        try:
            got = rs.falco_compiled(kind, name)
        except KeyError:
            return Verdict(check, False, f"no {kind} {name!r}")
        return Verdict(check, got == check["value"], f"got {got!r}")
    if t == "list_compiled":
        hit = rs.lists[rs.lists["name"] == check["list"]]
        got = list(hit.iloc[0]["items"]) if len(hit) else None
        return Verdict(check, got == check["value"], f"got {got!r}")
    if t in ("rule_info", "macro_info"):
        frame, key = (rs.rules, "rule") if t == "rule_info" else (rs.macros, "macro")
        hit = frame[frame["name"] == check[key]]
        if hit.empty:
            return Verdict(check, False, f"no {key} {check[key]!r}")
        got = hit.iloc[0][check["field"]]
        got = list(got) if isinstance(got, (list, tuple)) else got
        if check["field"] == "priority":
            got = str(got)
        want = check["value"]
        return Verdict(check, got == want or (isinstance(want, str) and str(got) == want), f"got {got!r}")
    if t == "enabled_count":
        n = len(_running(rs))
        return Verdict(check, n == check["n"], f"got {n}")
    if t == "count":
        n = len(getattr(rs, check["what"]))
        return Verdict(check, n == check["n"], f"got {n}")
    if t == "rule_present":
        return Verdict(check, _rule(rs, check["rule"]) is not None)
    if t == "rule_enabled":
        running = check["rule"] in set(_running(rs)["name"])
        return Verdict(check, running == check["value"], f"running: {running}")
    if t == "any_enabled":
        return Verdict(check, not _running(rs).empty)
    if t == "used":
        frame = rs.lists if check["kind"] == "list" else rs.macros
        hit = frame[frame["name"] == check["name"]]
        got = bool(hit.iloc[0]["used"]) if len(hit) else None
        return Verdict(check, got == check["value"], f"got {got}")
    if t == "macros_used":
        r = _rule(rs, check["rule"])
        got = list(r["macros_used"]) if r is not None else None
        return Verdict(check, got == check["value"], f"got {got}")
    if t == "evt_types_contains":
        r = _rule(rs, check["rule"])
        got = set(r["evt_types"] or []) if r is not None else set()
        return Verdict(check, set(check["value"]) <= got, f"got {sorted(got)}")
    if t == "rule_fields":
        r = _rule(rs, check["rule"])
        got = list(r["fields"]) if r is not None else None
        return Verdict(check, got is not None and sorted(got) == sorted(check["value"]), f"got {got}")
    if t == "required_engine_version":
        return Verdict(check, rs.required_engine_version == check["value"], f"got {rs.required_engine_version}")
    if t == "required_plugin_versions":
        got = [{"name": p["name"], "version": p["version"]} for p in rs.required_plugin_versions]
        return Verdict(check, got == check["value"], f"got {got}")
    if t == "schema":
        return Verdict(check, rs.schema_status == check["status"],
                       f"got {rs.schema_status}: {_describe(rs.diagnostics[rs.diagnostics['code'] == 'schema'])}")
    raise ValueError(f"unknown check type {t!r}")


def judge(case: dict[str, Any], case_id: str, root: Path) -> list[Verdict]:
    """One verdict per applicable check of a case."""
    rs = load_case(case, case_id, root)
    files = case_files(case, root)
    return [judge_check(rs, c, files) for c in case["checks"] if applicable(c)]
