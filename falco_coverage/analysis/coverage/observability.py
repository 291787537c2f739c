"""What Falco can see: per technique, whether the sensors in scope serve ATT&CK's analytics for it.

An analytic (before v18: a data component that detects the technique) is *in scope* when it is
written for a platform in scope, and *observed* when one of its log-source references is served by a
sensor: a Falco event source that observes one of the analytic's platforms (``source_platforms``)
and reads that log source or records its data component (:mod:`.sensors`). A technique's
``observable`` is ``full`` when every analytic in scope is observed, ``partial`` when some are,
``none`` otherwise (no analytic in scope counts as none: ATT&CK gives no way to see it there).
Column meanings: :mod:`falco_coverage.columns` (``coverage.observability``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from collections.abc import Iterable, Mapping

import pandas as pd

from ...attack import AttackData
from ...columns import columns, conform
from ...config import DEFAULT_SOURCE_PLATFORMS
from ...config import Sensor
from .sensors import sensor_profile

#: observability levels, weakest first
LEVELS = ("none", "partial", "full")


def empty_observability() -> pd.DataFrame:
    """An observability frame with no rows (a release without a detection model)."""
    df = pd.DataFrame(columns=columns("coverage.observability"))
    df["observable"] = pd.Categorical([], categories=list(LEVELS), ordered=True)
    return conform(df, "coverage.observability")


def has_detection_model(attack: AttackData) -> bool:
    """Whether the release says how to detect its techniques (analytics, or older data components)."""
    return len(attack.detections) > 0


def observability(
    attack: AttackData, sensors: Iterable[str], platforms: Iterable[str], *,
    source_platforms: Mapping[str, list[str]] | None = None, profile: Mapping[str, Sensor] | None = None,
) -> pd.DataFrame:
    """One row per active technique: how well ``sensors`` (Falco event sources) observe it on
    ``platforms``. ``profile`` defaults to the built-in sensor profile; with it, the result is
    computed once per release and scope (treat it as read-only)."""
    sensors, platforms = tuple(sensors), tuple(platforms)
    key = None
    if profile is None:
        key = repr(("observability", sensors, tuple(sorted(platforms)),
                    tuple(sorted((k, tuple(v)) for k, v in (source_platforms or {}).items()))))
        if key in attack.memo:
            return attack.memo[key]
    df = _observability(attack, sensors, platforms, source_platforms, profile)
    if key is not None:
        attack.memo[key] = df
    return df


def _observability(attack: AttackData, sensors: tuple[str, ...], platforms: tuple[str, ...],
                   source_platforms: Mapping[str, list[str]] | None,
                   profile: Mapping[str, Sensor] | None) -> pd.DataFrame:
    prof = dict(profile) if profile is not None else sensor_profile()
    splat = {**DEFAULT_SOURCE_PLATFORMS, **(source_platforms or {})}
    scope = {p.casefold() for p in platforms}
    # sensor -> the platforms in scope it observes (folded)
    seen = {s: {p.casefold() for p in splat.get(s, [])} & scope for s in dict.fromkeys(sensors) if s in prof}
    seen = {s: p for s, p in seen.items() if p}

    det = attack.detections
    served = _Served()
    for tid, strat, an, plats, comp, log in zip(det["technique_id"], det["strategy_id"], det["analytic_id"],
                                                 det["platforms"], det["data_component"], det["log_source"]):
        if isinstance(strat, str):
            served.strategies[tid].add(strat)
        row_plats = {p.casefold() for p in plats} & scope
        if row_plats:
            by = [s for s, sp in seen.items() if sp & row_plats and (prof[s].reads(log) or prof[s].records(comp))]
            served.add(tid, an, comp, log, by)

    t = attack.techniques
    rows = [served.row(tid) for tid in t.loc[~(t["revoked"] | t["deprecated"]), "technique_id"]]
    if not rows:
        return empty_observability()
    df = pd.DataFrame(rows, columns=columns("coverage.observability"))
    df["observable"] = pd.Categorical(df["observable"], categories=list(LEVELS), ordered=True)
    return conform(df, "coverage.observability")


class _Served:
    """Per technique: its units (analytics, or data components before v18) and what the sensors serve."""

    def __init__(self) -> None:
        self.units: dict[str, dict[str, tuple[bool, str | None]]] = defaultdict(dict)  # tid -> unit -> (observed, dc)
        self.dc: dict[str, set[str]] = defaultdict(set)
        self.log: dict[str, set[str]] = defaultdict(set)
        self.by: dict[str, set[str]] = defaultdict(set)
        self.analytics: dict[str, set[str]] = defaultdict(set)
        self.strategies: dict[str, set[str]] = defaultdict(set)

    def add(self, tid: str, an: Any, comp: Any, log: Any, by: list[str]) -> None:
        """One detection row of ``tid`` in scope, observed by the sensors ``by`` (none: not observed)."""
        unit = an if isinstance(an, str) else f"dc:{comp}"
        was = self.units[tid].get(unit, (False, None))[0]
        self.units[tid][unit] = (was or bool(by), comp if isinstance(comp, str) else None)
        if not by:
            return
        self.by[tid].update(by)
        for store, value in ((self.dc, comp), (self.log, log), (self.analytics, an)):
            if isinstance(value, str):
                store[tid].add(value)

    def row(self, tid: str) -> tuple[Any, ...]:
        """The ``coverage.observability`` row of ``tid``."""
        u = self.units.get(tid, {})
        n_obs = sum(1 for ok, _ in u.values() if ok)
        level = "full" if u and n_obs == len(u) else ("partial" if n_obs else "none")
        missing = sorted({dc for ok, dc in u.values() if not ok and dc} - self.dc.get(tid, set()))
        return (tid, level, len(u), n_obs, sorted(self.strategies.get(tid, ())), sorted(self.analytics.get(tid, ())),
                sorted(self.dc.get(tid, ())), sorted(self.log.get(tid, ())), sorted(self.by.get(tid, ())), missing)
