"""ATT&CK's detection model as DataFrames: which telemetry detects each technique.

From v18 on a technique is detected by one *detection strategy* (``detects`` relationship), which
lists *analytics*; each analytic has platforms and log-source references (log source name, channel,
data component). Before v18 a *data component* ``detects`` the technique directly, with no platform of
its own. Both become the same long ``detections`` table, so every release answers the same
questions; a pre-v18 row has no strategy, analytic or log source and takes the technique's platforms.
Column meanings and dtypes: :mod:`falco_coverage.columns`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
import pandas as pd

from ..columns import columns, conform
from .props import active as _active
from .props import items as _items
from .props import mitre_ref as _ref
from .props import text as _text


#: the STIX object types :class:`DetectionObjects` keeps
DETECTION_KINDS = frozenset({"x-mitre-detection-strategy", "x-mitre-analytic", "x-mitre-data-component",
                             "x-mitre-data-source"})


@dataclass
class DetectionObjects:
    """The detection-model objects of a bundle, gathered during the single pass over its objects."""

    strategies: list[dict] = field(default_factory=list)
    analytics: dict[str, dict] = field(default_factory=dict)
    components: dict[str, dict] = field(default_factory=dict)
    data_sources: dict[str, str] = field(default_factory=dict)
    #: (source stix id, technique stix id) of active ``detects`` relationships
    detects: list[tuple[str, str]] = field(default_factory=list)

    def add(self, kind: str, obj: dict) -> None:
        """Keep ``obj`` when it belongs to the detection model (called for every object of the bundle)."""
        sid = _text(obj.get("id"))
        if sid is None:
            return
        if kind == "x-mitre-detection-strategy":
            if _active(obj):
                self.strategies.append(obj)
        elif kind == "x-mitre-analytic":
            if _active(obj):
                self.analytics[sid] = obj
        elif kind == "x-mitre-data-component":
            if _active(obj):
                self.components[sid] = obj
        elif kind == "x-mitre-data-source":
            self.data_sources[sid] = _text(obj.get("name")) or ""

    def frames(self, technique_ids: dict[str, str], technique_platforms: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
        """The four detection frames; ``technique_ids`` maps technique STIX IDs to ATT&CK IDs."""
        comps = self._components()
        by_strategy: dict[str, list[str]] = {}
        dc_detects: list[tuple[str, str]] = []
        for src, dst in self.detects:
            tid = technique_ids.get(dst)
            if tid is None:
                continue
            if src.startswith("x-mitre-detection-strategy--"):
                by_strategy.setdefault(src, []).append(tid)
            elif src.startswith("x-mitre-data-component--") and src in comps:
                dc_detects.append((src, tid))

        srows: list[tuple[Any, ...]] = []
        arows: list[tuple[Any, ...]] = []
        drows: list[tuple[Any, ...]] = []
        for obj in self.strategies:
            sid = obj["id"]
            det_id, url = _ref(obj)
            refs = [r for r in _items(obj.get("x_mitre_analytic_refs")) if isinstance(r, str) and r in self.analytics]
            techs = sorted(set(by_strategy.get(sid, [])))
            analytic_ids = [an_id for ref in refs
                            if (an_id := self._analytic(ref, det_id, techs, comps, arows, drows)) is not None]
            srows.append((det_id, sid, _text(obj.get("name")), techs, analytic_ids, url))
        for src, tid in dc_detects:
            drows.append((tid, None, None, list(technique_platforms.get(tid, [])), comps[src][1], None, None))

        detections = pd.DataFrame(drows, columns=columns("attack.detections"))
        detections = detections.sort_values(["technique_id", "strategy_id", "analytic_id", "data_component"],
                                            kind="stable", ignore_index=True, na_position="first")
        return {
            "detection_strategies": conform(
                pd.DataFrame(srows, columns=columns("attack.detection_strategies"))
                .sort_values("strategy_id", ignore_index=True), "attack.detection_strategies"),
            "analytics": conform(pd.DataFrame(arows, columns=columns("attack.analytics"))
                                 .sort_values("analytic_id", ignore_index=True), "attack.analytics"),
            "data_components": conform(
                pd.DataFrame([(c[0], c[1], c[2], sid) for sid, c in comps.items()],
                             columns=columns("attack.data_components")).sort_values("name", ignore_index=True),
                "attack.data_components"),
            "detections": conform(detections, "attack.detections"),
        }

    def _analytic(self, ref: str, det_id: str | None, techs: list[str],
                  comps: dict[str, tuple[str | None, str, str | None]], arows: list[tuple[Any, ...]],
                  drows: list[tuple[Any, ...]]) -> str | None:
        """Add one analytic of a strategy to the analytics rows, and a detections row per (technique,
        log-source reference); its ATT&CK ID, or ``None`` when it has none (then it is left out)."""
        an = self.analytics[ref]
        an_id, an_url = _ref(an)
        if an_id is None:
            return None
        platforms = [p for p in _items(an.get("x_mitre_platforms")) if isinstance(p, str)]
        arows.append((an_id, ref, det_id, _text(an.get("name")), platforms, _text(an.get("description")) or "", an_url))
        logs = [ls for ls in _items(an.get("x_mitre_log_source_references")) if isinstance(ls, dict)]
        for tid in techs:
            if not logs:
                drows.append((tid, det_id, an_id, platforms, None, None, None))
            for ls in logs:
                comp = comps.get(_text(ls.get("x_mitre_data_component_ref")) or "")
                drows.append((tid, det_id, an_id, platforms, comp[1] if comp else None,
                              _text(ls.get("name")), (_text(ls.get("channel")) or "").strip() or None))
        return an_id

    def _components(self) -> dict[str, tuple[str | None, str, str | None]]:
        """Data component STIX ID -> (DC ID, name, data source name)."""
        out = {}
        for sid, obj in self.components.items():
            name = _text(obj.get("name"))
            if not name:
                continue
            dc_id, _ = _ref(obj)
            source = self.data_sources.get(_text(obj.get("x_mitre_data_source_ref")) or "") or None
            out[sid] = (dc_id, name, source)
        return out
