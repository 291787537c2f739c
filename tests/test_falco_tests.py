"""Falco's own rule-loader tests (``falco-tests/expected.json``): the loader must agree on every case.

Each case is run through :func:`falco_coverage.rules.load_rules` and every applicable check is
asserted (see ``tests/falco_oracle.py`` for how checks are judged). The agreement count is printed
at the end of the run.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import SHARED, shared_path
from .falco_oracle import applicable, judge

ROOT = SHARED / "falco-tests"
_CASES: dict[str, dict[str, Any]] = (
    json.loads((ROOT / "expected.json").read_text())["cases"] if (ROOT / "expected.json").exists() else {})
APPLICABLE = sorted(cid for cid, case in _CASES.items() if any(applicable(c) for c in case["checks"]))
#: case id -> outcome, filled as the cases run; summarised by conftest's terminal summary
RESULTS: dict[str, bool] = {}


@pytest.mark.shared
@pytest.mark.parametrize("case_id", APPLICABLE or ["(falco-tests absent)"])
def test_falco_case(case_id: str) -> None:
    shared_path("falco-tests", "expected.json")
    case = _CASES[case_id]
    verdicts = judge(case, case_id, ROOT)
    failed = [f"{v.check} -> {v.detail}" for v in verdicts if not v.ok]
    RESULTS[case_id] = not failed
    assert not failed, "\n".join(failed)


@pytest.mark.shared
def test_every_case_is_judged() -> None:
    """The oracle knows every check type, and the applicable cases are the ones Falco's tests assert."""
    shared_path("falco-tests", "expected.json")
    kinds = {c["t"] for case in _CASES.values() for c in case["checks"]}
    assert kinds <= {"load", "file_ok", "error", "warning", "no_warning", "no_warnings", "error_count",
                     "warning_count", "compiled", "macro_compiled", "list_compiled", "rule_info", "macro_info",
                     "enabled_count", "count", "rule_present", "rule_enabled", "any_enabled", "used", "macros_used",
                     "evt_types_contains", "rule_fields", "required_engine_version", "required_plugin_versions",
                     "schema", "na"}
    assert len(APPLICABLE) == 228 and len(_CASES) == 248
    missing = [f for case in _CASES.values() for f in case["files"]
               if not (ROOT.parent / f.removeprefix("external:") if f.startswith("external:") else ROOT / f).exists()]
    assert not missing
