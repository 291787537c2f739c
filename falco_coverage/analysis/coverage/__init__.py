"""What do the rules detect, and what could Falco see? Coverage per technique and tactic in a scope
(``compute``, validated by ``scope``), what the sensors observe of ATT&CK's detection model
(``sensors``, ``observability``), and comparisons of two rule sets or releases (``compare``)."""

from .compute import STATES, AppliedScope, Coverage, coverage, scope_rules

__all__ = ["STATES", "AppliedScope", "Coverage", "coverage", "scope_rules"]
