"""ATT&CK releases as DataFrames: ``model`` (AttackData) <- ``stix`` (parse a bundle) and
``sources`` (find or download one) and ``cache`` (parsed frames by SHA-256) <- ``load`` (load_attack)."""

from __future__ import annotations

from .load import load_attack
from .model import AttackData, active_mask
from .stix import parse_bundle, version_from_name

__all__ = ["AttackData", "active_mask", "load_attack", "parse_bundle", "version_from_name"]
