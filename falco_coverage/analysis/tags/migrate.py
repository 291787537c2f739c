"""How tags move between two ATT&CK releases, derived from the two releases alone (no table by hand).

Tactics are matched by ID. A tactic whose ID stays but whose shortname or name changes is *renamed*
(v19: TA0005 Defense Evasion -> Stealth); a shortname of the old release that the new one no longer
has is *retired* (``mitre_defense_evasion``). Techniques follow their ``revoked-by`` chain to the
technique that replaced them (T1562.001 -> T1685). A retired tactic's *heirs* are the new tactics
its techniques went to, the one that kept its ID first; the replacement of a retired tactic tag is
the heirs the rule's own (replaced) techniques belong to.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...attack import AttackData, active_mask
from ...columns import columns, conform


@dataclass
class Migration:
    """What changed from ``old`` to ``new``."""

    old: AttackData
    new: AttackData
    #: tactic ID -> (old shortname, new shortname), for IDs whose tactic changed name
    renamed: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: old shortname the new release no longer has -> its old tactic ID
    retired: dict[str, str] = field(default_factory=dict)
    #: retired shortname -> new shortnames its techniques went to (the ID's new name first)
    heirs: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        old_t, new_t = self.old.tactics, self.new.tactics
        self._old_short = dict(zip(old_t["tactic_id"], old_t["shortname"]))
        self._new_short = dict(zip(new_t["tactic_id"], new_t["shortname"]))
        self._new_name = dict(zip(new_t["tactic_id"], new_t["name"]))
        old_name = dict(zip(old_t["tactic_id"], old_t["name"]))
        self._order = {s: i for i, s in enumerate(new_t["shortname"])}
        # plain dicts: the per-technique look-ups below run for every technique of a retired tactic
        old_tech, new_tech = self.old.techniques, self.new.techniques
        self._old_tactics_of = dict(zip(old_tech["technique_id"], old_tech["tactics"]))
        self._new_tactics_of = dict(zip(new_tech["technique_id"], new_tech["tactics"]))
        active = active_mask(new_tech)
        self._new_fate = {tid: tid if live else (repl if isinstance(repl, str) else None)
                          for tid, live, repl in zip(new_tech["technique_id"], active, new_tech["replaced_by"])}
        for tid, short in self._old_short.items():
            if tid in self._new_short and (self._new_short[tid] != short or self._new_name[tid] != old_name[tid]):
                self.renamed[tid] = (short, self._new_short[tid])
        new_shorts = set(self._new_short.values())
        #: shortnames the old release did not have: where a retired tactic's techniques can have gone
        self._fresh = new_shorts - set(self._old_short.values())
        self.retired = {s: tid for tid, s in self._old_short.items() if s not in new_shorts}
        for short, tid in self.retired.items():
            flows = Counter(dest for dest in self._destinations(short) if dest in self._fresh)
            first = [self._new_short[tid]] if tid in self._new_short else []
            self.heirs[short] = first + [s for s, _ in flows.most_common() if s not in first]

    @property
    def label(self) -> str:
        return f"ATT&CK {self.old.version} -> {self.new.version}"

    def old_name(self, short: str) -> str:
        """The display name a shortname had in the old release."""
        t = self.old.tactics
        hit = t.loc[t["shortname"] == short, "name"]
        return str(hit.iloc[0]) if len(hit) else short

    def fate(self, technique_id: str) -> str | None:
        """The active technique of the new release that ``technique_id`` is now (itself, or what revoked it)."""
        now = self._new_fate.get(technique_id)
        return now if now is not None and now in self._new_fate else None

    def new_tactics(self, technique_id: str) -> list[str]:
        return list(self._new_tactics_of.get(technique_id, ()))

    def _old_tactics(self, technique_id: str) -> list[str]:
        return list(self._old_tactics_of.get(technique_id, ()))

    def _destinations(self, short: str) -> list[str]:
        """Where each old technique of ``short`` went: a new tactic it gained, or revoked/elsewhere."""
        old = self.old.techniques
        out = []
        for tid, tactics in zip(old.loc[active_mask(old), "technique_id"], old.loc[active_mask(old), "tactics"]):
            if short not in tactics:
                continue
            now = self.fate(tid)
            if now is None:
                out.append("removed")
            elif now != tid:
                out.append("revoked")
            else:
                gained = [t for t in self.new_tactics(now) if t not in tactics]
                fresh = [t for t in gained if t in self._fresh]
                out.append((fresh or gained or ["elsewhere"])[0])
        return out

    def replacement(self, short: str, techniques: list[str]) -> list[str] | None:
        """The heirs of retired ``short`` that the rule's techniques (as replaced) belong to; [] when
        they belong to none (drop the tag); None when the rule names no technique (no evidence)."""
        now = [f for f in (self.fate(t) for t in techniques) if f]
        if not now:
            return None
        heirs = self.heirs.get(short, [])
        found = {t for f in now for t in self.new_tactics(f) if t in heirs}
        return sorted(found, key=lambda t: self._order.get(t, 99))

    def moves(self) -> pd.DataFrame:
        """Where each retired tactic's techniques went (columns in :mod:`falco_coverage.columns`)."""
        rows = []
        for short in self.retired:
            counts = Counter(self._destinations(short))
            for dest, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
                rows.append((short, self.retired[short], dest, int(n)))
        return conform(pd.DataFrame(rows, columns=columns("compare.tactic_moves")), "compare.tactic_moves")


def previous_release(attack: AttackData) -> AttackData | None:
    """The release ``attack``'s rules were most likely written for: the newest older built-in release
    with other tactics (the last move of the matrix), else the newest older one."""
    from ...attack import load_attack
    from ...attack.builtin import builtin_versions
    from ...versions import version_key

    if not attack.version or version_key(attack.version) == (-1,):
        return None
    older = [v for v in builtin_versions(attack.domain) if version_key(v) < version_key(attack.version)]
    now = set(zip(attack.tactics["tactic_id"], attack.tactics["shortname"]))
    fallback = None
    for version in reversed(older):
        before = load_attack(version=version, domain=attack.domain)
        fallback = fallback or before
        if set(zip(before.tactics["tactic_id"], before.tactics["shortname"])) != now:
            return before
    return fallback


def migration_to(attack: AttackData, previous: AttackData | None = None) -> Migration | None:
    """The migration from ``previous`` (default: the newest older built-in release) to ``attack``."""
    key = f"migration_from_{previous.version if previous is not None else 'builtin'}"
    if key not in attack.memo:
        before = previous if previous is not None else previous_release(attack)
        attack.memo[key] = Migration(before, attack) if before is not None else None
    result: Any = attack.memo[key]
    return result if isinstance(result, Migration) else None
