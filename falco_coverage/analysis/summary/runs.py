"""A run's machine-readable summary (``summary.json``), and what changed between two of them.

One summary per report run: what was measured (tool, ATT&CK release, scope, a fingerprint of the
resolved rule set), per tactic covered/applicable, per technique whether it is detected (with the
rules), observable and fired, findings counted by code and severity, and load errors. It is
deterministic: the same inputs give byte-identical JSON apart from ``generated``. Every field is
listed in :data:`FIELDS` (and ``docs/fleet.md``); a test holds the two together.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...budgets import read_regular
from ...errors import FalcoCoverageError
from ...fsutil import create_new

if TYPE_CHECKING:
    import pandas as pd

    from ...attack import AttackData
    from ...rules import RuleSet
    from ..coverage.compute import Coverage
    from ..observed import Observed

SCHEMA = "falco-coverage/summary"
SCHEMA_VERSION = 1

#: every field of a summary (``[]`` marks the items of a list, ``{}`` the values of a mapping)
FIELDS: dict[str, str] = {
    "schema": f"always '{SCHEMA}'",
    "schema_version": f"{SCHEMA_VERSION}; a reader refuses a newer major version",
    "name": "the name given at report time (--name; default: the first rules file's stem), e.g. the cluster",
    "generated": "when the run was made, UTC, ISO 8601 (the only field that differs between identical runs)",
    "tool_version": "falco-coverage's version",
    "attack": "the ATT&CK release measured against",
    "attack.version": "e.g. 19.1",
    "attack.domain": "e.g. enterprise-attack",
    "attack.sha256": "SHA-256 of the bundle (of the built-in release's source bundle when built in)",
    "scope": "what the coverage counts",
    "scope.platforms": "ATT&CK platforms in scope",
    "scope.enabled_only": "only enabled rules count",
    "scope.maturities": "maturity filter, or null",
    "scope.min_priority": "priority filter, or null",
    "scope.sources": "event-source filter, or null",
    "scope.sensors": "Falco event sources whose observability counts",
    "scope.rules": "rules in scope",
    "scope.rules_total": "rules loaded",
    "rules": "the resolved rule set",
    "rules.files": "the rule files, as given, in load order (base files first)",
    "rules.fingerprint": "SHA-256 over every resolved rule's digest: equal fingerprints, equal rule sets",
    "rules.digests": "rule name -> SHA-256 of what Falco runs for it (source, enabled, priority, expanded "
                     "condition, output, tags): where two rule sets differ",
    "rules.digests.{}": "one rule's digest",
    "tactics": "per tactic in matrix order",
    "tactics[].tactic": "shortname, e.g. execution",
    "tactics[].tactic_id": "TA####",
    "tactics[].name": "display name",
    "tactics[].applicable": "active top-level techniques of the tactic on a platform in scope",
    "tactics[].covered": "of those, detected by a rule in scope",
    "techniques": "technique ID -> its state, for every applicable technique and sub-technique",
    "techniques.{}": "one technique's state",
    "techniques.{}.name": "the technique's name",
    "techniques.{}.detected": "a rule in scope carries it (a parent: or one of its sub-techniques)",
    "techniques.{}.rules": "those rules, sorted",
    "techniques.{}.observable": "none, partial or full by the sensors in scope; null without a detection model",
    "techniques.{}.fired": "alerts of its rules in the window; null when the run had no alerts",
    "findings": "check and lint findings in the user's own files (load errors included: check reports them)",
    "findings.by_code": "code -> severity -> count",
    "findings.by_code.{}": "severity -> count for one code",
    "findings.by_severity": "severity -> count (error, warning, info)",
    "load_errors": "load errors in the user's files (Falco would refuse to start with them)",
}


_COUNT = {"type": "integer", "minimum": 0}
_TEXT = {"type": "string"}
_TEXTS = {"type": "array", "items": _TEXT}
#: what a reader needs of a summary, as JSON Schema: every field the merge, the trend and the pages
#: read has its type checked here, so a hand-edited or hostile summary is refused with one line
SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema", "schema_version", "name", "generated", "tactics", "techniques", "rules"],
    "properties": {
        "name": _TEXT, "generated": _TEXT, "tool_version": _TEXT,
        "attack": {"type": "object", "properties": {"version": {"type": ["string", "null"]}, "domain": _TEXT,
                                                      "sha256": {"type": ["string", "null"]}}},
        "scope": {"type": "object", "properties": {"rules": _COUNT, "rules_total": _COUNT}},
        "rules": {"type": "object", "properties": {
            "files": _TEXTS, "fingerprint": {"type": ["string", "null"]},
            "digests": {"type": "object", "additionalProperties": _TEXT}}},
        "tactics": {"type": "array", "items": {
            "type": "object", "required": ["tactic", "name", "applicable", "covered"],
            "properties": {"tactic": _TEXT, "tactic_id": _TEXT, "name": _TEXT, "applicable": _COUNT,
                           "covered": _COUNT}}},
        "techniques": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["detected"],
            "properties": {"name": _TEXT, "detected": {"type": "boolean"}, "rules": _TEXTS,
                           "observable": {"type": ["string", "null"]},
                           "fired": {"anyOf": [_COUNT, {"type": "null"}]}}}},
        "findings": {"type": "object", "properties": {
            "by_code": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": _COUNT}},
            "by_severity": {"type": "object", "additionalProperties": _COUNT}}},
        "load_errors": _COUNT,
    },
}
#: a summary is well under a MB (rule digests dominate: ~60 KB for upstream's rules); a reader refuses more
MAX_SUMMARY_BYTES = 16 << 20


def rule_digests(ruleset: RuleSet) -> dict[str, str]:
    """Rule name -> SHA-256 of what Falco runs for it."""
    out = {}
    cols = ["name", "source", "enabled", "priority", "expanded_condition", "compiled_condition", "output", "tags"]
    for r in ruleset.rules[cols].itertuples(index=False):
        cond = r.expanded_condition if isinstance(r.expanded_condition, str) else r.compiled_condition
        body = [r.source, bool(r.enabled), str(r.priority), cond if isinstance(cond, str) else None,
                r.output if isinstance(r.output, str) else None, list(r.tags)]
        out[str(r.name)] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return dict(sorted(out.items()))


def build_summary(ruleset: RuleSet, attack: AttackData, cov: Coverage, findings: pd.DataFrame, *, name: str,
                  generated: str, rule_files: Iterable[str], observed: Observed | None = None) -> dict[str, Any]:
    """The summary of one run (see :data:`FIELDS`)."""
    from ...versions import PACKAGE_VERSION as __version__

    digests = rule_digests(ruleset)
    t = cov.techniques.drop_duplicates("technique_id").sort_values("technique_id")
    fired: dict[str, int] | None = None
    if observed is not None:
        fires = dict(zip(observed.rules["rule"], observed.rules["fires"]))
        fired = {tid: int(sum(fires.get(r, 0) for r in rules)) for tid, rules in zip(t["technique_id"], t["rules"])}
    techniques = {
        str(tid): {"name": str(nm), "detected": bool(cov_), "rules": sorted(map(str, rules)),
                   "observable": None if not cov.has_observability or obs is None or obs != obs else str(obs),
                   "fired": None if fired is None else fired[tid]}
        for tid, nm, cov_, rules, obs in zip(t["technique_id"], t["name"], t["covered"], t["rules"], t["observable"])}
    by_code: dict[str, dict[str, int]] = {}
    for code, sev in zip(findings["code"].astype(str), findings["severity"].astype(str)):
        by_code.setdefault(code, {}).setdefault(sev, 0)
        by_code[code][sev] += 1
    severities = findings["severity"].astype(str)
    sc = cov.scope
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "name": name, "generated": generated,
        "tool_version": __version__,
        "attack": {"version": attack.version, "domain": attack.domain, "sha256": attack.sha256},
        "scope": {"platforms": list(sc.platforms), "enabled_only": sc.enabled_only,
                  "maturities": list(sc.maturities) if sc.maturities else None, "min_priority": sc.min_priority,
                  "sources": list(sc.sources) if sc.sources else None, "sensors": list(sc.sensors),
                  "rules": sc.n_rules, "rules_total": sc.n_rules_total},
        "rules": {"files": list(rule_files),
                  "fingerprint": hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest(),
                  "digests": digests},
        "tactics": [{"tactic": str(r.tactic), "tactic_id": str(r.tactic_id), "name": str(r.name),
                     "applicable": int(r.applicable), "covered": int(r.covered)}
                    for r in cov.tactics.itertuples(index=False)],
        "techniques": techniques,
        "findings": {"by_code": dict(sorted(by_code.items())),
                     "by_severity": {s: int((severities == s).sum()) for s in ("error", "warning", "info")}},
        "load_errors": int(len(ruleset.own_errors)),
    }


def dumps(summary: dict[str, Any]) -> bytes:
    """The summary as canonical JSON: keys sorted, one item per line, a final newline."""
    return (json.dumps(summary, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def coverage_share(summary: dict[str, Any]) -> float:
    """Covered over applicable top-level techniques, summed over tactics the way the report counts them."""
    top = {tid: s for tid, s in summary["techniques"].items() if "." not in tid}
    return sum(s["detected"] for s in top.values()) / len(top) if top else 0.0


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[tuple[str, list[str]]]]:
    """Techniques gained and lost from ``before`` to ``after``, each with the rules responsible (the
    rules that detect it now, or that detected it before)."""
    b, a = before["techniques"], after["techniques"]
    gained = [(tid, a[tid].get("rules", [])) for tid in sorted(a)
              if a[tid]["detected"] and not b.get(tid, {}).get("detected")]
    lost = [(tid, b[tid].get("rules", [])) for tid in sorted(b)
            if b[tid]["detected"] and not a.get(tid, {}).get("detected")]
    return {"gained": gained, "lost": lost}


def read_summary(path: Path) -> dict[str, Any]:
    """One summary, checked against :data:`SUMMARY_SCHEMA` so no reader can trip on it; a one-line
    error naming the file otherwise (a device, a pipe or a file over the budget is not read)."""
    import orjson

    raw = read_regular(path, MAX_SUMMARY_BYTES, FalcoCoverageError)
    try:
        doc = orjson.loads(raw)
    except (MemoryError, SystemError):
        raise FalcoCoverageError("too large to read into memory as a summary", file=path) from None
    except orjson.JSONDecodeError as exc:
        raise FalcoCoverageError(f"not valid JSON ({getattr(exc, 'msg', exc)})", file=path,
                                 line=getattr(exc, "lineno", None)) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise FalcoCoverageError(f"not a falco-coverage summary (no \"schema\": \"{SCHEMA}\")", file=path)
    version = doc.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise FalcoCoverageError(f"summary schema version {version!r} is newer than this falco-coverage reads "
                                 f"({SCHEMA_VERSION}); upgrade falco-coverage", file=path)
    problem = _validator()(doc)
    if problem is not None:
        raise FalcoCoverageError(f"not a usable summary: {problem}", file=path)
    return doc


@functools.cache
def _validator() -> Callable[[Any], str | None]:
    """:data:`SUMMARY_SCHEMA` compiled once per process: the problem of a document, or None."""
    import fastjsonschema

    check = fastjsonschema.compile(SUMMARY_SCHEMA)

    def validate(doc: Any) -> str | None:
        try:
            check(doc)
        except fastjsonschema.JsonSchemaValueException as exc:
            where = ".".join(str(p) for p in exc.path[1:]) or "the document"
            return f"{where} {exc.message.split(' ', 1)[1] if exc.message.startswith('data') else exc.message}"
        return None

    return validate


def record_history(directory: Path, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Keep ``summary`` in ``directory`` (one file per run, ``<name>--<time>.json``); every run of its
    name kept there, oldest first (unreadable ones are left out with a warning)."""
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in summary["name"])
    try:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = summary["generated"].replace(":", "").replace("-", "")
        names = (directory / (f"{stem}--{stamp}.json" if n == 1 else f"{stem}--{stamp}-{n}.json")
                 for n in itertools.count(1))
        create_new(names, dumps(summary))  # never over another run's entry, even one written this instant
    except OSError as exc:
        raise FalcoCoverageError(f"cannot write the run history: {exc.strerror or exc}", file=directory) from None
    runs = []
    for path in sorted(directory.glob(f"{stem}--*.json")):
        try:
            doc = read_summary(path)
        except FalcoCoverageError as exc:
            print(f"falco-coverage: warning: {exc} (left out of the trend)", file=sys.stderr)
            continue
        if doc["name"] == summary["name"]:
            runs.append(doc)
    return sorted(runs, key=lambda d: d["generated"])
