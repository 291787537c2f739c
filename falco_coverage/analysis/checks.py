"""ATT&CK tag checks on resolved Falco rules: one small function per finding code.

``check(ruleset, attack)`` returns the findings table (columns in :mod:`falco_coverage.columns`).
Each check compares sets, never counts: a technique is right under a tactic when that tactic is
among the technique's kill-chain phases in the ATT&CK release used. The codes, severities and
summaries are declared in :mod:`falco_coverage.codes`; the functions attach to that registry.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..attack import AttackData
from ..codes import REGISTRY
from ..config import CheckConfig, load_config
from ..findings import Finding, findings_frame
from ..rules import RuleSet
from ..rules.tags import tactic_tag
from .tag_index import AttackIndex, RuleTags, join_words, rule_tags


@dataclass
class TagContext:
    """What every tag check may consult besides the rule: the release, and what each source observes."""

    idx: AttackIndex
    source_platforms: dict[str, list[str]]


@REGISTRY.check("malformed-tag")
def _malformed(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    for e in rt.entries:
        if e.parsed and e.parsed.malformed:
            yield rt.finding("malformed-tag", f"'{e.tag}' is not how Falco rules write ATT&CK references; "
                             f"the canonical tag is '{e.parsed.canonical}'", e, suggestion=e.parsed.canonical,
                             technique_id=e.parsed.value if e.parsed.kind == "technique" else None)


@REGISTRY.check("unknown-technique")
def _unknown_technique(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    for tid, e in rt.techniques.items():
        if tid in idx.tech:
            continue
        parent = tid.split(".")[0]
        hint = f"; its parent {idx.label(parent)} exists" if "." in tid and parent in idx.tech else ""
        yield rt.finding("unknown-technique", f"{tid} is not a technique in {idx.release()}{hint}", e,
                         technique_id=tid)


@REGISTRY.check("revoked-technique")
def _revoked(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    for tid, e in rt.techniques.items():
        row = idx.tech.get(tid)
        if row and row["revoked"]:
            new = row["replaced_by"] if isinstance(row["replaced_by"], str) else None
            tail = f" and replaced by {idx.label(new)}" if new else " with no replacement"
            yield rt.finding("revoked-technique", f"{idx.label(tid)} was revoked in {idx.release()}{tail}", e,
                             technique_id=tid, suggestion=new)


@REGISTRY.check("deprecated-technique")
def _deprecated(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
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


@REGISTRY.check("unknown-tactic")
def _unknown_tactic(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
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


@REGISTRY.check("tactic-mismatch")
def _tactic_mismatch(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
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


@REGISTRY.check("missing-tactic")
def _missing_tactic(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    if rt.tactics:
        return
    for tid in rt.active:
        wanted = idx.tech[tid]["tactics"]
        only = tactic_tag(wanted[0]) if len(wanted) == 1 else None
        yield rt.finding("missing-tactic", f"{idx.label(tid)} is tagged but the rule has no valid tactic tag; "
                         f"add {' or '.join(tactic_tag(w) for w in wanted)}", rt.techniques[tid],
                         technique_id=tid, tactic=wanted[0] if only else None, suggestion=only)


@REGISTRY.check("unsupported-tactic")
def _unsupported_tactic(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    if not rt.active:
        return
    covered = {t for tid in rt.active for t in idx.tech[tid]["tactics"]}
    for short, entries in rt.tactics.items():
        if short in covered:
            continue
        for e in entries:
            yield rt.finding("unsupported-tactic", f"'{e.tag}' ({idx.tactic_name[short]}) is backed by none of "
                             f"the rule's techniques ({join_words([idx.label(t) for t in rt.active])}); tag a "
                             f"technique of {idx.tactic_name[short]} or remove the tag", e, tactic=short)


@REGISTRY.check("tactic-id-mismatch")
def _tactic_id_mismatch(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
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


@REGISTRY.check("platform-mismatch")
def _platform_mismatch(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    seen = ctx.source_platforms.get(rt.source)
    if not seen:
        return
    lowered = {p.casefold() for p in seen}
    for tid in rt.active:
        platforms = idx.tech[tid]["platforms"]
        if not any(p.casefold() in lowered for p in platforms):
            yield rt.finding("platform-mismatch", f"{idx.label(tid)} applies to {join_words(list(platforms))}; a "
                             f"{rt.source} rule observes {join_words(list(seen))}", rt.techniques[tid], technique_id=tid)


_MENTION = re.compile(r"(?<![A-Za-z0-9])T\d{4}(?:\.\d{3})?(?![0-9])")


@REGISTRY.check("untagged-technique-mention")
def _untagged_mention(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    for tid in dict.fromkeys(_MENTION.findall(f"{rt.name}\n{rt.desc}")):
        if tid not in rt.techniques:
            known = f" ({idx.tech[tid]['name']})" if tid in idx.tech else ""
            yield rt.finding("untagged-technique-mention", f"the rule's name or description mentions "
                             f"{tid}{known}, which is not among its tags", tag=None, technique_id=tid,
                             suggestion=tid)


@REGISTRY.check("partial-tactics")
def _partial_tactics(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    for tid in rt.active:
        wanted = idx.tech[tid]["tactics"]
        have = set(wanted) & rt.tactics.keys()
        missing = [w for w in wanted if w not in have]
        if have and missing:
            yield rt.finding("partial-tactics", f"{idx.label(tid)} also belongs to {idx.names(missing)}, "
                             "which the rule does not tag", rt.techniques[tid], technique_id=tid,
                             suggestion=", ".join(tactic_tag(m) for m in missing))


@REGISTRY.check("tactic-only")
def _tactic_only(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    has_tactic = any(e.parsed and e.parsed.kind != "technique" for e in rt.entries)
    if has_tactic and not rt.techniques:
        yield rt.finding("tactic-only", "the rule has tactic tags but no technique tag; add the technique it "
                         "detects (T####)", tag=None)


@REGISTRY.check("redundant-parent")
def _redundant_parent(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    idx = ctx.idx
    for tid in rt.techniques:
        parent = tid.split(".")[0]
        if "." in tid and parent in rt.techniques:
            yield rt.finding("redundant-parent", f"{idx.label(parent)} is the parent of {idx.label(tid)}, which "
                             "is also tagged; the sub-technique alone is more precise", rt.techniques[parent],
                             technique_id=parent)


@REGISTRY.check("no-mitre-tags")
def _no_mitre(rt: RuleTags, ctx: TagContext) -> Iterator[Finding]:
    if not any(e.parsed for e in rt.entries):
        yield rt.finding("no-mitre-tags", "the rule has no ATT&CK tag", tag=None)


# --- running them ----------------------------------------------------------------------------------

def check(ruleset: RuleSet, attack: AttackData, *, config: CheckConfig | str | Path | None = None) -> pd.DataFrame:
    """Check the ATT&CK tags of every resolved rule (disabled ones included); one row per finding."""
    cfg = config if isinstance(config, CheckConfig) else load_config(config)
    idx = AttackIndex(attack)
    subjects = (rule_tags(row, idx) for row in ruleset.rules.to_dict("records"))
    found = REGISTRY.run("tag", subjects, TagContext(idx, cfg.source_platforms), cfg)
    df = findings_frame(found, REGISTRY.codes("tag"))
    return df.sort_values(["file", "line", "severity", "code"], kind="stable", ignore_index=True)
