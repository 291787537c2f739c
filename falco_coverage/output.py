"""Findings as text (compiler style), JSON, SARIF 2.1.0 and GitHub workflow annotations."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TextIO

import pandas as pd

from .checks import CHECKS

SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
_URL = "https://github.com/falcosecurity/rules"


def _rel(path: str, base: Path | None) -> str:
    """``path`` relative to ``base`` when it lies under it (as code scanning expects), else as given."""
    if base is None:
        return path
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(base)).as_posix()
    except ValueError:
        return path


def _records(findings: pd.DataFrame) -> list[dict]:
    out = []
    for rec in findings.to_dict("records"):
        clean = {}
        for k, v in rec.items():
            if v is None or (not isinstance(v, (list, dict)) and pd.isna(v)):
                clean[k] = None
            elif hasattr(v, "item"):
                clean[k] = v.item()
            else:
                clean[k] = v if not isinstance(v, str) or k not in ("severity", "code") else str(v)
        out.append(clean)
    return out


def write_text(findings: pd.DataFrame, out: TextIO, base: Path | None = None) -> None:
    """``file:line: severity: [code] rule: message (suggest: ...)``, grouped by file, then a summary."""
    for rec in _records(findings):
        where = f"{_rel(rec['file'], base)}:{rec['line']}" if rec["line"] else _rel(rec["file"] or "?", base)
        where += f":{rec['column']}" if rec.get("column") else ""
        hint = f" (suggest: {rec['suggestion']})" if rec["suggestion"] else ""
        out.write(f"{where}: {rec['severity']}: [{rec['code']}] {rec['rule']}: {rec['message']}{hint}\n")
    counts = findings["severity"].value_counts()
    plural = {"error": "errors", "warning": "warnings", "info": "info"}
    total = ", ".join(f"{int(counts.get(s, 0))} {s if counts.get(s, 0) == 1 else plural[s]}"
                      for s in ("error", "warning", "info"))
    out.write(f"{total} in {findings['rule'].nunique()} rule(s)\n" if len(findings) else "no findings\n")


def write_json(findings: pd.DataFrame, out: TextIO) -> None:
    json.dump(_records(findings), out, indent=1, ensure_ascii=False)
    out.write("\n")


def sarif(findings: pd.DataFrame, *, attack_version: str | None, base: Path | None = None,
          registry: dict | None = None) -> dict:
    """A SARIF 2.1.0 log: one rule descriptor per code of ``registry`` (default: the tag checks)."""
    from . import __version__

    registry = registry or CHECKS
    codes = list(registry)
    rules = [{
        "id": code, "name": code.replace("-", " ").title().replace(" ", ""),
        "shortDescription": {"text": registry[code].summary},
        "defaultConfiguration": {"level": SARIF_LEVEL[registry[code].severity]},
        "properties": {"fixable": registry[code].fixable},
    } for code in codes]
    results = []
    for rec in _records(findings):
        text = rec["message"] + (f" Suggested tag: {rec['suggestion']}." if rec["suggestion"] else "")
        result = {
            "ruleId": rec["code"], "ruleIndex": codes.index(rec["code"]), "level": SARIF_LEVEL[rec["severity"]],
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
            "properties": {"attackVersion": attack_version},
            "results": results,
        }],
    }


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def write_github(findings: pd.DataFrame, out: TextIO, base: Path | None = None) -> None:
    """GitHub Actions workflow commands: ``::error file=...,line=...,title=...::message``."""
    level = {"error": "error", "warning": "warning", "info": "notice"}
    for rec in _records(findings):
        msg = f"{rec['rule']}: {rec['message']}" + (f" (suggest: {rec['suggestion']})" if rec["suggestion"] else "")
        col = f",col={rec['column']}" if rec.get("column") else ""
        props = f"file={_gh_escape(_rel(rec['file'], base), True)},line={rec['line'] or 1}{col}," \
                f"title={_gh_escape('falco-coverage ' + rec['code'], True)}"
        out.write(f"::{level[rec['severity']]} {props}::{_gh_escape(msg)}\n")
