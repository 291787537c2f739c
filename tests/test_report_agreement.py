"""One report, one request: the summary, the landing page and every page agree on each headline number,
in a scope that only the request carries to the notebooks."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from falco_coverage.run.report import run_report

from .conftest import FIXTURES

pytestmark = pytest.mark.slow  # notebook kernels

BASE = FIXTURES / "rules" / "base.yaml"
OWN = FIXTURES / "rules" / "own.yaml"


def _landing_numbers(page: str) -> dict[str, str]:
    return {html.unescape(label): html.unescape(value)
            for value, label in re.findall(r"<b>([^<]*)</b><span>([^<]*)</span>", page)}


def _page_numbers(page: str) -> dict[str, str]:
    """The labelled figures of a notebook page's number rows (value, then label)."""
    found = re.findall(r'font-size:1.8em">([^<]*)</div><div style=\\?"color:#555\\?">([^<]*)</div>', page)
    return {html.unescape(label): html.unescape(value) for value, label in found}


def test_summary_landing_page_and_pages_agree(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    # a scope the notebooks see only through the request: WARNING and up leaves 2 of the 6 rules
    result = run_report({"rules": [str(OWN)], "base": [str(BASE)], "scope": {"min_priority": "WARNING"}},
                        out_dir=out, notebooks=["coverage", "mistagged"], progress=False)
    assert result.failed == [], [r.error for r in result.failed]
    summary = json.loads((out / "summary.json").read_text())
    top = {tid: t for tid, t in summary["techniques"].items() if "." not in tid}
    detected, applicable = sum(t["detected"] for t in top.values()), len(top)
    rules_in_scope = summary["scope"]["rules"]
    assert rules_in_scope == 2 and summary["scope"]["min_priority"] == "Warning"  # canonical
    by_severity = summary["findings"]["by_severity"]

    landing = _landing_numbers((out / "index.html").read_text())
    assert landing["techniques detected"] == f"{detected} / {applicable}"
    assert landing["rules in scope"] == str(rules_in_scope)
    assert landing["load errors"] == str(summary["load_errors"])
    assert int(landing["tag errors"]) <= by_severity["error"]  # the summary also counts lint findings

    page = _page_numbers((out / "coverage.html").read_text())
    assert page["techniques detected"] == landing["techniques detected"]
    assert page["coverage"] == landing["coverage"] == f"{detected / applicable:.0%}"
    assert page["rules in scope"] == landing["rules in scope"]
    assert page["load errors"] == landing["load errors"]
    assert page.get("observable, not detected") == landing.get("observable, not detected")
    layer = json.loads((out / "coverage-layer.json").read_text())
    assert {t["techniqueID"] for t in layer["techniques"]} == {tid for tid, t in summary["techniques"].items()
                                                              if t["detected"]}
