"""falco-coverage: MITRE ATT&CK coverage and tag checks for Falco rules, as pandas DataFrames.

The package reads bottom-up: ``rules`` and ``attack`` load (Falco rule files, ATT&CK releases),
``analysis`` works on what they load (tag checks, lints, coverage, comparisons, fixes, suggestions,
what fired, summaries; ``analysis.session`` answers a whole :class:`Request` at once), ``present``
turns results into text, SARIF, figures and layers, and ``run`` (the command line and the report
runner) sits on top. Beside them: ``request`` (what to analyse), ``findings`` and ``codes`` (the one
findings model and catalogue), ``columns`` (every frame's columns and dtypes), ``config``,
``errors``, ``extras``, ``display``, ``versions``, ``fsutil``. No module imports one above its layer;
importing the package loads nothing heavy (the public names below are resolved on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AlertsError,
    AttackDownloadError,
    AttackFormatError,
    AttackSourceError,
    ConfigError,
    FalcoCoverageError,
    MissingExtraError,
    RequestError,
    RulesError,
)
from .request import Request, Scope
from .versions import PACKAGE_VERSION

if TYPE_CHECKING:  # what editors and mypy see; at run time each name is imported on first use
    from types import ModuleType

    from .analysis.tags.checks import check
    from .analysis.coverage.compute import Coverage, coverage
    from .analysis.tags.detection_fit import rule_detections
    from .analysis.tags.lint import lint
    from .analysis.coverage.observability import observability
    from .analysis.session import Session
    from .attack import AttackData, load_attack
    from .columns import SCHEMAS
    from .rules import RuleSet, load_rules

    fix: ModuleType
    plots: ModuleType

__version__ = PACKAGE_VERSION

# Public names resolved on first use, so importing the package stays cheap (no pandas, no I/O).
_LAZY: dict[str, tuple[str, str | None]] = {
    "load_attack": ("attack", "load_attack"),
    "AttackData": ("attack", "AttackData"),
    "load_rules": ("rules", "load_rules"),
    "RuleSet": ("rules", "RuleSet"),
    "SCHEMAS": ("columns", "SCHEMAS"),
    "Session": ("analysis.session", "Session"),
    "check": ("analysis.tags.checks", "check"),
    "lint": ("analysis.tags.lint", "lint"),
    "coverage": ("analysis.coverage", "coverage"),
    "Coverage": ("analysis.coverage", "Coverage"),
    "observability": ("analysis.coverage.observability", "observability"),
    "rule_detections": ("analysis.tags.detection_fit", "rule_detections"),
    "fix": ("analysis.tags.fix", None),
    "plots": ("present.plots", None),
}

__all__ = [
    "AlertsError", "AttackData", "AttackDownloadError", "AttackFormatError", "AttackSourceError", "ConfigError",
    "Coverage", "FalcoCoverageError", "MissingExtraError", "Request", "RequestError", "RuleSet", "RulesError",
    "SCHEMAS", "Scope", "Session", "check", "coverage", "fix", "lint", "load_attack", "load_rules",
    "observability", "plots", "rule_detections",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        mod = importlib.import_module(f".{module}", __name__)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value  # the next look-up is a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """Tab completion lists the public names (and the version), loaded or not."""
    return sorted({*__all__, "__version__"})
