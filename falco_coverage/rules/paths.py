"""Which rule files to analyse when none are named: Falco's installed rules, else the example set."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import FalcoCoverageError

_REPO = Path(__file__).resolve().parents[2]
INSTALLED_RULES = [Path("/etc/falco/falco_rules.yaml"), Path("/etc/falco/falco_rules.local.yaml"),
                   Path("/etc/falco/rules.d")]


def example_rules() -> Path:
    """The shipped example rule set (``data/examples`` in the repository, or its installed copy)."""
    for candidate in (_REPO / "data" / "examples", Path(sys.prefix) / "share" / "falco-coverage" / "examples"):
        if candidate.is_dir():
            return candidate
    raise FalcoCoverageError("the example rules are not installed (expected data/examples in the repository)")


def uses_example_rules(rules: list[str] | tuple[str, ...] | None) -> bool:
    """Whether :func:`resolve_rules` falls back to the example set (no rules given, none installed)."""
    return not rules and not any(p.exists() for p in INSTALLED_RULES)


def resolve_rules(rules: list[str] | tuple[str, ...] | None) -> list[str]:
    """The rule paths to analyse: those given, else Falco's installed rules, else the example set."""
    if rules:
        return [str(r) for r in rules]
    installed = [str(p) for p in INSTALLED_RULES if p.exists()]
    return installed or [str(example_rules())]
