"""Shared fixtures. Every test gets its own empty cache and no ATT&CK environment variables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
REPO = HERE.parent
SHARED = Path(os.environ.get("FALCO_COVERAGE_SHARED", REPO.parent / "shared" / "data"))
MINI_21 = FIXTURES / "mini-attack-2.1.json"


def shared_path(*parts: str) -> Path:
    """A file under ../shared/data; skipped locally when absent, a failure in CI (CI has it)."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{p} is missing: CI must run with ../shared beside the repo")
        pytest.skip(f"{p} not present (integration data)")
    return p


def shared_names(*parts: str, pattern: str = "*.yaml", exclude: str | None = None) -> list[str]:
    """File names under ../shared/data matching ``pattern``, for parametrising a test at collection.
    Without the data one empty name is returned: the test's own ``shared_path`` call then names the
    missing folder and skips (fails in CI), so collection never errors."""
    folder = SHARED.joinpath(*parts)
    if not folder.is_dir():
        return [""]
    return sorted(p.name for p in folder.glob(pattern) if not (exclude and exclude in p.name))


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("FALCO_COVERAGE_CACHE_DIR", str(cache))
    for var in ("FALCO_COVERAGE_ATTACK", "FALCO_COVERAGE_ATTACK_DIR", "FALCO_COVERAGE_ATTACK_URL"):
        monkeypatch.delenv(var, raising=False)
    return cache


@pytest.fixture
def mini21() -> Path:
    return MINI_21


@pytest.fixture
def mini20(tmp_path: Path) -> Path:
    """The same bundle as STIX 2.0 (mitre/cti style): no spec_version, no collection object."""
    doc = json.loads(MINI_21.read_text())
    objs = []
    for o in doc["objects"]:
        if o["type"] == "x-mitre-collection":
            continue
        objs.append({k: v for k, v in o.items() if k != "spec_version"})
    doc["objects"] = objs
    doc["spec_version"] = "2.0"
    p = tmp_path / "enterprise-attack-9.9.json"
    p.write_text(json.dumps(doc))
    return p


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many of Falco's own loader-test cases the loader agrees on (when they ran)."""
    from .test_falco_tests import APPLICABLE, RESULTS

    if RESULTS:
        agree = sum(RESULTS.values())
        terminalreporter.write_line(f"Falco's own loader tests: the loader agrees on {agree} of {len(APPLICABLE)} "
                                    f"applicable cases ({len(RESULTS)} run)")
