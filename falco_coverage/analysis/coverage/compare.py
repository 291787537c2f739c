"""Compare two coverages (two rule sets, or one rule set under two ATT&CK releases), and find the
tags that go wrong when ATT&CK moves. Column meanings: :mod:`falco_coverage.columns`."""

from __future__ import annotations

import pandas as pd

from ...attack import AttackData
from ...columns import columns, conform
from ...rules import RuleSet
from ...rules.tags import parse_attack_tag
from .compute import Coverage


def tactic_change(before: Coverage, after: Coverage) -> pd.DataFrame:
    """Per tactic, keyed by tactic ID (in ``after``'s matrix order, then tactics only ``before`` has):
    covered and coverage before and after. A tactic renamed between the two is one row, both names kept."""
    a = before.tactics.set_index("tactic_id")
    b = after.tactics.set_index("tactic_id")
    order = list(b.index) + [t for t in a.index if t not in b.index]
    out = pd.DataFrame({"tactic_id": order})
    out["tactic"] = [b["tactic"].get(t, a["tactic"].get(t)) for t in order]
    out["name"] = [b["name"].get(t, a["name"].get(t)) for t in order]
    out["name_before"] = [a["name"].get(t) for t in order]
    for col, src in (("covered_before", a["covered"]), ("covered_after", b["covered"]),
                     ("applicable_before", a["applicable"]), ("applicable_after", b["applicable"])):
        out[col] = out["tactic_id"].map(src).fillna(0).astype(int)
    out["coverage_before"] = out["tactic_id"].map(a["coverage"]).fillna(0.0)
    out["coverage_after"] = out["tactic_id"].map(b["coverage"]).fillna(0.0)
    out["delta"] = out["covered_after"] - out["covered_before"]
    return conform(out, "compare.tactics")


def technique_change(before: Coverage, after: Coverage) -> pd.DataFrame:
    """Top-level techniques covered in one coverage and not the other: ``gained`` or ``lost``."""
    def covered(cov: Coverage) -> pd.DataFrame:
        t = cov.techniques
        t = t[t["covered"] & t["parent_id"].isna()].drop_duplicates("technique_id")
        return t.set_index("technique_id")[["name", "rules"]]

    a, b = covered(before), covered(after)
    rows: list[tuple[str, str, str, list[str], list[str]]] = [
        (tid, b.loc[tid, "name"], "gained", [], b.loc[tid, "rules"]) for tid in sorted(set(b.index) - set(a.index))]
    rows += [(tid, a.loc[tid, "name"], "lost", a.loc[tid, "rules"], []) for tid in sorted(set(a.index) - set(b.index))]
    return conform(pd.DataFrame(rows, columns=columns("compare.techniques")), "compare.techniques")


def tactic_moves(old: AttackData, new: AttackData) -> pd.DataFrame:
    """Where each tactic ``new`` retired had its techniques go (empty when none was retired)."""
    from ..tags.migrate import Migration

    return Migration(old, new).moves()


def attack_drift(ruleset: RuleSet, old: AttackData, new: AttackData) -> pd.DataFrame:
    """Every tag that was fine in ``old`` and means something else in ``new``: techniques revoked,
    deprecated, gone or under other tactics; tactic tags retired; tactic IDs renamed."""
    from ..tags.migrate import Migration

    m = Migration(old, new)
    rows: list[tuple[str, str, str | None, str, list[str], list[str], str | None]] = []
    for rec in ruleset.rules.to_dict("records"):
        techniques = [p.value for p in map(parse_attack_tag, rec["tags"]) if p is not None and p.kind == "technique"]
        for tag in rec["tags"]:
            parsed = parse_attack_tag(tag)
            if parsed is not None and parsed.kind == "tactic" and parsed.value in m.retired:
                rows.append((rec["name"], tag, None, "tactic retired", [parsed.value],
                             m.replacement(parsed.value, techniques) or m.heirs.get(parsed.value, [])[:1], None))
                continue
            if parsed is not None and parsed.kind == "tactic_id" and parsed.value in m.renamed:
                was, now = m.renamed[parsed.value]
                rows.append((rec["name"], tag, None, "tactic renamed", [was], [now], None))
                continue
            if parsed is None or parsed.kind != "technique":
                continue
            tid = parsed.value
            try:
                o = old.technique(tid)
            except KeyError:
                continue
            if o["revoked"] or o["deprecated"]:
                continue
            try:
                n = new.technique(tid)
            except KeyError:
                rows.append((rec["name"], tag, tid, "removed", list(o["tactics"]), [], None))
                continue
            if n["revoked"]:
                repl = n["replaced_by"] if isinstance(n["replaced_by"], str) else None
                rows.append((rec["name"], tag, tid, "revoked", list(o["tactics"]), [], repl))
            elif n["deprecated"]:
                rows.append((rec["name"], tag, tid, "deprecated", list(o["tactics"]), [], None))
            elif set(n["tactics"]) != set(o["tactics"]):
                rows.append((rec["name"], tag, tid, "tactics changed", list(o["tactics"]), list(n["tactics"]), None))
    return conform(pd.DataFrame(rows, columns=columns("compare.drift")), "compare.drift")
