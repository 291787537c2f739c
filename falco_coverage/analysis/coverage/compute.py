"""ATT&CK coverage of a rule set: per technique, per tactic, gaps, under an explicit scope.

Only valid tags count (canonical or canonicalised, see :func:`falco_coverage.rules.tags.parse_attack_tag`)
of active techniques. A parent technique is covered when it or any of its sub-techniques is tagged;
a parent tag does not cover its sub-techniques. The denominator is the active techniques whose
platforms meet the scope's platforms (default: what the rules' sources can observe).

With ATT&CK's detection model, each technique also has a ``state``: ``detected`` (a rule in scope tags
it), ``observable`` (not detected, and some analytic of it is served in full by the sensors in scope:
where a new rule pays off), ``partly observable`` (the sensors give part of what its analytics need)
or ``not observable`` (it needs another sensor); see :mod:`.observability`.
Column meanings: :mod:`falco_coverage.columns`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...attack import AttackData, active_mask
from ...columns import columns, conform
from ...config import DEFAULT_SOURCE_PLATFORMS, CheckConfig
from ...request import Scope
from ...rules import RuleSet
from ...rules.decode import PRIORITIES
from ...rules.tags import parse_attack_tag
from .observability import (LEVELS, empty_observability, empty_references, has_detection_model, observability,
                            reference_verdicts)
from .sensors import sensor_profile as profile_with
from .scope import check_maturities, check_platforms, check_priority, check_sources, source_platforms_of


@dataclass(frozen=True)
class AppliedScope:
    """The filters and the ATT&CK release a coverage was computed with (validated, canonical)."""

    attack_version: str | None
    domain: str
    platforms: tuple[str, ...]
    enabled_only: bool
    maturities: tuple[str, ...] | None
    min_priority: str | None
    sources: tuple[str, ...] | None
    n_rules: int
    n_rules_total: int
    #: what the reader must know about the scope (unmapped sources, tactic-only rules, ...)
    notes: tuple[str, ...] = ()
    #: rules in scope that are the user's own (all of them unless some files were loaded as the base)
    n_own_rules: int | None = None
    #: the Falco event sources whose observability counts (default: the sources of the rules in scope)
    sensors: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for figure subtitles and reports."""
        parts = [f"ATT&CK {self.attack_version or '?'} {self.domain.removesuffix('-attack')}",
                 f"platforms: {', '.join(self.platforms) or 'none'}",
                 f"{self.n_rules} of {self.n_rules_total} rules" + (" (enabled)" if self.enabled_only else "")]
        if self.n_own_rules is not None and self.n_own_rules != self.n_rules:
            parts.append(f"{self.n_own_rules} own, {self.n_rules - self.n_own_rules} base")
        if self.maturities:
            parts.append(f"maturity: {', '.join(self.maturities)}")
        if self.min_priority:
            parts.append(f"priority >= {self.min_priority}")
        if self.sources:
            parts.append(f"sources: {', '.join(self.sources)}")
        return " · ".join(parts)

    def sensors_text(self) -> str:
        """``sensors: syscall, k8s_audit``, or empty."""
        return f"sensors: {', '.join(self.sensors)}" if self.sensors else ""


@dataclass(repr=False)
class Coverage:
    """Coverage frames (see :mod:`falco_coverage.columns`) and the scope they were computed in."""

    techniques: pd.DataFrame
    tactics: pd.DataFrame
    gaps: pd.DataFrame
    rule_tactics: pd.DataFrame
    scope: AppliedScope
    tactic_names: dict[str, str] = field(default_factory=dict)
    #: rules in scope with tactic tags but no valid technique tag: one row per (rule, tactic)
    tactic_only: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: per applicable technique, what the sensors in scope observe of it (empty without a detection model)
    observability: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: whether the release had a detection model, so ``state`` and ``observable`` are known
    has_observability: bool = False
    #: every log-source reference of the applicable techniques' analytics in scope, with its verdict and why
    references: pd.DataFrame = field(default_factory=pd.DataFrame)

    def _facts(self) -> list[tuple[str, str]]:
        s = self.summary()
        facts = [("detected", f"{s['covered']} of {s['applicable']} techniques ({s['coverage']:.0%})")]
        if self.has_observability:
            facts.append(("observable, not detected", f"{s['observable']} (partly: {s['partly_observable']}; "
                                                          f"not observable: {s['not_observable']})"))
        return facts + [("rules in scope", str(s["rules"])), ("scope", self.scope.describe())]

    def __repr__(self) -> str:
        from ...display import facts_text

        return facts_text("Coverage", self._facts())

    def _repr_html_(self) -> str:
        from ...display import facts_html

        return facts_html("ATT&CK coverage", self._facts())

    def summary(self) -> dict[str, float | int]:
        top = self.techniques.drop_duplicates("technique_id")
        top = top[top["parent_id"].isna()]
        out: dict[str, float | int] = {
            "applicable": len(top), "covered": int(top["covered"].sum()),
            "coverage": float(top["covered"].mean()) if len(top) else 0.0, "rules": self.scope.n_rules}
        if self.has_observability:
            for state in STATES:
                out[state.replace(" ", "_")] = int((top["state"] == state).sum())
        return out


