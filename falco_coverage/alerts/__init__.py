"""What Falco reported: alerts and rule-match counters in every shape Falco and falcosidekick write."""

from __future__ import annotations

from .read import AlertsError, AlertSet, load_alerts

__all__ = ["AlertSet", "AlertsError", "load_alerts"]
