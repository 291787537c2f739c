"""A RuleSet as the command line shows it: a table, JSON or CSV of the rules; diagnostics as lines."""

from __future__ import annotations

import json
from typing import TextIO

import pandas as pd

from ..findings import Location
from ..rules import RuleSet

TABLE_COLUMNS = ["name", "priority", "source", "enabled", "maturity", "tactic_tags", "technique_tags", "where"]


def _where(df: pd.DataFrame) -> pd.Series:
    return pd.Series([str(Location(f, int(n))) for f, n in zip(df["file"], df["line"])], index=df.index, dtype=object)


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Locations as ``file:line`` text, for JSON and CSV."""
    out = df.copy()
    for col in ("tag_locations", "changed_at"):
        if col in out:
            out[col] = out[col].map(lambda locs: [str(loc) for loc in locs])
    return out


def write_rules(ruleset: RuleSet, fmt: str, out: TextIO) -> None:
    """Write the resolved rules as ``table``, ``json`` (records, lists kept) or ``csv`` (lists ';'-joined)."""
    df = ruleset.rules
    if fmt in ("json", "csv"):
        df = _plain(df)
    if fmt == "json":
        records = json.loads(df.assign(priority=df["priority"].astype(str)).to_json(orient="records"))
        json.dump(records, out, indent=1, ensure_ascii=False)
        out.write("\n")
    elif fmt == "csv":
        flat = df.copy()
        for col in ("tags", "tactic_tags", "technique_tags", "other_tags", "tag_locations", "changed_at"):
            flat[col] = flat[col].map(";".join)
        flat["exceptions"] = flat["exceptions"].map(lambda e: json.dumps(e, ensure_ascii=False))
        flat.to_csv(out, index=False)
    else:
        if df.empty:
            out.write("no rules\n")
            return
        view = df.assign(where=_where(df), name=df["name"].map(lambda n: n if len(n) <= 50 else n[:49] + "…"))
        for col in ("tactic_tags", "technique_tags"):
            view[col] = view[col].map(" ".join)
        out.write(view[TABLE_COLUMNS].to_string(index=False) + "\n")


def print_diagnostics(ruleset: RuleSet, out: TextIO) -> None:
    """One line per diagnostic, compiler style: ``file:line: severity: CODE: message (item)``."""
    for d in ruleset.diagnostics.itertuples(index=False):
        where = str(Location(str(d.file), int(d.line)))
        item = f" ({d.item})" if isinstance(d.item, str) and d.item else ""
        out.write(f"{where}: {d.severity}: {d.code}: {d.message}{item}\n")


def write_suggestions(found: pd.DataFrame, fmt: str, out: TextIO, *, rules: pd.DataFrame | None = None,
                      attack: object = None) -> None:
    """Technique suggestions (:func:`falco_coverage.analysis.suggest.suggest`) as JSON rows or a table:
    each rule, its suggestions with their tactics, score and evidence; rules with none say so."""
    if fmt == "json":
        rows = [{"rule": r["rule"], "rank": int(r["rank"]), "technique_id": r["technique_id"], "name": r["name"],
                 "tactics": list(r["tactics"]), "score": round(float(r["score"]), 4), "confident": bool(r["confident"]),
                 "evidence": list(r["evidence"])} for r in found.to_dict("records")]
        json.dump(rows, out, indent=1)
        out.write("\n")
        return
    by_rule = {name: group for name, group in found.groupby("rule", sort=False)}
    names = list(rules["name"]) if rules is not None else list(by_rule)
    where = dict(zip(rules["name"], _where(rules))) if rules is not None else {}
    release = getattr(attack, "describe", lambda: "ATT&CK")()
    out.write(f"technique suggestions ({release}); 'confident' ones are what check shows and fix --suggest adds\n")
    for name in names:
        out.write(f"\n{name}" + (f"  ({where[name]})" if name in where else "") + "\n")
        group = by_rule.get(name)
        if group is None:
            out.write("  no suggestion: nothing in the rule matches ATT&CK's text or a tagged rule\n")
            continue
        for r in group.to_dict("records"):
            mark = "  confident" if r["confident"] else ""
            out.write(f"  {r['rank']}. {r['technique_id']} {r['name']} [{', '.join(r['tactics'])}] "
                      f"score {r['score']:.2f}{mark}\n")
            for line in r["evidence"]:
                out.write(f"       - {line}\n")