def scope_rules(rules: pd.DataFrame, enabled_only: bool, maturities: tuple[str, ...] | None,
                min_priority: str | None, sources: tuple[str, ...] | None) -> pd.DataFrame:
    """The rules a coverage with these filters counts."""
    mask = pd.Series(True, index=rules.index)
    if enabled_only:
        mask &= rules["enabled"].astype(bool)
    if maturities is not None:
        mask &= rules["maturity"].fillna("none").isin(maturities)
    if min_priority is not None:
        mask &= rules["priority"].astype(str).map(PRIORITIES.index) >= PRIORITIES.index(min_priority)
    if sources is not None:
        mask &= rules["source"].isin(sources)
    return rules[mask]


def _tactic_only(rules: pd.DataFrame, attack: AttackData, order: dict[str, int]) -> pd.DataFrame:
    """(rule, tactic) for rules with tactic tags and no valid technique tag."""
    by_id = dict(zip(attack.tactics["tactic_id"], attack.tactics["shortname"]))
    known = set(attack.techniques["technique_id"])
    rows: list[tuple[str, str]] = []
    for name, tags in zip(rules["name"], rules["tags"]):
        parsed = [p for p in map(parse_attack_tag, tags) if p is not None]
        if any(p.kind == "technique" and p.value in known for p in parsed):
            continue
        tactics = {p.value if p.kind == "tactic" else by_id.get(p.value) for p in parsed if p.kind != "technique"}
        rows.extend((name, t) for t in sorted((t for t in tactics if t in order), key=order.__getitem__))
    df = pd.DataFrame(rows, columns=columns("coverage.tactic_only"))
    df["tactic"] = pd.Categorical(df["tactic"], categories=list(order), ordered=True)
    return conform(df, "coverage.tactic_only")


#: a technique's state in the three-way view (ordered: what a rule already does first)
STATES = ("detected", "observable", "partly observable", "not observable")


def coverage(ruleset: RuleSet, attack: AttackData, scope: Scope | None = None, *,
             config: CheckConfig | None = None, **scope_values: Any) -> Coverage:
    """Tactic and technique coverage of ``ruleset`` against ``attack`` in ``scope``
    (:class:`falco_coverage.request.Scope`, or its fields as keywords: ``platforms``, ``maturities``,
    ``min_priority``, ``sources``, ``sensors``, ``include_disabled``).

    Scope values are validated and canonicalised (:mod:`falco_coverage.analysis.coverage.scope`): an unknown
    platform, maturity, priority or source raises :class:`FalcoCoverageError` naming the choices.
    ``sensors`` are the Falco event sources whose observability counts (default: the sources of the
    rules in scope). The configuration's ``source_platforms`` and ``sensors`` say which platforms each
    source observes and what it records.
    """
    sc = Scope.of(scope, **scope_values)
    cfg = config or CheckConfig()
    source_platforms = dict(cfg.source_platforms)
    all_rules = ruleset.rules
    maturities = check_maturities(sc.maturities, all_rules) if sc.maturities is not None else None
    min_priority = check_priority(sc.min_priority) if sc.min_priority is not None else None
    sources = check_sources(sc.sources, all_rules, source_platforms) if sc.sources is not None else None
    enabled_only = not sc.include_disabled
    rules = scope_rules(all_rules, enabled_only, maturities, min_priority, sources)
    notes: list[str] = []
    if sc.platforms is None:
        plats, notes = source_platforms_of(rules["source"], source_platforms)
        if rules.empty:
            plats = list(DEFAULT_SOURCE_PLATFORMS["syscall"])
    else:
        plats = list(check_platforms(sc.platforms, attack))

    tech = attack.techniques
    applicable = tech[active_mask(tech, plats)]
    # no rule in scope: the syscall source, as for the platforms above, so the view is not all grey
    sensor_list = (check_sources(sc.sensors, all_rules, source_platforms) if sc.sensors is not None
                   else tuple(sorted(set(rules["source"]))) or ("syscall",))
    obs, refs = _observability(attack, sensor_list, plats, set(applicable["technique_id"]), source_platforms,
                               cfg.sensors)
    tagged, off_platform = _tagged(rules, tech, set(applicable["technique_id"]))
    subs_of: dict[str, list[str]] = defaultdict(list)
    for tid, parent in zip(applicable["technique_id"], applicable["parent_id"]):
        if isinstance(parent, str):
            subs_of[parent].append(tid)
    order = {s: i for i, s in enumerate(attack.tactics["shortname"])}
    techniques = _techniques(applicable, tagged, subs_of, order, obs)
    tactics, rule_tactics = _tactics(techniques, rules, attack, order)
    gaps = _gaps(applicable, techniques, subs_of, obs)
    tactic_only = _tactic_only(rules, attack, order)
    notes += _notes(rules, attack, tactic_only, off_platform, plats)
    applied = AppliedScope(
        attack_version=attack.version, domain=attack.domain, platforms=tuple(plats), enabled_only=enabled_only,
        maturities=maturities, min_priority=min_priority, sources=sources, n_rules=len(rules),
        n_rules_total=len(ruleset.rules), notes=tuple(notes),
        n_own_rules=int((rules["origin"] == "own").sum()), sensors=tuple(sensor_list),
    )
    return Coverage(techniques, tactics, gaps, rule_tactics, applied, attack.tactic_names(), tactic_only, obs,
                    has_detection_model(attack), refs)


