"""ATT&CK tag checks on resolved Falco rules: one registry, one small function per finding code.

``check(ruleset, attack)`` returns the findings table (columns in :mod:`falco_coverage.columns`).
Each check compares sets, never counts: a technique is right under a tactic when that tactic is
among the technique's kill-chain phases in the ATT&CK release used.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .columns import columns
from .config import CheckConfig
from .tags import AttackTag, parse_attack_tag, tactic_tag

if TYPE_CHECKING:
    from .attack import AttackData
    from .rules import RuleSet

SEVERITY_ORDER = ["error", "warning", "info"]


@dataclass(frozen=True)
class CheckSpec:
    """A finding type: stable code, default severity, one-line description, auto-fixable or not."""

    code: str
    severity: str
    summary: str
    fixable: bool
    func: Callable[[RuleTags, AttackIndex, CheckConfig], Iterator[Finding]]


CHECKS: dict[str, CheckSpec] = {}


def register(code: str, severity: str, summary: str, fixable: bool = False):
    def deco(func: Callable[[RuleTags, AttackIndex, CheckConfig], Iterator[Finding]]):
        CHECKS[code] = CheckSpec(code, severity, summary, fixable, func)
        return func
    return deco


@dataclass
class Finding:
    """One finding. ``severity`` is filled from the registry and the configuration."""

    rule: str
    code: str
    message: str
    tag: str | None = None
    technique_id: str | None = None
    tactic: str | None = None
    suggestion: str | None = None
    file: str | None = None
    line: int | None = None
    severity: str = ""
    enabled: bool = True
    column: int | None = None


@dataclass
class TagEntry:
    tag: str
    file: str
    line: int
    parsed: AttackTag | None


@dataclass
class RuleTags:
    """What one resolved rule says about ATT&CK, ready for the checks."""

    name: str
    desc: str
    source: str
    enabled: bool
    file: str
    line: int
    entries: list[TagEntry]
    #: known tactic shortname -> the entries naming it (mitre_* and TA#### forms, canonicalised)
    tactics: dict[str, list[TagEntry]] = field(default_factory=dict)
    #: canonical technique ID -> the entry naming it
    techniques: dict[str, TagEntry] = field(default_factory=dict)
    #: active (neither revoked nor deprecated) tagged techniques
    active: list[str] = field(default_factory=list)

    def finding(self, code: str, message: str, entry: TagEntry | None = None, **kw: Any) -> Finding:
        where = (entry.file, entry.line) if entry else (self.file, self.line)
        return Finding(self.name, code, message, tag=entry.tag if entry else kw.pop("tag", None),
                       file=where[0], line=where[1], enabled=self.enabled, **kw)


class AttackIndex:
    """Fast lookups over one ATT&CK release."""

    def __init__(self, attack: AttackData) -> None:
        self.version = attack.version
        self.domain = attack.domain
        self.tech: dict[str, dict[str, Any]] = {r["technique_id"]: r for r in attack.techniques.to_dict("records")}
        tac = attack.tactics
        self.tactic_order = list(tac["shortname"])
        self.tactic_name = dict(zip(tac["shortname"], tac["name"]))
        self.tactic_by_id = dict(zip(tac["tactic_id"], tac["shortname"]))
        self.tactic_id = dict(zip(tac["shortname"], tac["tactic_id"]))

    def label(self, tid: str) -> str:
        row = self.tech.get(tid)
        return f"{tid} ({row['name']})" if row else tid

    def names(self, shortnames: Any) -> str:
        ordered = sorted(shortnames, key=lambda s: self.tactic_order.index(s) if s in self.tactic_order else 99)
        return _join([self.tactic_name.get(s, s) for s in ordered])

    def active(self, tid: str) -> bool:
        row = self.tech.get(tid)
        return bool(row) and not row["revoked"] and not row["deprecated"]

    def release(self) -> str:
        return f"ATT&CK {self.version}" if self.version else "this ATT&CK release"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def split_location(src: str, default_file: str, default_line: int) -> tuple[str, int]:
    """``'path:line'`` -> ``(path, line)``; the defaults when ``src`` carries no line."""
    path, _, line = src.rpartition(":")
    return (path, int(line)) if line.isdigit() else (default_file, default_line)


def rule_tags(row: dict[str, Any], idx: AttackIndex) -> RuleTags:
    entries = []
    for tag, src in zip(row["tags"], row["tag_sources"]):
        f, ln = split_location(src, row["file"], row["line"])
        entries.append(TagEntry(tag, f, ln, parse_attack_tag(tag)))
    rt = RuleTags(row["name"], row["desc"] or "", row["source"], bool(row["enabled"]), row["file"],
                  int(row["line"]), entries)
    for e in entries:
        p = e.parsed
        if p is None:
            continue
        if p.kind == "technique":
            rt.techniques.setdefault(p.value, e)
        else:
            short = p.value if p.kind == "tactic" else idx.tactic_by_id.get(p.value)
            if short in idx.tactic_name:
                rt.tactics.setdefault(short, []).append(e)
    rt.active = [t for t in rt.techniques if idx.active(t)]
    return rt


# --- the checks ----------------------------------------------------------------------------------

@register("malformed-tag", "warning", "ATT&CK reference written in a non-canonical form", fixable=True)
def _malformed(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    for e in rt.entries:
        if e.parsed and e.parsed.malformed:
            yield rt.finding("malformed-tag", f"'{e.tag}' is not how Falco rules write ATT&CK references; "
                             f"the canonical tag is '{e.parsed.canonical}'", e, suggestion=e.parsed.canonical,
                             technique_id=e.parsed.value if e.parsed.kind == "technique" else None)


@register("unknown-technique", "error", "technique tag that the ATT&CK release does not have")
def _unknown_technique(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    for tid, e in rt.techniques.items():
        if tid in idx.tech:
            continue
        parent = tid.split(".")[0]
        hint = f"; its parent {idx.label(parent)} exists" if "." in tid and parent in idx.tech else ""
        yield rt.finding("unknown-technique", f"{tid} is not a technique in {idx.release()}{hint}", e,
                         technique_id=tid)


@register("revoked-technique", "error", "revoked technique; use the technique that replaced it", fixable=True)
def _revoked(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    for tid, e in rt.techniques.items():
        row = idx.tech.get(tid)
        if row and row["revoked"]:
            new = row["replaced_by"] if isinstance(row["replaced_by"], str) else None
            tail = f" and replaced by {idx.label(new)}" if new else " with no replacement"
            yield rt.finding("revoked-technique", f"{idx.label(tid)} was revoked in {idx.release()}{tail}", e,
                             technique_id=tid, suggestion=new)


@register("deprecated-technique", "error", "deprecated technique")
def _deprecated(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    for tid, e in rt.techniques.items():
        row = idx.tech.get(tid)
        if row and row["deprecated"] and not row["revoked"]:
            yield rt.finding("deprecated-technique", f"{idx.label(tid)} is deprecated in {idx.release()}; "
                             "choose a current technique", e, technique_id=tid)


_SYNONYMS = {"privesc": "privilege-escalation", "c2": "command-and-control", "cnc": "command-and-control",
             "exfil": "exfiltration", "recon": "reconnaissance", "lateral": "lateral-movement",
             "evasion": "defense-evasion", "creds": "credential-access", "credentials": "credential-access",
             "initial": "initial-access", "resource": "resource-development"}


def nearest_tactic(value: str, idx: AttackIndex) -> str | None:
    """The tactic a misspelt shortname most likely means, when one stands out."""
    if value in _SYNONYMS:
        return _SYNONYMS[value]
    close = difflib.get_close_matches(value, idx.tactic_order, n=2, cutoff=0.75)
    if len(close) == 1:
        return close[0]
    if len(close) == 2:
        a, b = (difflib.SequenceMatcher(None, value, c).ratio() for c in close)
        return close[0] if a - b > 0.1 else None
    return None


@register("unknown-tactic", "error", "mitre_* or TA#### tag naming no ATT&CK tactic", fixable=True)
def _unknown_tactic(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    for e in rt.entries:
        p = e.parsed
        if p is None or p.kind == "technique":
            continue
        if p.kind == "tactic" and p.value not in idx.tactic_name:
            near = nearest_tactic(p.value, idx)
            hint = f"; did you mean {tactic_tag(near)} ({idx.tactic_name[near]})?" if near else ""
            yield rt.finding("unknown-tactic", f"'{p.canonical}' names no tactic of {idx.release()}{hint}", e,
                             suggestion=tactic_tag(near) if near else None, tactic=None)
        elif p.kind == "tactic_id" and p.value not in idx.tactic_by_id:
            yield rt.finding("unknown-tactic", f"{p.value} is not a tactic ID of {idx.release()}", e)


@register("tactic-mismatch", "error", "the rule's tactic tags include none of the technique's tactics",
          fixable=True)
def _tactic_mismatch(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    if not rt.tactics:
        return
    for tid in rt.active:
        wanted = idx.tech[tid]["tactics"]
        if set(wanted) & rt.tactics.keys():
            continue
        only = tactic_tag(wanted[0]) if len(wanted) == 1 else None
        yield rt.finding(
            "tactic-mismatch",
            f"{idx.label(tid)} belongs to {idx.names(wanted)}, but the rule's tactic tags name "
            f"{idx.names(rt.tactics)}; tag {' or '.join(tactic_tag(w) for w in wanted)}, or pick a technique of "
            f"the tagged tactic", rt.techniques[tid], technique_id=tid, tactic=wanted[0] if only else None,
            suggestion=only)


@register("missing-tactic", "warning", "a technique is tagged but no valid tactic tag", fixable=True)
def _missing_tactic(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    if rt.tactics:
        return
    for tid in rt.active:
        wanted = idx.tech[tid]["tactics"]
        only = tactic_tag(wanted[0]) if len(wanted) == 1 else None
        yield rt.finding("missing-tactic", f"{idx.label(tid)} is tagged but the rule has no valid tactic tag; "
                         f"add {' or '.join(tactic_tag(w) for w in wanted)}", rt.techniques[tid],
                         technique_id=tid, tactic=wanted[0] if only else None, suggestion=only)


@register("unsupported-tactic", "warning", "tactic tag that none of the rule's techniques belongs to")
def _unsupported_tactic(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    if not rt.active:
        return
    covered = {t for tid in rt.active for t in idx.tech[tid]["tactics"]}
    for short, entries in rt.tactics.items():
        if short in covered:
            continue
        for e in entries:
            yield rt.finding("unsupported-tactic", f"'{e.tag}' ({idx.tactic_name[short]}) is backed by none of "
                             f"the rule's techniques ({_join([idx.label(t) for t in rt.active])}); tag a "
                             f"technique of {idx.tactic_name[short]} or remove the tag", e, tactic=short)


@register("tactic-id-mismatch", "warning", "TA#### and mitre_* tags name different tactics")
def _tactic_id_mismatch(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    by_id = {s for s, es in rt.tactics.items() if any(e.parsed and e.parsed.kind == "tactic_id" for e in es)}
    by_name = {s for s, es in rt.tactics.items() if any(e.parsed and e.parsed.kind == "tactic" for e in es)}
    if not by_id or not by_name:
        return
    unmatched_names = sorted(by_name - by_id, key=idx.tactic_order.index)
    for short in sorted(by_id - by_name, key=idx.tactic_order.index):
        for e in rt.tactics[short]:
            if e.parsed and e.parsed.kind == "tactic_id":
                fix = idx.tactic_id[unmatched_names[0]] if len(unmatched_names) == 1 else None
                yield rt.finding(
                    "tactic-id-mismatch",
                    f"{e.parsed.value} is {idx.tactic_name[short]}, but the rule's mitre_* tags name "
                    f"{idx.names(by_name)}" + (f"; {idx.tactic_name[unmatched_names[0]]} is {fix}" if fix else ""),
                    e, tactic=short, suggestion=fix)


@register("platform-mismatch", "warning", "technique for platforms the rule's source cannot observe")
def _platform_mismatch(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    seen = cfg.source_platforms.get(rt.source)
    if not seen:
        return
    lowered = {p.casefold() for p in seen}
    for tid in rt.active:
        platforms = idx.tech[tid]["platforms"]
        if not any(p.casefold() in lowered for p in platforms):
            yield rt.finding("platform-mismatch", f"{idx.label(tid)} applies to {_join(list(platforms))}; a "
                             f"{rt.source} rule observes {_join(list(seen))}", rt.techniques[tid], technique_id=tid)


_MENTION = re.compile(r"(?<![A-Za-z0-9])T\d{4}(?:\.\d{3})?(?![0-9])")


@register("untagged-technique-mention", "warning", "the rule's name or desc names a technique it is not tagged with")
def _untagged_mention(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    for tid in dict.fromkeys(_MENTION.findall(f"{rt.name}\n{rt.desc}")):
        if tid not in rt.techniques:
            known = f" ({idx.tech[tid]['name']})" if tid in idx.tech else ""
            yield rt.finding("untagged-technique-mention", f"the rule's name or description mentions "
                             f"{tid}{known}, which is not among its tags", tag=None, technique_id=tid,
                             suggestion=tid)


@register("partial-tactics", "info", "some but not all tactics of a technique are tagged")
def _partial_tactics(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    for tid in rt.active:
        wanted = idx.tech[tid]["tactics"]
        have = set(wanted) & rt.tactics.keys()
        missing = [w for w in wanted if w not in have]
        if have and missing:
            yield rt.finding("partial-tactics", f"{idx.label(tid)} also belongs to {idx.names(missing)}, "
                             "which the rule does not tag", rt.techniques[tid], technique_id=tid,
                             suggestion=", ".join(tactic_tag(m) for m in missing))


@register("tactic-only", "info", "tactic tags but no technique tag")
def _tactic_only(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    has_tactic = any(e.parsed and e.parsed.kind != "technique" for e in rt.entries)
    if has_tactic and not rt.techniques:
        yield rt.finding("tactic-only", "the rule has tactic tags but no technique tag; add the technique it "
                         "detects (T####)", tag=None)


@register("redundant-parent", "info", "a sub-technique and its parent are both tagged")
def _redundant_parent(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    for tid in rt.techniques:
        parent = tid.split(".")[0]
        if "." in tid and parent in rt.techniques:
            yield rt.finding("redundant-parent", f"{idx.label(parent)} is the parent of {idx.label(tid)}, which "
                             "is also tagged; the sub-technique alone is more precise", rt.techniques[parent],
                             technique_id=parent)


@register("no-mitre-tags", "info", "no ATT&CK tag at all")
def _no_mitre(rt: RuleTags, idx: AttackIndex, cfg: CheckConfig) -> Iterator[Finding]:
    if not any(e.parsed for e in rt.entries):
        yield rt.finding("no-mitre-tags", "the rule has no ATT&CK tag", tag=None)


# --- running them ----------------------------------------------------------------------------------

def findings_frame(findings: list[Finding], registry: dict[str, CheckSpec] | None = None) -> pd.DataFrame:
    """The findings table (columns in :mod:`falco_coverage.columns`), codes categorical over ``registry``."""
    df = pd.DataFrame([f.__dict__ for f in findings], columns=list(Finding.__dataclass_fields__))
    df = df[columns("findings")]
    df["severity"] = pd.Categorical(df["severity"], categories=SEVERITY_ORDER, ordered=True)
    df["code"] = pd.Categorical(df["code"], categories=list(registry or CHECKS))
    df["line"] = df["line"].astype("Int64")
    df["column"] = df["column"].astype("Int64")
    return df


def known_codes() -> set[str]:
    """Every finding code a configuration may name: the tag checks and the lint checks."""
    from .lint import LINTS

    return set(CHECKS) | set(LINTS)


def check(ruleset: RuleSet, attack: AttackData, *, config: CheckConfig | str | Path | None = None) -> pd.DataFrame:
    """Check the ATT&CK tags of every resolved rule (disabled ones included); one row per finding."""
    from .config import load_config

    cfg = config if isinstance(config, CheckConfig) else load_config(config, known_codes())
    idx = AttackIndex(attack)
    findings: list[Finding] = []
    specs = [s for s in CHECKS.values() if cfg.enabled(s.code)]
    for row in ruleset.rules.to_dict("records"):
        rt = rule_tags(row, idx)
        for spec in specs:
            if cfg.excluded(spec.code, rt.name):
                continue
            for f in spec.func(rt, idx, cfg):
                f.severity = cfg.severity.get(spec.code, spec.severity)
                findings.append(f)
    df = findings_frame(findings)
    return df.sort_values(["file", "line", "severity", "code"], kind="stable", ignore_index=True)


def overview(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings counted per code (rows, registry order) and severity (columns), with a total."""
    table = pd.crosstab(findings["code"], findings["severity"], dropna=False)
    present = set(findings["code"].astype(str))
    table = table.reindex(index=[c for c in findings["code"].cat.categories if c in present],
                          columns=SEVERITY_ORDER, fill_value=0)
    table["total"] = table.sum(axis=1)
    table.index.name, table.columns.name = "code", None
    return table
