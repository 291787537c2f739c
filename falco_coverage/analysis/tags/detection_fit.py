"""Does a rule look at what ATT&CK's analytics for its techniques look at?

For each (rule, technique it tags), the *relevant* analytics are those of the technique's detection
strategies that the rule's own source serves (:mod:`.observability`). The rule ``fit``s them:

- ``match``: a value the rule tests (a path, binary, API verb, ... outside its ``not`` parts) appears in
  an analytic's text, or one of its specific event types (not process start or a plain open) is named
  by an analytic's channel;
- ``partial``: its event types record a data component the analytics ask for, but nothing more
  specific matches (a rule tagged Cron that watches process starts, never crontab);
- ``none``: it looks at none of it.

``partial`` and ``none`` become the info finding ``analytic-mismatch``: worth a look, not an error
(ATT&CK's analytics are examples, not the only way to detect a technique).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...attack import AttackData
from ...codes import REGISTRY
from ...columns import columns, conform
from ...config import DEFAULT_SOURCE_PLATFORMS
from ...findings import Finding
from ...rules.condition import ConditionError, parse
from ...rules.nodes import EVT_TYPE_FIELDS, Check, Node, Not, children
from ...config import Sensor
from ..coverage.sensors import sensor_profile
from .tag_index import RuleTags, TagContext

#: fit levels, best first
FITS = ("match", "partial", "none")
#: event types so common that naming them says nothing about a technique
GENERIC_EVT_TYPES = frozenset({
    "execve", "execveat", "clone", "clone3", "fork", "vfork", "open", "openat", "openat2", "creat", "read", "write",
    "close", "connect", "accept", "accept4", "procexit", "socket", "sendto", "recvfrom",
})
#: values too common in conditions and prose to count as evidence
_STOP = frozenset({"true", "false", "none", "null", "and", "the", "for", "with", "from", "not", "yes", "all", "any",
                   "get", "set", "new", "use", "run", "bin", "usr", "etc", "tmp", "var", "dev", "proc", "sys",
                   "root", "user", "users", "host", "file", "name", "data", "list", "type", "create", "update", "delete",
                   "home", "opt", "lib", "boot", "srv", "mnt", "media"})
_WORD = re.compile(r"[a-z0-9_]+")


def _literals(node: Node, negated: bool = False) -> Iterator[str]:
    """Values the condition tests outside its negated parts."""
    if isinstance(node, Not):
        return
    if isinstance(node, Check):
        if node.field in EVT_TYPE_FIELDS:  # event types are judged as event types, not as text
            return
        value = node.value
        for v in value if isinstance(value, list) else [value] if isinstance(value, str) else []:
            if isinstance(v, str):
                yield v
        return
    for child in children(node):
        yield from _literals(child, negated)


def rule_terms(expanded_condition: Any) -> set[str]:
    """Distinctive values of a rule's expanded condition: paths, their base names, and words of 3+ letters."""
    if not isinstance(expanded_condition, str):
        return set()
    try:
        tree = parse(expanded_condition)
    except ConditionError:
        return set()
    out: set[str] = set()
    for raw in _literals(tree):
        v = raw.strip("\"'* \t").lower()
        if len(v) < 3 or v in _STOP or v.isdigit() or v.strip("/") in _STOP:
            continue
        out.add(v)
        if "/" in v:
            base = v.rstrip("/").rsplit("/", 1)[-1]
            if len(base) >= 3 and base not in _STOP:
                out.add(base)
    return out


def _found(term: str, text: str, words: set[str]) -> bool:
    return term in text if ("/" in term or "." in term or " " in term) else term in words


@dataclass
class _Analytics:
    """The relevant analytics of one technique for one source: their text and data components."""

    ids: list[str] = field(default_factory=list)
    text: str = ""
    words: set[str] = field(default_factory=set)
    channel_words: set[str] = field(default_factory=set)
    components: set[str] = field(default_factory=set)


class FitIndex:
    """The analytics of one release, grouped per (technique, sensor), built once per release and profile."""

    def __init__(self, attack: AttackData, profile: Mapping[str, Sensor],
                 source_platforms: Mapping[str, list[str]]) -> None:
        self.profile = profile
        self.platforms = {s: {p.casefold() for p in ps} for s, ps in source_platforms.items()}
        self.text = dict(zip(attack.analytics["analytic_id"], attack.analytics["description"]))
        self.strategies: dict[str, list[str]] = {}
        self._rows: dict[str, list[tuple[Any, list[str], Any, Any, Any]]] = {}
        det = attack.detections
        for tid, strat, an, plats, comp, log, chan in zip(
                det["technique_id"], det["strategy_id"], det["analytic_id"], det["platforms"],
                det["data_component"], det["log_source"], det["channel"]):
            self._rows.setdefault(tid, []).append((an, plats, comp, log, chan))
            if isinstance(strat, str) and strat not in self.strategies.setdefault(tid, []):
                self.strategies[tid].append(strat)
        self._cache: dict[tuple[str, str], _Analytics] = {}

    def analytics(self, tid: str, source: str) -> _Analytics:
        key = (tid, source)
        if key in self._cache:
            return self._cache[key]
        out = _Analytics()
        sensor = self.profile.get(source)
        seen = self.platforms.get(source, set())
        texts: list[str] = []
        for an, plats, comp, log, chan in self._rows.get(tid, []):
            if sensor is None or not isinstance(an, str) or not seen & {p.casefold() for p in plats}:
                continue
            if not (sensor.reads(log) or sensor.records(comp)):
                continue
            if an not in out.ids:
                out.ids.append(an)
                texts.append(str(self.text.get(an, "")))
            if isinstance(chan, str):
                texts.append(chan)
                out.channel_words.update(_WORD.findall(chan.lower()))
            if isinstance(comp, str):
                out.components.add(comp)
        out.text = " ".join(texts).lower()
        out.words = set(_WORD.findall(out.text))
        self._cache[key] = out
        return out

    @classmethod
    def of(cls, attack: AttackData, profile: Mapping[str, Sensor] | None = None,
           source_platforms: Mapping[str, list[str]] | None = None) -> FitIndex:
        """The index of ``attack`` for the built-in profile (memoised), or for the given one."""
        plats = {**DEFAULT_SOURCE_PLATFORMS, **(source_platforms or {})}
        if profile is None and plats == DEFAULT_SOURCE_PLATFORMS:
            idx = attack.memo.get("fit_index")
            if not isinstance(idx, cls):
                idx = attack.memo["fit_index"] = cls(attack, sensor_profile(), plats)
            return idx
        return cls(attack, profile or sensor_profile(), plats)


