"""One ATT&CK release of one domain as DataFrames (:class:`AttackData`), and what to ask of it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd

from ..columns import columns, conform


T = TypeVar("T")

#: the frames of ATT&CK's detection model (:mod:`falco_coverage.attack.detection`)
DETECTION_FRAMES = ("detection_strategies", "analytics", "data_components", "detections")


def empty_frame(frame: str) -> pd.DataFrame:
    """An empty frame with the documented columns and dtypes of ``frame``."""
    return conform(pd.DataFrame(columns=columns(frame)), frame)


def active_mask(techniques: pd.DataFrame, platforms: Iterable[str] | None = None) -> pd.Series:
    """Rows neither revoked nor deprecated (and, given ``platforms``, on one of them, any case)."""
    mask = ~(techniques["revoked"] | techniques["deprecated"])
    if platforms is not None:
        wanted = {p.casefold() for p in platforms}
        mask &= techniques["platforms"].map(lambda ps: any(p.casefold() in wanted for p in ps)).astype(bool)
    return mask


@dataclass(eq=False, repr=False)
class AttackData:
    """One ATT&CK release of one domain. Frames are described in :mod:`falco_coverage.columns`.
    Two releases are equal only when they are the same object (compare ``sha256`` to compare content)."""

    tactics: pd.DataFrame
    techniques: pd.DataFrame
    technique_tactics: pd.DataFrame
    version: str | None
    domain: str
    source_path: str | None = None
    sha256: str | None = None
    #: the version the bundle states itself (its x-mitre-collection); ``version`` falls back further
    bundle_version: str | None = None
    #: where the data came from, for every output to name: a file path, or the built-in snapshot
    origin: str = ""
    #: the newest ``x_mitre_attack_spec_version`` of the bundle's objects (the STIX extensions it uses)
    spec_version: str | None = None
    #: builds ATT&CK's detection model frames when first asked for (see :data:`DETECTION_FRAMES`), so
    #: a load that never needs them does not pay for them; ``None``: the release has none
    detection_loader: Callable[[], dict[str, pd.DataFrame]] | None = field(default=None, repr=False, compare=False)
    _detection: dict[str, pd.DataFrame] | None = field(default=None, repr=False, compare=False)
    #: builds the ``technique_text`` frame (ATT&CK's words per technique) when first asked for
    text_loader: Callable[[], dict[str, pd.DataFrame]] | None = field(default=None, repr=False, compare=False)
    _text: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    _by_id: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    #: whether loads may read and write the local cache (``load_attack(cache=False)`` says no)
    use_cache: bool = field(default=True, repr=False, compare=False)
    #: derived lookups that analyses build once per release (see ``AttackIndex.of``)
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def _facts(self) -> list[tuple[str, str]]:
        active = self.techniques[active_mask(self.techniques)]
        subs = int(active["is_subtechnique"].sum())
        return [("release", f"{self.domain} {self.version or '(unknown version)'}"),
                ("from", self.origin or str(self.source_path or "?")),
                ("tactics", str(len(self.tactics))),
                ("techniques", f"{len(active) - subs} active, {subs} sub-techniques active, "
                               f"{len(self.techniques) - len(active)} revoked or deprecated"),
                ("detection model", "read when first asked for" if self.detection_loader is not None else "none")]

    def __repr__(self) -> str:
        from ..display import facts_text

        return facts_text("AttackData", self._facts())

    def _repr_html_(self) -> str:
        from ..display import facts_html

        return facts_html("ATT&CK release", self._facts())

    def memoised(self, key: str, kind: type[T], build: Callable[[], T]) -> T:
        """``memo[key]`` when it holds a ``kind``, else ``build()`` kept there: what an analysis derives
        once per release."""
        value = self.memo.get(key)
        if not isinstance(value, kind):
            value = self.memo[key] = build()
        return value

    def detection_frames(self) -> dict[str, pd.DataFrame]:
        """The detection model's frames, built (or read from the cache) on first use."""
        if self._detection is None:
            frames = self.detection_loader() if self.detection_loader is not None else {}
            self._detection = {name: frames[name] if name in frames else empty_frame(f"attack.{name}")
                               for name in DETECTION_FRAMES}
        return self._detection

    @property
    def detection_strategies(self) -> pd.DataFrame:
        """ATT&CK's detection strategies (v18 and later)."""
        return self.detection_frames()["detection_strategies"]

    @property
    def analytics(self) -> pd.DataFrame:
        """The analytics of the detection strategies (v18 and later)."""
        return self.detection_frames()["analytics"]

    @property
    def data_components(self) -> pd.DataFrame:
        """Data components (every release since v10)."""
        return self.detection_frames()["data_components"]

    @property
    def detections(self) -> pd.DataFrame:
        """Which telemetry detects each technique: one long table for every release."""
        return self.detection_frames()["detections"]

    @property
    def technique_text(self) -> pd.DataFrame:
        """ATT&CK's words per technique (description, detection text, procedure examples); built, or
        read from the cache, on first use; empty when the release's text is not at hand."""
        if self._text is None:
            frames = self.text_loader() if self.text_loader is not None else {}
            self._text = frames["technique_text"] if "technique_text" in frames else empty_frame("attack.technique_text")
        return self._text

    def technique(self, technique_id: str) -> pd.Series:
        """The ``techniques`` row of ``technique_id`` (case-insensitive); KeyError when unknown."""
        if not self._by_id:
            self._by_id = {tid: i for i, tid in enumerate(self.techniques["technique_id"])}
        key = technique_id.strip().upper()
        if key not in self._by_id:
            raise KeyError(f"{technique_id!r} is not a technique of ATT&CK {self.domain} {self.version}")
        return self.techniques.iloc[self._by_id[key]]

    def active_techniques(
        self, platforms: Iterable[str] | None = None, *, subtechniques: bool = True
    ) -> pd.DataFrame:
        """Techniques neither revoked nor deprecated, optionally only those on one of ``platforms``."""
        t = self.techniques
        mask = active_mask(t, platforms)
        if not subtechniques:
            mask &= ~t["is_subtechnique"]
        return t[mask].reset_index(drop=True)

    def describe(self) -> str:
        """``ATT&CK 19.1 enterprise (built into falco-coverage ...)``: the release and where it came from."""
        where = f" ({self.origin})" if self.origin else ""
        return f"ATT&CK {self.version or '(unknown version)'} {self.domain.removesuffix('-attack')}{where}"

    def tactic_names(self) -> dict[str, str]:
        """Shortname -> display name, in matrix order."""
        return dict(zip(self.tactics["shortname"], self.tactics["name"]))

    def summary(self) -> pd.DataFrame:
        """Per tactic in matrix order: active techniques and sub-techniques."""
        tt = self.technique_tactics.merge(
            self.techniques[["technique_id", "is_subtechnique"]], on="technique_id"
        )
        counts = (
            tt.groupby(["tactic", "is_subtechnique"], observed=False).size().unstack(fill_value=0)
            .reindex(columns=[False, True], fill_value=0)
        )
        out = self.tactics[["order", "tactic_id", "shortname", "name"]].copy()
        out["techniques"] = out["shortname"].map(counts[False]).fillna(0).astype(int).to_numpy()
        out["subtechniques"] = out["shortname"].map(counts[True]).fillna(0).astype(int).to_numpy()
        return out
