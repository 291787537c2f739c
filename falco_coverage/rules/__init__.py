"""Falco rules files loaded as Falco loads them, into DataFrames (:class:`RuleSet`).

Stages: ``reader`` (YAML to items) -> ``collector`` (Falco's item semantics) -> ``compiler``
(conditions, after each file) -> ``frames`` (DataFrames); ``load.load_rules`` runs them.
Beside them: ``condition``/``nodes`` (the condition language), ``decode`` (item values),
``diagnostics`` (Falco's codes), ``tags`` (ATT&CK and maturity tags), ``paths`` (which files).
"""

from __future__ import annotations

from .frames import RuleSet
from .load import load_rules

__all__ = ["RuleSet", "load_rules"]
