"""ATT&CK coverage of a rule set: per technique, per tactic, gaps, under an explicit scope.

Only valid tags count (canonical or canonicalised, see :func:`falco_coverage.rules.tags.parse_attack_tag`)
of active techniques. A parent technique is covered when it or any of its sub-techniques is tagged;
a parent tag does not cover its sub-techniques. The denominator is the active techniques whose
platforms meet the scope's platforms (default: what the rules' sources can observe).
Column meanings: :mod:`falco_coverage.columns`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from ..attack import AttackData, active_mask
from ..columns import columns, conform
from ..config import DEFAULT_SOURCE_PLATFORMS
from ..errors import FalcoCoverageError
from ..rules import RuleSet
from ..rules.decode import PRIORITIES, canonical_priority
from ..rules.tags import parse_attack_tag


@dataclass(frozen=True)
class Scope:
    """The filters and the ATT&CK release a coverage was computed with."""

    attack_version: str | None
    domain: str
    platforms: tuple[str, ...]
    enabled_only: bool
    maturities: tuple[str, ...] | None
    min_priority: str | None
    sources: tuple[str, ...] | None
    n_rules: int
    n_rules_total: int

    def describe(self) -> str:
        """One line for figure subtitles and reports."""
        parts = [f"ATT&CK {self.attack_version or '?'} {self.domain.removesuffix('-attack')}",
                 f"platforms: {', '.join(self.platforms)}",
                 f"{self.n_rules} of {self.n_rules_total} rules" + (" (enabled)" if self.enabled_only else "")]
        if self.maturities:
            parts.append(f"maturity: {', '.join(self.maturities)}")
        if self.min_priority:
            parts.append(f"priority >= {self.min_priority}")
        if self.sources:
            parts.append(f"sources: {', '.join(self.sources)}")
        return " · ".join(parts)


@dataclass
class Coverage:
    """Coverage frames (see :mod:`falco_coverage.columns`) and the scope they were computed in."""

    techniques: pd.DataFrame
    tactics: pd.DataFrame
    gaps: pd.DataFrame
    rule_tactics: pd.DataFrame
    scope: Scope
    tactic_names: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, float | int]:
        top = self.techniques.drop_duplicates("technique_id")
        top = top[top["parent_id"].isna()]
        return {"applicable": len(top), "covered": int(top["covered"].sum()),
                "coverage": float(top["covered"].mean()) if len(top) else 0.0, "rules": self.scope.n_rules}


def _scope_rules(rules: pd.DataFrame, enabled_only: bool, maturities: Iterable[str] | None,
                 min_priority: str | None, sources: Iterable[str] | None) -> pd.DataFrame:
    mask = pd.Series(True, index=rules.index)
    if enabled_only:
        mask &= rules["enabled"].astype(bool)
    if maturities is not None:
        wanted = {m.removeprefix("maturity_") for m in maturities}
        mask &= rules["maturity"].fillna("none").isin(wanted)
    if min_priority is not None:
        p = canonical_priority(min_priority)
        if p is None:
            raise FalcoCoverageError(f"unknown priority '{min_priority}' (one of {', '.join(PRIORITIES)})")
        mask &= rules["priority"].astype(str).map(PRIORITIES.index) >= PRIORITIES.index(p)
    if sources is not None:
        mask &= rules["source"].isin(list(sources))
    return rules[mask]


def coverage(
    ruleset: RuleSet, attack: AttackData, *, platforms: Iterable[str] | None = None, enabled_only: bool = True,
    maturities: Iterable[str] | None = None, min_priority: str | None = None, sources: Iterable[str] | None = None,
    source_platforms: dict[str, list[str]] | None = None,
) -> Coverage:
    """Tactic and technique coverage of ``ruleset`` against ``attack`` in the given scope."""
    rules = _scope_rules(ruleset.rules, enabled_only, maturities, min_priority, sources)
    seen = {**DEFAULT_SOURCE_PLATFORMS, **(source_platforms or {})}
    if platforms is None:
        plats = sorted({p for s in rules["source"].unique() for p in seen.get(s, [])}) or ["Linux", "Containers"]
    else:
        plats = list(platforms)

    tech = attack.techniques
    applicable = tech[active_mask(tech, plats)]
    app_ids = set(applicable["technique_id"])

    # rule -> valid active technique IDs it tags (canonicalised)
    tagged: dict[str, set[str]] = defaultdict(set)  # technique -> rules tagging it directly
    rule_techs: dict[str, set[str]] = {}
    for name, tags in zip(rules["name"], rules["tags"]):
        ids = set()
        for tag in tags:
            parsed = parse_attack_tag(tag)
            if parsed and parsed.kind == "technique" and parsed.value in app_ids:
                ids.add(parsed.value)
                tagged[parsed.value].add(name)
        rule_techs[name] = ids

    subs_of: dict[str, list[str]] = defaultdict(list)
    for tid, parent in zip(applicable["technique_id"], applicable["parent_id"]):
        if isinstance(parent, str):
            subs_of[parent].append(tid)

    order = {s: i for i, s in enumerate(attack.tactics["shortname"])}
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
    techniques = pd.DataFrame(rows, columns=columns("coverage.techniques"))
    techniques["tactic"] = pd.Categorical(techniques["tactic"], categories=list(order), ordered=True)
    techniques = conform(techniques.sort_values(["tactic", "technique_id"], kind="stable", ignore_index=True),
                         "coverage.techniques")

    top = techniques[techniques["parent_id"].isna()]
    trows = []
    rule_tactic_rows = []
    meta = rules.set_index("name")[["maturity", "priority", "source"]]
    for short, tid_, tname in zip(attack.tactics["shortname"], attack.tactics["tactic_id"], attack.tactics["name"]):
        col = top[top["tactic"] == short]
        n_app, n_cov = len(col), int(col["covered"].sum())
        col_rules = sorted(set().union(*col["rules"])) if len(col) else []
        trows.append((short, tid_, tname, n_app, n_cov, n_cov / n_app if n_app else 0.0, len(col_rules)))
        for r in col_rules:
            m = meta.loc[r]
            rule_tactic_rows.append((r, short, m["maturity"] if isinstance(m["maturity"], str) else "none",
                                     str(m["priority"]), m["source"]))
    tactics = conform(pd.DataFrame(trows, columns=columns("coverage.tactics")), "coverage.tactics")
    rule_tactics = pd.DataFrame(rule_tactic_rows, columns=columns("coverage.rule_tactics"))
    rule_tactics["tactic"] = pd.Categorical(rule_tactics["tactic"], categories=list(order), ordered=True)
    rule_tactics = conform(rule_tactics, "coverage.rule_tactics")

    uncovered = applicable[~applicable["is_subtechnique"]
                           & ~applicable["technique_id"].isin(set(top.loc[top["covered"], "technique_id"]))]
    gaps = uncovered.assign(
        n_subtechniques=uncovered["technique_id"].map(lambda t: len(subs_of.get(t, []))),
    )[columns("coverage.gaps")].sort_values(["n_groups", "n_software", "technique_id"],
                                           ascending=[False, False, True], kind="stable", ignore_index=True)
    gaps = conform(gaps, "coverage.gaps")

    scope = Scope(
        attack_version=attack.version, domain=attack.domain, platforms=tuple(plats), enabled_only=enabled_only,
        maturities=tuple(maturities) if maturities is not None else None, min_priority=min_priority,
        sources=tuple(sources) if sources is not None else None, n_rules=len(rules),
        n_rules_total=len(ruleset.rules),
    )
    return Coverage(techniques, tactics, gaps, rule_tactics, scope, attack.tactic_names())