@dataclass
class Fit:
    """How one rule fits the analytics of one technique it tags."""

    fit: str | None
    analytic_ids: list[str]
    evidence: list[str]
    components: list[str]


def fit(idx: FitIndex, tid: str, source: str, evt_types: Any, terms: set[str]) -> Fit:
    """How a rule with ``evt_types`` (None: unrestricted) and condition ``terms`` fits ``tid``'s analytics."""
    a = idx.analytics(tid, source)
    if not a.ids:
        return Fit(None, [], [], [])
    evidence = sorted(t for t in terms if _found(t, a.text, a.words))
    types = set(evt_types) if isinstance(evt_types, list) else None
    if types:
        evidence += sorted(f"evt.type={t}" for t in (types - GENERIC_EVT_TYPES) & a.channel_words)
    if evidence:
        return Fit("match", a.ids, evidence, sorted(a.components))
    sensor = idx.profile.get(source)
    recorded = {c for c in a.components if sensor is not None
                and (types is None or not sensor.evt_types or "*" in sensor.component_evt_types(c)
                     or types & set(sensor.component_evt_types(c)))}
    return Fit("partial" if recorded else "none", a.ids, [], sorted(a.components))


@REGISTRY.check("analytic-mismatch")
def _analytic_mismatch(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    if ctx.attack is None or not len(ctx.attack.analytics):
        return
    idx = ctx.memo.get("fit_index")
    if not isinstance(idx, FitIndex):
        idx = ctx.memo["fit_index"] = FitIndex.of(ctx.attack, sensor_profile(ctx.sensors) if ctx.sensors else None,
                                                  ctx.source_platforms)
    terms: set[str] | None = None
    for tid in rt.active:
        if not idx.analytics(tid, rt.source).ids:
            continue
        if terms is None:
            terms = rule_terms(rt.condition)
        f = fit(idx, tid, rt.source, rt.evt_types, terms)
        if f.fit in ("partial", "none"):
            yield rt.finding("analytic-mismatch", _mismatch_message(idx, tid, f, ctx), rt.techniques[tid],
                             technique_id=tid)


def _mismatch_message(idx: FitIndex, tid: str, f: Fit, ctx: TagContext) -> str:
    first = f.analytic_ids[0]
    said = idx.text.get(first, "").strip().rstrip(".")
    said = said if len(said) <= 140 else said[:137].rsplit(" ", 1)[0] + " ..."
    more = f" (and {len(f.analytic_ids) - 1} more)" if len(f.analytic_ids) > 1 else ""
    if f.fit == "partial":
        head = (f"the rule watches the kind of events ATT&CK's analytics for {ctx.idx.label(tid)} read, but none of "
                "the programs, paths or calls they name")
    else:
        head = (f"the rule's events record none of what ATT&CK's analytics for {ctx.idx.label(tid)} read "
                f"({', '.join(f.components) or 'no data component named'})")
    return f"{head}; {first}{more}: \"{said}\""


def rule_detections(rules: pd.DataFrame, attack: AttackData, *, profile: Mapping[str, Sensor] | None = None,
                    source_platforms: Mapping[str, list[str]] | None = None) -> pd.DataFrame:
    """One row per (rule, active technique it tags): its detection strategies and how it fits their
    analytics (``coverage.rule_detections`` in :mod:`falco_coverage.columns`)."""
    from ...rules.tags import parse_attack_tag

    idx = FitIndex.of(attack, profile, source_platforms)
    t = attack.techniques
    active = set(t.loc[~(t["revoked"] | t["deprecated"]), "technique_id"])
    rows = []
    for name, source, tags, evts, cond in zip(rules["name"], rules["source"], rules["tags"], rules["evt_types"],
                                              rules["expanded_condition"]):
        tids = [p.value for p in map(parse_attack_tag, tags) if p and p.kind == "technique" and p.value in active]
        terms: set[str] | None = None
        for tid in dict.fromkeys(tids):
            if terms is None:
                terms = rule_terms(cond)
            f = fit(idx, tid, source, evts, terms)
            rows.append((name, tid, idx.strategies.get(tid, []), f.analytic_ids, f.fit, f.evidence, f.components))
    df = pd.DataFrame(rows, columns=columns("coverage.rule_detections"))
    df["fit"] = pd.Categorical(df["fit"], categories=list(FITS), ordered=True)
    return conform(df, "coverage.rule_detections")