def _tagged(rules: pd.DataFrame, tech: pd.DataFrame, app_ids: set[str]) -> tuple[dict[str, set[str]], set[str]]:
    """Per applicable technique, the rules in scope that tag it directly; and the valid, active
    techniques the rules tag that apply to no platform in scope."""
    tagged: dict[str, set[str]] = defaultdict(set)
    active_ids = set(tech.loc[active_mask(tech), "technique_id"])
    off_platform: set[str] = set()
    for name, tags in zip(rules["name"], rules["tags"]):
        for tag in tags:
            parsed = parse_attack_tag(tag)
            if parsed is None or parsed.kind != "technique":
                continue
            if parsed.value in app_ids:
                tagged[parsed.value].add(name)
            elif parsed.value in active_ids:
                off_platform.add(parsed.value)
    return tagged, off_platform


def _techniques(applicable: pd.DataFrame, tagged: dict[str, set[str]], subs_of: dict[str, list[str]],
                order: dict[str, int], obs: pd.DataFrame) -> pd.DataFrame:
    """One row per (tactic, applicable technique): the rules that cover it and how."""
    rows = []
    for rec in applicable.to_dict("records"):
        tid = rec["technique_id"]
        direct = tagged.get(tid, set())
        via_sub = set().union(*(tagged.get(s, set()) for s in subs_of.get(tid, [])))
        names = sorted(direct | via_sub)
        via = "direct" if direct else ("sub-technique" if via_sub else None)
        for tactic in rec["tactics"]:
            rows.append((tactic, tid, rec["name"], rec["parent_id"] if rec["is_subtechnique"] else None,
                         len(names), names, bool(names), via, int(rec["n_groups"]), int(rec["n_software"])))
    techniques = pd.DataFrame(rows, columns=[c for c in columns("coverage.techniques") if c not in _VIEW])
    techniques["tactic"] = pd.Categorical(techniques["tactic"], categories=list(order), ordered=True)
    techniques = _with_states(techniques, obs)
    return conform(techniques.sort_values(["tactic", "technique_id"], kind="stable", ignore_index=True),
                   "coverage.techniques")


