"""Findings as text (compiler style), JSON, SARIF 2.1.0 and GitHub workflow annotations."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from ..attack.model import AttackData
from ..findings import SEVERITIES, Location, Registry, Severity, iter_records

_URL = "https://github.com/falcosecurity/rules"


def _rel(path: str, base: Path | None) -> str:
    """``path`` relative to ``base`` when it lies under it (as code scanning expects), else as given."""
    if base is None:
        return path
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(base)).as_posix()
    except ValueError:
        return path


def _records(findings: pd.DataFrame) -> list[dict[str, Any]]:
    return list(iter_records(findings))


def _where(rec: dict[str, Any], base: Path | None) -> str:
    return str(Location(_rel(rec["file"] or "?", base), rec["line"] or 0, rec.get("column")))


def write_text(findings: pd.DataFrame, out: TextIO, base: Path | None = None, attack: AttackData | None = None) -> None:
    """``file:line: severity: [code] rule: message (suggest: ...)``, grouped by file, then a summary."""
    for rec in _records(findings):
        hint = f" (suggest: {rec['suggestion']})" if rec["suggestion"] else ""
        out.write(f"{_where(rec, base)}: {rec['severity']}: [{rec['code']}] {rec['rule']}: {rec['message']}{hint}\n")
    counts = findings["severity"].value_counts()
    total = ", ".join(f"{int(counts.get(s, 0))} {s if counts.get(s, 0) == 1 else Severity(s).plural}"
                      for s in SEVERITIES)
    against = f"; checked against {attack.describe()}" if attack is not None else ""
    out.write((f"{total} in {findings['rule'].nunique()} rule(s)" if len(findings) else "no findings") + against + "\n")


def write_json(findings: pd.DataFrame, out: TextIO) -> None:
    """The findings as a JSON array of objects (the findings columns; null for missing)."""
    json.dump(_records(findings), out, indent=1, ensure_ascii=False)
    out.write("\n")


def sarif(findings: pd.DataFrame, *, registry: Registry, codes: list[str], attack: AttackData | None = None,
          base: Path | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one rule descriptor per code of ``codes`` (described by ``registry``)."""
    from ..versions import PACKAGE_VERSION as __version__

    rules = [{
        "id": code, "name": code.replace("-", " ").title().replace(" ", ""),
        "shortDescription": {"text": registry[code].summary},
        "defaultConfiguration": {"level": registry[code].severity.sarif},
        "properties": {"fixable": registry[code].fixable},
    } for code in codes]
    results = []
    for rec in _records(findings):
        text = rec["message"] + (f" Suggested tag: {rec['suggestion']}." if rec["suggestion"] else "")
        result = {
            "ruleId": rec["code"], "ruleIndex": codes.index(rec["code"]), "level": Severity(rec["severity"]).sarif,
            "message": {"text": f"{rec['rule']}: {text}"},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": Path(_rel(rec["file"], base)).as_posix()},
                "region": {"startLine": int(rec["line"] or 1),
                           **({"startColumn": int(rec["column"])} if rec.get("column") else {})},
            }}],
            "partialFingerprints": {"falcoRule/code/tag": f"{rec['rule']}/{rec['code']}/{rec['tag'] or ''}"},
        }
        results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "falco-coverage", "version": __version__, "informationUri": _URL,
                                "rules": rules}},
            "properties": {"attackVersion": attack.version if attack else None,
                           "attackSource": attack.origin if attack else None},
            "results": results,
        }],
    }


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def write_github(findings: pd.DataFrame, out: TextIO, base: Path | None = None) -> None:
    """GitHub Actions workflow commands: ``::error file=...,line=...,title=...::message``."""
    for rec in _records(findings):
        msg = f"{rec['rule']}: {rec['message']}" + (f" (suggest: {rec['suggestion']})" if rec["suggestion"] else "")
        col = f",col={rec['column']}" if rec.get("column") else ""
        props = f"file={_gh_escape(_rel(rec['file'], base), True)},line={rec['line'] or 1}{col}," \
                f"title={_gh_escape('falco-coverage ' + rec['code'], True)}"
        out.write(f"::{Severity(rec['severity']).github} {props}::{_gh_escape(msg)}\n")
