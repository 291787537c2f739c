"""falco-coverage: MITRE ATT&CK coverage and tag checks for Falco rules, as pandas DataFrames.

The package reads bottom-up: ``rules`` and ``attack`` load (Falco rule files, ATT&CK releases),
``analysis`` works on what they load (tag checks, lints, coverage, comparisons, fixes),
``present`` turns results into text, SARIF, figures and layers, and ``run`` (the command line and
the report runner) sits on top. Beside them: ``findings`` and ``codes`` (the one findings model and
catalogue), ``columns`` (every frame's columns and dtypes), ``config``, ``errors``, ``versions``,
``fsutil``. No module imports one above its layer; importing the package loads nothing heavy.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    AttackDownloadError,
    AttackFormatError,
    AttackSourceError,
    FalcoCoverageError,
    MissingExtraError,
    RulesError,
)

__version__ = "0.1.0"

# Public names resolved on first use, so importing the package stays cheap (no pandas, no I/O).
_LAZY: dict[str, tuple[str, str | None]] = {
    "load_attack": ("attack", "load_attack"),
    "AttackData": ("attack", "AttackData"),
    "load_rules": ("rules", "load_rules"),
    "RuleSet": ("rules", "RuleSet"),
    "SCHEMAS": ("columns", "SCHEMAS"),
    "check": ("analysis.checks", "check"),
    "lint": ("analysis.lint", "lint"),
    "coverage": ("analysis.coverage", "coverage"),
    "observability": ("analysis.observability", "observability"),
    "rule_detections": ("analysis.detection_fit", "rule_detections"),
    "fix": ("analysis.fix", None),
    "plots": ("present.plots", None),
}

__all__ = [
    "AttackData", "AttackDownloadError", "AttackFormatError", "AttackSourceError", "FalcoCoverageError",
    "MissingExtraError", "RuleSet", "RulesError", "SCHEMAS", "check", "coverage", "fix", "lint", "load_attack",
    "load_rules", "observability", "plots", "rule_detections",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        mod = importlib.import_module(f".{module}", __name__)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
