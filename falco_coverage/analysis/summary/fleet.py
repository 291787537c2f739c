"""Many runs' summaries merged into one fleet view: which cluster covers what, and where rule sets differ.

Each summary (:mod:`.summary`) is one cluster or rule set, named at report time. The merge keeps the
newest summary of each name, then gives per cluster its coverage and per tactic covered/applicable,
per technique the clusters that detect it (everywhere, somewhere, nowhere), and the rules that not
every cluster runs the same way. The scheduler that ran the reports (a CI matrix, Argo, Airflow) is
the user's; this module only reads what they wrote.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ...errors import FalcoCoverageError
from .runs import coverage_share, read_summary

FLEET_SCHEMA = "falco-coverage/fleet"
FLEET_SCHEMA_VERSION = 1


def summary_paths(given: Iterable[str | Path]) -> list[Path]:
    """The summary files of ``given``: files as they are, directories searched for ``summary.json``."""
    out: list[Path] = []
    for g in given:
        p = Path(g)
        if p.is_dir():
            found = sorted(f for f in p.rglob("summary.json") if not f.is_dir())
            if not found:
                raise FalcoCoverageError("no summary.json below this directory", file=p)
            out += found
        elif p.exists():
            out.append(p)  # read_summary refuses what is not a regular file, naming it
        else:
            raise FalcoCoverageError("no such summary file or directory", file=p)
    return out


def merge(paths: list[Path], out_dir: Path | None = None) -> dict[str, Any]:
    """The fleet of the summaries at ``paths`` (the newest per name); links are relative to ``out_dir``,
    which may not be the directory of any input (the fleet page would overwrite a cluster's report)."""
    if out_dir is not None:  # where the file is named, or where it really is (a symlink)
        out = out_dir.resolve()
        clash = next((p for p in paths if out in (p.parent.resolve(), p.resolve().parent)), None)
        if clash is not None:
            raise FalcoCoverageError("the fleet page would overwrite this run's report; write it to another "
                                     "directory (--out)", file=clash)
    newest, replaced = _newest(paths)
    names = sorted(newest)
    docs = [newest[n][0] for n in names]
    clusters = [_cluster(name, doc, newest[name][1], out_dir) for name, doc in zip(names, docs)]
    tactic_order: list[tuple[str, str]] = []
    for doc in docs:
        for t in doc["tactics"]:
            if (t["tactic"], t["name"]) not in tactic_order:
                tactic_order.append((t["tactic"], t["name"]))
    detected_by, applicable_in, technique_names = _detections(names, docs)
    n = len(names)
    everywhere = sorted(t for t, c in detected_by.items() if len(c) == n)
    somewhere = sorted(t for t, c in detected_by.items() if 0 < len(c) < n)
    nowhere = sorted(t for t in applicable_in if t not in detected_by)
    return {
        "schema": FLEET_SCHEMA, "schema_version": FLEET_SCHEMA_VERSION, "clusters": clusters,
        "tactics": [{"tactic": s, "name": nm} for s, nm in tactic_order],
        "attack_versions": sorted({str(c["attack_version"]) for c in clusters}),
        "techniques": {"everywhere": everywhere, "somewhere": {t: sorted(detected_by[t]) for t in somewhere},
                       "nowhere": nowhere},
        "technique_names": {t: technique_names[t] for t in sorted(set(everywhere) | set(somewhere))},
        "rules_differ": _rules_differ(names, docs), "summaries_read": len(paths), "older_summaries_ignored": replaced,
    }


#: the summaries one fleet reads may not be larger than this together (a thousand clusters are ~60 MB)
MAX_FLEET_BYTES = 128 << 20


def _newest(paths: list[Path]) -> tuple[dict[str, tuple[dict[str, Any], Path]], int]:
    """The newest summary per name (with its path), and how many older ones were passed over."""
    newest: dict[str, tuple[dict[str, Any], Path]] = {}
    replaced = 0
    total = 0
    for path in paths:  # the budget first, before anything is read
        try:
            total += path.stat().st_size
        except OSError:
            pass  # read_summary says why
        if total > MAX_FLEET_BYTES:
            raise FalcoCoverageError(f"the summaries given hold more than {MAX_FLEET_BYTES >> 20} MiB together; "
                                     "merge fewer at a time", file=path)
    for path in paths:
        doc = read_summary(path)
        name = doc["name"]
        if name in newest:
            replaced += 1
            if newest[name][0]["generated"] >= doc["generated"]:
                continue
        newest[name] = (doc, path)
    return newest, replaced


def _cluster(name: str, doc: dict[str, Any], path: Path, out_dir: Path | None) -> dict[str, Any]:
    """One cluster's row of the fleet."""
    report = path.parent / "index.html"
    link = _relative_link(report, out_dir) if out_dir is not None and report.is_file() else None
    sev = doc.get("findings", {}).get("by_severity", {})
    top = [t for t in doc["tactics"] if isinstance(t, dict)]
    return {
        "name": name, "generated": doc["generated"], "attack_version": doc.get("attack", {}).get("version"),
        "coverage": round(coverage_share(doc), 6), "rules": doc.get("scope", {}).get("rules"),
        "fingerprint": doc["rules"].get("fingerprint"), "load_errors": doc.get("load_errors", 0),
        "errors": sev.get("error", 0), "warnings": sev.get("warning", 0), "report": link,
        "tactics": {t["tactic"]: [t["covered"], t["applicable"]] for t in top},
    }


def _relative_link(target: Path, out_dir: Path) -> str:
    """A link to ``target`` from a page in ``out_dir``: relative and percent-encoded, so no directory
    name (``javascript:...``, ``//host``, ``?x#y``) can make it a URL of its own."""
    rel = os.path.relpath(target.resolve(), out_dir).replace(os.sep, "/")
    quoted = quote(rel, safe="/")
    return quoted if quoted.startswith("../") else "./" + quoted


def _detections(names: list[str], docs: list[dict[str, Any]]
                ) -> tuple[dict[str, list[str]], dict[str, int], dict[str, str]]:
    """Per technique: the clusters detecting it, in how many it applies, and its name."""
    detected_by: dict[str, list[str]] = {}
    applicable_in: dict[str, int] = {}
    technique_names: dict[str, str] = {}
    for name, doc in zip(names, docs):
        for tid, state in doc["techniques"].items():
            applicable_in[tid] = applicable_in.get(tid, 0) + 1
            technique_names.setdefault(tid, str(state.get("name", "")))
            if state.get("detected"):
                detected_by.setdefault(tid, []).append(name)
    return detected_by, applicable_in, technique_names


def _rules_differ(names: list[str], docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rules missing from some cluster, or written differently in some."""
    has: dict[str, dict[str, list[str]]] = {}  # rule -> digest -> clusters
    for name, doc in zip(names, docs):
        for rule, digest in doc["rules"].get("digests", {}).items():
            has.setdefault(rule, {}).setdefault(digest, []).append(name)
    differ = []
    for rule in sorted(has):
        versions = has[rule]
        holders = sorted(c for cs in versions.values() for c in cs)
        if len(holders) < len(names) or len(versions) > 1:
            differ.append({"rule": rule, "clusters": holders, "missing_in": sorted(set(names) - set(holders)),
                           "variants": len(versions)})
    return differ
