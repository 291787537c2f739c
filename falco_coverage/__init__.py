"""falco-coverage: MITRE ATT&CK coverage and tag checks for Falco rules, as pandas DataFrames."""

from __future__ import annotations

from typing import Any

from .errors import (
    AttackDownloadError,
    AttackFormatError,
    AttackSourceError,
    FalcoCoverageError,
    RulesError,
)

__version__ = "0.1.0"

# Public names resolved on first use, so importing the package stays cheap (no pandas, no I/O).
_LAZY = {
    "load_attack": ("attack", "load_attack"),
    "AttackData": ("attack", "AttackData"),
    "load_rules": ("rules", "load_rules"),
    "RuleSet": ("rules", "RuleSet"),
    "SCHEMAS": ("columns", "SCHEMAS"),
}

__all__ = [
    "AttackData", "AttackDownloadError", "AttackFormatError", "AttackSourceError", "FalcoCoverageError",
    "RuleSet", "RulesError", "SCHEMAS", "load_attack", "load_rules",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