def _tactics(techniques: pd.DataFrame, rules: pd.DataFrame, attack: AttackData,
             order: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per tactic: applicable and covered top-level techniques, rules; and one row per (rule, tactic)."""
    top = techniques[techniques["parent_id"].isna()]
    trows = []
    rule_tactic_rows = []
    meta = rules.set_index("name")[["maturity", "priority", "source", "origin"]]
    for short, tid_, tname in zip(attack.tactics["shortname"], attack.tactics["tactic_id"], attack.tactics["name"]):
        col = top[top["tactic"] == short]
        n_app, n_cov = len(col), int(col["covered"].sum())
        col_rules = sorted(set().union(*col["rules"])) if len(col) else []
        trows.append((short, tid_, tname, n_app, n_cov, n_cov / n_app if n_app else 0.0, len(col_rules),
                      int((col["state"] == "observable").sum()), int((col["state"] == "partly observable").sum()),
                      int((col["state"] == "not observable").sum())))
        for r in col_rules:
            m = meta.loc[r]
            rule_tactic_rows.append((r, short, m["maturity"] if isinstance(m["maturity"], str) else "none",
                                     str(m["priority"]), m["source"], str(m["origin"])))
    tactics = conform(pd.DataFrame(trows, columns=columns("coverage.tactics")), "coverage.tactics")
    rule_tactics = pd.DataFrame(rule_tactic_rows, columns=columns("coverage.rule_tactics"))
    rule_tactics["tactic"] = pd.Categorical(rule_tactics["tactic"], categories=list(order), ordered=True)
    return tactics, conform(rule_tactics, "coverage.rule_tactics")


def _gaps(applicable: pd.DataFrame, techniques: pd.DataFrame, subs_of: dict[str, list[str]],
          obs: pd.DataFrame) -> pd.DataFrame:
    """Uncovered top-level techniques: observable ones first (where a new rule pays off), then by threat use."""
    top = techniques[techniques["parent_id"].isna()]
    uncovered = applicable[~applicable["is_subtechnique"]
                           & ~applicable["technique_id"].isin(set(top.loc[top["covered"], "technique_id"]))]
    level = dict(zip(obs["technique_id"], obs["observable"])) if len(obs) else {}
    gaps = uncovered.assign(
        n_subtechniques=uncovered["technique_id"].map(lambda t: len(subs_of.get(t, []))),
        observable=pd.Categorical(uncovered["technique_id"].map(level), categories=list(LEVELS), ordered=True),
        strategy_ids=uncovered["technique_id"].map(
            dict(zip(obs["technique_id"], obs["strategy_ids"])) if len(obs) else {}).map(
            lambda v: v if isinstance(v, list) else []),
    )
    gaps = gaps.assign(_tier=gaps["observable"].isin(["partial", "full"]).map({True: 0, False: 1}))
    gaps = gaps.sort_values(["_tier", "n_groups", "n_software", "technique_id"],
                            ascending=[True, False, False, True], kind="stable", ignore_index=True)
    return conform(gaps, "coverage.gaps")


def _notes(rules: pd.DataFrame, attack: AttackData, tactic_only: pd.DataFrame, off_platform: set[str],
           plats: list[str]) -> list[str]:
    """What the reader must know about the scope."""
    notes = []
    n_tactic_only = tactic_only["rule"].nunique()
    if n_tactic_only:
        notes.append(f"{n_tactic_only} of {len(rules)} rules carry only tactic tags (no valid technique tag), so "
                     "they cover no technique; add the technique each detects (T####) to count them")
    if off_platform and plats:
        shown = ", ".join(sorted(off_platform)[:5]) + (" ..." if len(off_platform) > 5 else "")
        notes.append(f"{len(off_platform)} technique(s) the rules tag apply to no platform in scope ({shown}): "
                     "they are not in the matrix; widen the scope with --platform to count them")
    if not has_detection_model(attack):
        notes.append(f"ATT&CK {attack.version or '(this release)'} has no detection model (analytics came with v18, "
                     "data components before), so what the sensors can observe is not known; load a newer release "
                     "for the observable view")
    if not plats:
        notes.append("no ATT&CK platform is in scope, so no technique applies; pass --platform or map the "
                     "rules' sources with source_platforms")
    return notes


#: the columns of ``coverage.techniques`` the three-way view adds
_VIEW = ("observable", "state")


def _observability(attack: AttackData, sensors: Iterable[str], platforms: list[str], app_ids: set[str],
                   source_platforms: dict[str, list[str]] | None,
                   overrides: Mapping[str, object] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observability of the applicable techniques and the verdicts on their references; empty when the
    release has no detection model."""
    if not has_detection_model(attack):
        return empty_observability(), empty_references()
    profile = profile_with(overrides) if overrides else None
    obs, refs = (f(attack, sensors, platforms, source_platforms=source_platforms, profile=profile)
                 for f in (observability, reference_verdicts))
    return (obs[obs["technique_id"].isin(app_ids)].reset_index(drop=True),
            refs[refs["technique_id"].isin(app_ids)].reset_index(drop=True))


def _with_states(techniques: pd.DataFrame, obs: pd.DataFrame) -> pd.DataFrame:
    """``techniques`` with ``observable`` and ``state`` (missing without a detection model)."""
    level = techniques["technique_id"].map(dict(zip(obs["technique_id"], obs["observable"].astype(object)))) \
        if len(obs) else pd.Series(None, index=techniques.index, dtype=object)
    techniques["observable"] = pd.Categorical(level, categories=list(LEVELS), ordered=True)
    state = pd.Series(None, index=techniques.index, dtype=object)
    if len(obs):
        level = techniques["observable"].astype(object)
        state = state.mask(techniques["covered"], "detected")
        state = state.mask(~techniques["covered"] & (level == "full"), "observable")
        state = state.mask(~techniques["covered"] & (level == "partial"), "partly observable")
        state = state.mask(~techniques["covered"] & ~level.isin(["full", "partial"]), "not observable")
    techniques["state"] = pd.Categorical(state, categories=list(STATES), ordered=True)
    return techniques
