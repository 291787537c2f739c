"""What Falco can see: per technique, whether the sensors in scope serve ATT&CK's analytics for it.

An analytic (before v18: a data component that detects the technique) is *in scope* when it is
written for a platform in scope. Each of its log-source references gets a verdict from the sensors
that observe one of its platforms (:mod:`.verdict`): served in full, in part, or not. A technique is
``full`` when some analytic in scope has every reference served in full, ``partial`` when some
reference is served at least in part, ``none`` otherwise (no analytic in scope counts as none:
ATT&CK gives no way to see it there). Before v18 a technique is ``full`` when every detecting data
component is recorded, ``partial`` when some are. Column meanings: :mod:`falco_coverage.columns`
(``coverage.observability``; every verdict with its reason: ``coverage.references``).
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
from .verdict import GRADED, best, grade_reference

#: observability levels, weakest first
LEVELS = ("none", "partial", "full")


def empty_observability() -> pd.DataFrame:
    """An observability frame with no rows (a release without a detection model)."""
    df = pd.DataFrame(columns=columns("coverage.observability"))
    df["observable"] = pd.Categorical([], categories=list(LEVELS), ordered=True)
    return conform(df, "coverage.observability")


def empty_references() -> pd.DataFrame:
    """A references frame with no rows (a release without a detection model)."""
    df = pd.DataFrame(columns=columns("coverage.references"))
    df["grade"] = pd.Categorical([], categories=list(GRADED), ordered=True)
    return conform(df, "coverage.references")


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
    return _both(attack, tuple(sensors), tuple(platforms), source_platforms, profile)[0]


def reference_verdicts(
    attack: AttackData, sensors: Iterable[str], platforms: Iterable[str], *,
    source_platforms: Mapping[str, list[str]] | None = None, profile: Mapping[str, Sensor] | None = None,
) -> pd.DataFrame:
    """Every log-source reference of every analytic in scope with its verdict, the sensor that gives
    it and why (``coverage.references``): what :func:`observability` sums up per technique."""
    return _both(attack, tuple(sensors), tuple(platforms), source_platforms, profile)[1]


def _both(attack: AttackData, sensors: tuple[str, ...], platforms: tuple[str, ...],
          source_platforms: Mapping[str, list[str]] | None,
          profile: Mapping[str, Sensor] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    key = None
    if profile is None:
        key = repr(("observability", sensors, tuple(sorted(platforms)),
                    tuple(sorted((k, tuple(v)) for k, v in (source_platforms or {}).items()))))
        if key in attack.memo:
            return attack.memo[key]
    both = _observability(attack, sensors, platforms, source_platforms, profile)
    if key is not None:
        attack.memo[key] = both
    return both


def _observability(attack: AttackData, sensors: tuple[str, ...], platforms: tuple[str, ...],
                   source_platforms: Mapping[str, list[str]] | None,
                   profile: Mapping[str, Sensor] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    from ...rules.catalogue import builtin

    prof = dict(profile) if profile is not None else sensor_profile()
    splat = {**DEFAULT_SOURCE_PLATFORMS, **(source_platforms or {})}
    scope = {p.casefold() for p in platforms}
    # sensor -> the platforms in scope it observes (folded)
    seen = {s: {p.casefold() for p in splat.get(s, [])} & scope for s in dict.fromkeys(sensors) if s in prof}
    seen = {s: p for s, p in seen.items() if p}
    cat = builtin()

    det = attack.detections
    served = _Served()
    refs: list[tuple[Any, ...]] = []
    memo: dict[tuple[Any, ...], tuple[str, str, str]] = {}
    for tid, strat, an, plats, comp, log, channel in zip(
            det["technique_id"], det["strategy_id"], det["analytic_id"], det["platforms"], det["data_component"],
            det["log_source"], det["channel"]):
        if isinstance(strat, str):
            served.strategies[tid].add(strat)
        row_plats = frozenset(p.casefold() for p in plats) & scope
        if not row_plats:
            continue
        look = (row_plats, comp, log, channel)
        if look not in memo:
            by = [(*grade_reference(prof[s], log if isinstance(log, str) else None,
                                    comp if isinstance(comp, str) else None,
                                    channel if isinstance(channel, str) else None, cat), s)
                  for s, sp in seen.items() if sp & row_plats]
            memo[look] = best(by) if by else ("none", "no sensor in scope observes "
                                              f"{', '.join(sorted(plats))}", "")
        grade, why, sensor = memo[look]
        served.add(tid, an, comp, log, channel, grade, sensor, why)
        refs.append((tid, strat, an, log, comp, channel, grade, sensor or None, why))

    t = attack.techniques
    rows = [served.row(tid) for tid in t.loc[~(t["revoked"] | t["deprecated"]), "technique_id"]]
    ref_df = pd.DataFrame(refs, columns=columns("coverage.references"))
    ref_df["grade"] = pd.Categorical(ref_df["grade"], categories=list(GRADED), ordered=True)
    if not rows:
        return empty_observability(), conform(ref_df, "coverage.references")
    df = pd.DataFrame(rows, columns=columns("coverage.observability"))
    df["observable"] = pd.Categorical(df["observable"], categories=list(LEVELS), ordered=True)
    return conform(df, "coverage.observability"), conform(ref_df, "coverage.references")


class _Served:
    """Per technique: its units (analytics, or data components before v18) and the verdicts on their references."""

    def __init__(self) -> None:
        #: tid -> unit -> the grades of its references
        self.units: dict[str, dict[str, list[str]]] = defaultdict(dict)
        #: tid -> unit -> references not served in full, as text
        self.short: dict[str, dict[str, list[str]]] = defaultdict(dict)
        self.dc: dict[str, set[str]] = defaultdict(set)
        self.log: dict[str, set[str]] = defaultdict(set)
        self.by: dict[str, set[str]] = defaultdict(set)
        self.analytics: dict[str, set[str]] = defaultdict(set)
        self.strategies: dict[str, set[str]] = defaultdict(set)
        self.pre_v18: set[str] = set()

    def add(self, tid: str, an: Any, comp: Any, log: Any, channel: Any, grade: str, sensor: str, why: str) -> None:
        """One reference of ``tid`` in scope and its verdict."""
        unit = an if isinstance(an, str) else f"dc:{comp}"
        if not isinstance(an, str):
            self.pre_v18.add(tid)
        self.units[tid].setdefault(unit, []).append(grade)
        if grade != "full":
            what = " · ".join(str(x) for x in (log, comp, channel) if isinstance(x, str)) or "a reference"
            self.short[tid].setdefault(unit, []).append(f"{what}: {why}")
        else:
            self.short[tid].setdefault(unit, [])
        if grade == "none":
            return
        self.by[tid].add(sensor)
        for store, value in ((self.dc, comp), (self.log, log), (self.analytics, an)):
            if isinstance(value, str):
                store[tid].add(value)

    def row(self, tid: str) -> tuple[Any, ...]:
        """The ``coverage.observability`` row of ``tid``."""
        u = self.units.get(tid, {})
        complete = [n for n, gs in u.items() if all(g == "full" for g in gs)]
        some = [n for n, gs in u.items() if any(g != "none" for g in gs)]
        if tid in self.pre_v18:  # data components: all of them recorded is full
            level = "full" if u and len(complete) == len(u) else ("partial" if some else "none")
        else:
            level = "full" if complete else ("partial" if some else "none")
        # what is missing: the references of the analytic closest to full that it does not get in full
        closest = max(u, key=lambda n: (sum(g == "full" for g in u[n]) / len(u[n]), -len(u[n])), default=None)
        missing = [] if level == "full" or closest is None else self.short[tid].get(closest, [])
        if tid in self.pre_v18 and level != "full":
            missing = sorted({m for n in u for m in self.short[tid].get(n, [])})
        return (tid, level, len(u), len(some), len(complete), sorted(self.strategies.get(tid, ())),
                sorted(self.analytics.get(tid, ())), sorted(self.dc.get(tid, ())), sorted(self.log.get(tid, ())),
                sorted(self.by.get(tid, ())), missing)
